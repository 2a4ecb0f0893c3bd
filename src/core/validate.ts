/**
 * Validation and compilation of workflow definitions: `compileWorkflow` turns a definition (as a client
 * sent it) into the CompiledWorkflow the engine runs, or throws one ValidationError listing every problem;
 * `validateWorkflow` returns the problems without throwing.
 *
 * Checked: the definition's shape (definition.ts), `depends_on` names (with the closest known name
 * suggested), self-dependencies and cycles (the cycle printed), expressions (syntax with position, names,
 * limits), expressions that read tasks which do not run before (the fix: add the task to `depends_on`),
 * `item`/`item_index` outside `for_each`, environment variables off the allow-list, components and actions
 * (when asked), retry policies, and the input schema. Linear in tasks plus dependencies.
 */
import type {
  CompiledCondition,
  CompiledTask,
  CompiledValue,
  CompiledWorkflow,
  RetryPolicy,
} from './compiled-workflow.ts'
import type { ComponentResolver } from './component.ts'
import { normalizeDefinition } from './definition.ts'
import { ValidationError, type ValidationIssue } from './errors.ts'
import {
  EXPRESSION_ROOTS,
  analyzeCondition,
  analyzeValue,
  type ExpressionReferences,
  type ExpressionRoot,
} from './expressions.ts'
import { ancestorsChecker, buildTaskGraph, formatCycle, upstreamChecker } from './graph.ts'
import { compileInputValidator } from './input-schema.ts'
import type { JsonValue, RetryPolicySpec, TaskDefinition, WorkflowDefinition } from './model.ts'
import { DEFAULT_RETRY_POLICY, checkRetryPolicy } from './retry-policy.ts'

export interface CompileWorkflowOptions {
  /** Used to check components and actions when `unknownComponents` is 'error'. */
  components?: ComponentResolver
  /** 'error' reports tasks whose component or action the resolver does not know; default 'ignore'. */
  unknownComponents?: 'error' | 'actions' | 'ignore'
  /** When given, expressions may read only these environment variables. */
  envAllowList?: readonly string[]
  defaults?: {
    /** For tasks without `retry`. */
    retry?: RetryPolicySpec | number
    /** For tasks without `timeout`. */
    taskTimeoutSeconds?: number
    /** Items of a `for_each` run at once, for tasks without `concurrency`. */
    forEachConcurrency?: number
  }
}

export const DEFAULT_FOR_EACH_CONCURRENCY = 100
/** A definition with more problems than this reports the first ones and how many more there are. */
export const MAX_REPORTED_ISSUES = 1000
const MAX_LISTED_NAMES = 20
const MAX_SUGGESTIONS = 50

const ROOTS_WITHOUT_ITEM: readonly ExpressionRoot[] = EXPRESSION_ROOTS.filter(
  (root) => root !== 'item' && root !== 'item_index',
)

/** Compiles a definition; throws ValidationError (`workflow 'x' is invalid: ...`) listing every problem. */
export function compileWorkflow(definition: unknown, options: CompileWorkflowOptions = {}): CompiledWorkflow {
  const result = analyzeWorkflow(definition, options)
  if (result.compiled === undefined) {
    const name = result.definition.name
    const label =
      typeof name === 'string' && name.trim() !== '' ? `workflow '${name}'` : 'workflow definition'
    throw new ValidationError(`${label} is invalid`, result.issues)
  }
  return result.compiled
}

/** Every problem of a definition; empty when it compiles. Never throws. */
export function validateWorkflow(
  definition: unknown,
  options: CompileWorkflowOptions = {},
): ValidationIssue[] {
  return analyzeWorkflow(definition, options).issues
}

interface PendingReference {
  task: string
  field: string
}

function analyzeWorkflow(
  raw: unknown,
  options: CompileWorkflowOptions,
): { definition: WorkflowDefinition; issues: ValidationIssue[]; compiled?: CompiledWorkflow } {
  const { definition, issues } = normalizeDefinition(raw)
  const tasks = definition.tasks
  const names = Object.keys(tasks)
  const known = new Set(names)
  const suggester = new NameSuggester(names)

  // Dependencies and the graph.
  const dependsOn = new Map<string, string[]>()
  for (const name of names) {
    const deps: string[] = []
    const given = tasks[name]!.depends_on
    if (Array.isArray(given)) {
      given.forEach((dep, index) => {
        if (typeof dep !== 'string') return
        if (dep === name) {
          issues.push({
            task: name,
            field: `depends_on[${index}]`,
            message: 'a task cannot depend on itself',
          })
        } else if (!known.has(dep)) {
          issues.push({
            task: name,
            field: `depends_on[${index}]`,
            message: `unknown task '${dep}'; ${suggester.explain(dep)}`,
          })
        } else if (!deps.includes(dep)) {
          deps.push(dep)
        }
      })
    }
    dependsOn.set(name, deps)
  }
  const graph = buildTaskGraph(dependsOn)
  if (graph.cycle !== undefined) {
    issues.push({
      task: graph.cycle[0]!,
      field: 'depends_on',
      message: `tasks depend on each other in a cycle: ${formatCycle(graph.cycle)} (each depends on the next)`,
    })
  }

  // Defaults.
  const defaults = options.defaults ?? {}
  const defaultRetry = checkRetryPolicy(defaults.retry, DEFAULT_RETRY_POLICY, {
    field: 'default retry policy',
  })
  issues.push(...defaultRetry.issues)
  const defaultConcurrency = defaults.forEachConcurrency ?? DEFAULT_FOR_EACH_CONCURRENCY
  const envAllowed = options.envAllowList === undefined ? undefined : new Set(options.envAllowList)
  const checkComponents =
    (options.unknownComponents === 'error' || options.unknownComponents === 'actions') &&
    options.components !== undefined

  // Tasks.
  const compiledTasks = new Map<string, CompiledTask>()
  const pending = new Map<string, PendingReference[]>()
  for (const name of names) {
    const task = tasks[name]!
    const directDeps = new Set(dependsOn.get(name))
    const hasForEach = task.for_each !== undefined
    const collect = <T>(analysis: {
      compiled: T
      issues: ValidationIssue[]
      references: ExpressionReferences
    }) => {
      issues.push(...analysis.issues)
      checkEnv(analysis.references, envAllowed, issues, name)
      for (const reference of analysis.references.tasks) {
        const target = reference.name
        if (!known.has(target)) {
          issues.push({
            task: name,
            field: reference.field,
            message: `refers to unknown task '${target}'; ${suggester.explain(target)}`,
          })
        } else if (target === name) {
          issues.push({
            task: name,
            field: reference.field,
            message: `refers to task '${name}' itself; a task can read only tasks that run before it`,
          })
        } else if (!directDeps.has(target)) {
          let list = pending.get(target)
          if (list === undefined) pending.set(target, (list = []))
          list.push({ task: name, field: reference.field })
        }
      }
      return analysis.compiled
    }

    // A `workflow.run` task's inline child definition is data for the child: its expressions belong to the
    // child and are validated as the child's, not evaluated in the parent.
    const childDefinition = inlineChildDefinition(task)
    if (childDefinition !== undefined) {
      for (const issue of validateWorkflow(childDefinition, options)) {
        issues.push({
          task: name,
          field: `input.workflow${issue.task === undefined ? '' : `.tasks.${issue.task}`}${issue.field === undefined ? '' : `.${issue.field}`}`,
          message: issue.message,
        })
      }
    }
    const analyzedInput = analyzeValue(
      task.input === undefined
        ? {}
        : childDefinition === undefined
          ? task.input
          : { ...(task.input as Record<string, JsonValue>), workflow: null },
      { task: name, field: 'input' },
      {
        allowedRoots: hasForEach ? EXPRESSION_ROOTS : ROOTS_WITHOUT_ITEM,
      },
    )
    const input = withLiteralField(collect(analyzedInput), 'workflow', childDefinition)
    let when: CompiledCondition | undefined
    if (typeof task.when === 'string') {
      when = collect(
        analyzeCondition(task.when, { task: name, field: 'when' }, { allowedRoots: ROOTS_WITHOUT_ITEM }),
      )
    }
    let forEach: CompiledValue | undefined
    if (typeof task.for_each === 'string' || Array.isArray(task.for_each)) {
      const analysis = analyzeValue(
        task.for_each as JsonValue,
        { task: name, field: 'for_each' },
        { allowedRoots: ROOTS_WITHOUT_ITEM },
      )
      forEach = collect(analysis)
      if (typeof task.for_each === 'string' && forEach.constant && analysis.issues.length === 0) {
        issues.push({
          task: name,
          field: 'for_each',
          message:
            'expected a list or an expression giving a list (like ${workflow.input.items}), got plain text',
        })
      }
    }
    const retry = checkRetryPolicy(task.retry, defaultRetry.policy, { task: name })
    issues.push(...retry.issues)
    if (checkComponents)
      checkComponent(task, options.components!, issues, options.unknownComponents === 'actions')

    compiledTasks.set(
      name,
      compileTask(task, definition, {
        dependsOn: dependsOn.get(name)!,
        dependents: graph.dependents.get(name)!,
        input,
        when,
        forEach,
        retry: retry.policy,
        defaultTimeoutSeconds: defaults.taskTimeoutSeconds,
        defaultConcurrency,
      }),
    )
  }

  // References to tasks that are not direct dependencies must still be upstream. With a cycle (already
  // reported) there is no order to use, so each referring task's ancestors are walked instead: the cycle
  // does not hide the other problems of the definition.
  {
    const reaches = graph.cycle === undefined ? upstreamChecker(graph) : ancestorsChecker(dependsOn)
    for (const [target, references] of pending) {
      const reached = reaches(
        target,
        references.map((reference) => reference.task),
      )
      for (const reference of references) {
        if (reached.has(reference.task)) continue
        issues.push({
          task: reference.task,
          field: reference.field,
          message: `refers to task '${target}', which is not upstream of '${reference.task}'; add '${target}' to depends_on`,
        })
      }
    }
  }

  // Workflow output.
  let output: CompiledValue | undefined
  if (
    definition.output !== undefined &&
    definition.output !== null &&
    typeof definition.output === 'object'
  ) {
    const analysis = analyzeValue(
      definition.output,
      { field: 'output' },
      { allowedRoots: ROOTS_WITHOUT_ITEM },
    )
    issues.push(...analysis.issues)
    checkEnv(analysis.references, envAllowed, issues, undefined)
    for (const reference of analysis.references.tasks) {
      if (known.has(reference.name)) continue
      issues.push({
        field: reference.field,
        message: `refers to unknown task '${reference.name}'; ${suggester.explain(reference.name)}`,
      })
    }
    output = analysis.compiled
  }

  // Input schema.
  const input = compileInputValidator(definition)
  issues.push(...input.issues)

  if (issues.length > 0) return { definition, issues: capIssues(issues) }
  const compiled: CompiledWorkflow = {
    definition,
    tasks: compiledTasks,
    order: graph.order,
    ...(output === undefined ? {} : { output }),
    prepareInput: (value) => input.validator.prepare(value),
  }
  return { definition, issues, compiled }
}

function compileTask(
  task: TaskDefinition,
  definition: WorkflowDefinition,
  parts: {
    dependsOn: readonly string[]
    dependents: readonly string[]
    input: CompiledValue
    when: CompiledCondition | undefined
    forEach: CompiledValue | undefined
    retry: RetryPolicy
    defaultTimeoutSeconds: number | undefined
    defaultConcurrency: number
  },
): CompiledTask {
  const timeoutSeconds = task.timeout ?? parts.defaultTimeoutSeconds
  return {
    name: task.name,
    definition: task,
    dependsOn: parts.dependsOn,
    dependents: parts.dependents,
    input: parts.input,
    ...(parts.when === undefined ? {} : { when: parts.when }),
    ...(parts.forEach === undefined ? {} : { forEach: parts.forEach }),
    concurrency: task.concurrency ?? parts.defaultConcurrency,
    retry: parts.retry,
    ...(timeoutSeconds === undefined ? {} : { timeoutMs: Math.max(1, Math.round(timeoutSeconds * 1000)) }),
    onFailure: task.on_failure ?? definition.on_failure ?? 'fail',
    triggerRule: task.trigger_rule ?? 'none_failed_min_one_success',
  }
}

function checkEnv(
  references: ExpressionReferences,
  allowed: ReadonlySet<string> | undefined,
  issues: ValidationIssue[],
  task: string | undefined,
): void {
  if (allowed === undefined) return
  for (const reference of references.env) {
    if (allowed.has(reference.name)) continue
    const list =
      allowed.size === 0 ? 'no variables are allowed' : `allowed: ${[...allowed].sort().join(', ')}`
    const message = `reads env.${reference.name}, which is not on the environment allow-list (${list})`
    issues.push(
      task === undefined ? { field: reference.field, message } : { task, field: reference.field, message },
    )
  }
}

/**
 * Checks the task's component and action against the registry. With `knownOnly`, a component that is not
 * registered passes (a remote one may register later); an action a registered component does not have
 * (and does not take through its fallback) is still an error.
 */
function checkComponent(
  task: TaskDefinition,
  components: ComponentResolver,
  issues: ValidationIssue[],
  knownOnly: boolean,
): void {
  if (typeof task.component !== 'string' || typeof task.action !== 'string') return
  const actions = components.actionsOf(task.component)
  if (actions === undefined) {
    if (!knownOnly)
      issues.push({ task: task.name, field: 'component', message: `unknown component '${task.component}'` })
  } else if (
    !actions.includes(task.action) &&
    components.resolve(task.component, task.action) === undefined
  ) {
    const available =
      actions.length === 0 ? 'it has no actions' : `available actions: ${[...actions].sort().join(', ')}`
    issues.push({
      task: task.name,
      field: 'action',
      message: `component '${task.component}' has no action '${task.action}'; ${available}`,
    })
  }
}

function capIssues(issues: ValidationIssue[]): ValidationIssue[] {
  if (issues.length <= MAX_REPORTED_ISSUES) return issues
  const shown = issues.slice(0, MAX_REPORTED_ISSUES)
  shown.push({ message: `and ${issues.length - MAX_REPORTED_ISSUES} more problems` })
  return shown
}

/** "known tasks: a, b; did you mean 'c'?" with the list cut short in large workflows. */
class NameSuggester {
  readonly #names: readonly string[]
  #suggestions = 0

  constructor(names: readonly string[]) {
    this.#names = names
  }

  explain(unknown: string): string {
    if (this.#names.length === 0) return 'the workflow has no tasks'
    const listed = this.#names.slice(0, MAX_LISTED_NAMES).join(', ')
    const more =
      this.#names.length > MAX_LISTED_NAMES ? ` and ${this.#names.length - MAX_LISTED_NAMES} more` : ''
    const closest = this.#closest(unknown)
    return `known tasks: ${listed}${more}${closest === undefined ? '' : `; did you mean '${closest}'?`}`
  }

  #closest(unknown: string): string | undefined {
    if (this.#suggestions++ >= MAX_SUGGESTIONS || unknown.length > 100) return undefined
    let best: string | undefined
    // Close enough to be a typo: a third of the letters at most, and never every letter.
    let bestDistance = Math.min(Math.max(1, Math.ceil(unknown.length / 3)), unknown.length - 1) + 1
    for (const name of this.#names) {
      if (Math.abs(name.length - unknown.length) >= bestDistance || name.length > 100) continue
      const distance = editDistance(unknown.toLowerCase(), name.toLowerCase(), bestDistance)
      if (distance < bestDistance) {
        best = name
        bestDistance = distance
      }
    }
    return best
  }
}

/** Levenshtein distance, giving up (returning `limit`) once it cannot be below `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
      current.push(value)
      rowMin = Math.min(rowMin, value)
    }
    if (rowMin >= limit) return limit
    previous = current
  }
  return previous[b.length]!
}

/** The inline child definition of a `workflow.run` task (`input.workflow` as an object), if any. */
function inlineChildDefinition(task: TaskDefinition): JsonValue | undefined {
  if (task.component !== 'workflow' || task.action !== 'run') return undefined
  const input = task.input
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return undefined
  const child = (input as Record<string, JsonValue>)['workflow']
  return child !== null && typeof child === 'object' && !Array.isArray(child) ? child : undefined
}

/** Puts a literal value back under `field` of an object-valued compiled input. */
function withLiteralField(
  value: CompiledValue,
  field: string,
  literal: JsonValue | undefined,
): CompiledValue {
  if (literal === undefined) return value
  return {
    constant: value.constant,
    evaluate(scope) {
      const result = value.evaluate(scope)
      return result !== null && typeof result === 'object' && !Array.isArray(result)
        ? { ...result, [field]: literal }
        : result
    },
  }
}
