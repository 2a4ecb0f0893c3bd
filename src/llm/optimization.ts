/**
 * Optimization suggestions for a workflow, by static analysis that needs no LLM:
 * - tasks chained by `depends_on` that never read the task they wait for (they could run in parallel);
 * - tasks calling remote services without a timeout or a retry policy;
 * - task outputs nobody reads;
 * - `for_each` fan-outs without a concurrency limit;
 * - the critical path, from the task durations of past executions.
 * Each finding names its tasks and, when the change is known, carries a JSON merge patch of the definition.
 * With an LLM configured, `narrateOptimizations` adds a short narrative that puts the findings in order.
 * Everything is linear in tasks plus dependencies (plus the task states of the past executions given).
 */
import type { ComponentDescriptor } from '../core/component.ts'
import { analyzeCondition, analyzeValue, type ExpressionReferences } from '../core/expressions.ts'
import { buildTaskGraph, upstreamChecker } from '../core/graph.ts'
import {
  TASK_ROW,
  type JsonObject,
  type JsonValue,
  type TaskDefinition,
  type TaskState,
  type WorkflowDefinition,
} from '../core/model.ts'
import { DEFAULT_FOR_EACH_CONCURRENCY } from '../core/validate.ts'
import { SUGGESTED_RETRY, taskPatch } from './failure-rules.ts'
import { combineMergePatches } from './merge-patch.ts'
import { LlmError, LlmFailure, type LlmProvider, type TokenUsage } from './provider.ts'
import { redactSecrets } from './redaction.ts'

export const FindingKind = {
  chained_without_data: 'chained_without_data',
  missing_timeout: 'missing_timeout',
  missing_retry: 'missing_retry',
  unused_output: 'unused_output',
  unbounded_fan_out: 'unbounded_fan_out',
  critical_path: 'critical_path',
} as const
export type FindingKind = (typeof FindingKind)[keyof typeof FindingKind]

export interface OptimizationFinding {
  kind: FindingKind
  severity: 'info' | 'warning'
  tasks: string[]
  message: string
  suggestion: string
  /** JSON merge patch (RFC 7386) of the definition, when the change is known. */
  patch: JsonObject | null
}

export interface TaskTiming {
  samples: number
  avg_ms: number
  max_ms: number
}

export interface CriticalPath {
  /** Tasks on the longest path, first to last. */
  tasks: string[]
  /** Sum of their average durations. */
  duration_ms: number
  executions_considered: number
  /** Average wall-clock time of the finished executions considered. */
  execution_avg_ms: number | null
  task_durations: Record<string, TaskTiming>
}

export interface OptimizationReport {
  workflow: string
  findings: OptimizationFinding[]
  /** Every finding's patch merged into one. */
  patch: JsonObject | null
  /** Null when no past execution has task timings. */
  critical_path: CriticalPath | null
  source: 'static' | 'static+llm'
  narrative?: string
  usage?: TokenUsage
  model?: string
  llm_error?: string
}

/** A past execution as the analysis needs it. */
export interface PastExecution {
  execution?: { status?: string; started_at?: string; completed_at?: string }
  tasks: readonly TaskState[]
}

export interface OptimizeOptions {
  /** The registry, to tell remote components from built-in ones. */
  components?: { describe(name: string): ComponentDescriptor | undefined }
  /** The engine's default timeout for tasks without one (config); when set, no task lacks a timeout. */
  defaultTaskTimeoutSeconds?: number
  /** The engine's default for_each concurrency (config). */
  forEachConcurrency?: number
}

/** Components whose actions are calls to other services even though they are built in. */
const NETWORK_COMPONENTS: ReadonlySet<string> = new Set(['http', 'mcp', 'llm'])
/** Built-in components with their own per-request timeout (input.timeout_ms), so the task needs none. */
const OWN_TIMEOUT_COMPONENTS: ReadonlySet<string> = new Set(['http'])
/** Actions whose output is meaningless or whose only purpose is order. */
const NO_OUTPUT_ACTIONS: ReadonlySet<string> = new Set(['core.log', 'core.delay', 'core.fail'])
const ORDER_ONLY_ACTIONS: ReadonlySet<string> = new Set(['core.delay'])
const SUGGESTED_CONCURRENCY = 10
const DEFAULT_SUGGESTED_TIMEOUT_SECONDS = 30

export function suggestOptimizations(
  workflow: WorkflowDefinition,
  pastExecutions: readonly PastExecution[] = [],
  options: OptimizeOptions = {},
): OptimizationReport {
  const tasks = workflow.tasks
  const names = Object.keys(tasks)
  const dependsOn = new Map<string, string[]>()
  for (const name of names)
    dependsOn.set(
      name,
      (tasks[name]!.depends_on ?? []).filter((dep) => dep in tasks),
    )
  const graph = buildTaskGraph(dependsOn)
  const reads = new Map<string, Set<string>>()
  let dynamicReads = false
  for (const name of names) {
    const references = taskReferences(tasks[name]!)
    reads.set(name, new Set(references.names))
    dynamicReads ||= references.dynamic
  }
  const outputReads =
    workflow.output === undefined
      ? undefined
      : referencesOf(analyzeValue(workflow.output, { field: 'output' }).references)
  dynamicReads ||= outputReads?.dynamic === true
  const timings = taskTimings(pastExecutions)

  const findings: OptimizationFinding[] = []
  if (graph.cycle === undefined)
    findings.push(...chainedWithoutData(tasks, dependsOn, reads, graph, dynamicReads))
  findings.push(...missingSafeguards(tasks, timings, options))
  if (!dynamicReads) findings.push(...unusedOutputs(workflow, reads, outputReads?.names, graph.dependents))
  findings.push(...unboundedFanOuts(tasks, options))
  const criticalPath =
    graph.cycle === undefined ? longestPath(graph.order, dependsOn, timings, pastExecutions) : null
  if (criticalPath !== null && criticalPath.tasks.length > 0) findings.push(criticalPathFinding(criticalPath))

  const patches = findings
    .map((finding) => finding.patch)
    .filter((patch): patch is JsonObject => patch !== null)
  return {
    workflow: workflow.name,
    findings,
    patch: patches.length === 0 ? null : combineMergePatches(patches),
    critical_path: criticalPath,
    source: 'static',
  }
}

/** Adds the model's narrative to a report; on an LLM failure the report says why there is none. */
export async function narrateOptimizations(
  report: OptimizationReport,
  workflow: WorkflowDefinition,
  provider: LlmProvider,
  options: { signal?: AbortSignal } = {},
): Promise<OptimizationReport> {
  try {
    const answer = await provider.chat({
      purpose: 'optimization',
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      messages: [
        {
          role: 'system',
          content:
            'You review workflows of Harmonia, a durable workflow orchestration engine. Given a workflow definition and the findings of a static analysis (with the critical path from past executions), write a short narrative (at most 8 sentences, plain text, no lists of JSON) that says which changes matter most for speed and reliability and why, and any risk of applying them (for example tasks chained on purpose for their side effects). Values shown as *** are redacted secrets.',
        },
        {
          role: 'user',
          content: `Workflow definition:\n${JSON.stringify(redactSecrets(workflow as unknown as JsonValue))}\n\nAnalysis:\n${JSON.stringify({ findings: report.findings, critical_path: report.critical_path })}`,
        },
      ],
    })
    return {
      ...report,
      source: 'static+llm',
      narrative: answer.content.trim(),
      usage: answer.usage,
      model: answer.model,
    }
  } catch (error) {
    if (!(error instanceof LlmError) || error.reason === LlmFailure.aborted) throw error
    return { ...report, llm_error: error.message }
  }
}

function taskReferences(task: TaskDefinition): { names: string[]; dynamic: boolean } {
  const where = { task: task.name }
  let input = task.input ?? {}
  // A workflow.run task's inline child definition holds the child's expressions, not this workflow's.
  if (
    task.component === 'workflow' &&
    input !== null &&
    typeof input === 'object' &&
    !Array.isArray(input) &&
    'workflow' in input
  ) {
    input = { ...input, workflow: null }
  }
  const parts: ExpressionReferences[] = [analyzeValue(input, { ...where, field: 'input' }).references]
  if (typeof task.when === 'string')
    parts.push(analyzeCondition(task.when, { ...where, field: 'when' }).references)
  if (task.for_each !== undefined)
    parts.push(analyzeValue(task.for_each as JsonValue, { ...where, field: 'for_each' }).references)
  const names = new Set<string>()
  let dynamic = false
  for (const part of parts) {
    const found = referencesOf(part)
    for (const name of found.names) names.add(name)
    dynamic ||= found.dynamic
  }
  return { names: [...names], dynamic }
}

function referencesOf(references: ExpressionReferences): { names: string[]; dynamic: boolean } {
  return {
    names: references.tasks.map((reference) => reference.name),
    dynamic: references.dynamicTaskFields.length > 0,
  }
}

function chainedWithoutData(
  tasks: Record<string, TaskDefinition>,
  dependsOn: Map<string, string[]>,
  reads: Map<string, Set<string>>,
  graph: ReturnType<typeof buildTaskGraph>,
  dynamicReads: boolean,
): OptimizationFinding[] {
  if (dynamicReads) return []
  const reaches = upstreamChecker(graph)
  const findings: OptimizationFinding[] = []
  for (const [name, deps] of dependsOn) {
    const read = reads.get(name)!
    const unread = deps.filter((dep) => !read.has(dep) && !ORDER_ONLY_ACTIONS.has(actionOf(tasks[dep]!)))
    if (unread.length === 0) continue
    const kept = deps.filter((dep) => !unread.includes(dep))
    // A dependency that is upstream of another kept one is waited for anyway: removing it gains nothing.
    const freed = unread.filter((dep) => kept.length === 0 || reaches(dep, kept).size === 0)
    if (freed.length === 0) continue
    const newDeps = deps.filter((dep) => !freed.includes(dep))
    // Tasks it reads that were upstream only through a freed dependency must be named directly.
    for (const target of read) {
      if (newDeps.includes(target) || !(target in tasks)) continue
      if (newDeps.length === 0 || reaches(target, newDeps).size === 0) newDeps.push(target)
    }
    const list = freed.map((dep) => `'${dep}'`).join(', ')
    findings.push({
      kind: FindingKind.chained_without_data,
      severity: 'info',
      tasks: [name, ...freed],
      message: `task '${name}' waits for ${list} but never reads ${freed.length === 1 ? 'its output' : 'their outputs'}`,
      suggestion: `Unless the order matters for a side effect, let '${name}' start without waiting for ${list}: remove ${freed.length === 1 ? 'it' : 'them'} from depends_on so the tasks run in parallel.`,
      patch: taskPatch(name, { depends_on: newDeps }),
    })
  }
  return findings
}

function missingSafeguards(
  tasks: Record<string, TaskDefinition>,
  timings: Map<string, TaskTiming>,
  options: OptimizeOptions,
): OptimizationFinding[] {
  const findings: OptimizationFinding[] = []
  for (const [name, task] of Object.entries(tasks)) {
    const descriptor = options.components?.describe(task.component)
    const remote = descriptor?.kind === 'remote'
    if (!remote && !NETWORK_COMPONENTS.has(task.component)) continue
    const what = remote ? `remote component '${task.component}'` : `${task.component}.${task.action}`
    if (
      task.timeout === undefined &&
      options.defaultTaskTimeoutSeconds === undefined &&
      !OWN_TIMEOUT_COMPONENTS.has(task.component)
    ) {
      const timing = timings.get(name)
      const seconds =
        timing === undefined
          ? DEFAULT_SUGGESTED_TIMEOUT_SECONDS
          : Math.max(10, Math.ceil((timing.max_ms * 3) / 1000))
      findings.push({
        kind: FindingKind.missing_timeout,
        severity: 'warning',
        tasks: [name],
        message: `task '${name}' calls ${what} without a timeout: a hung call holds the execution until the execution's own timeout, if any`,
        suggestion: `Give '${name}' a timeout (${seconds} s ${timing === undefined ? 'is a start' : `is three times the slowest of ${timing.samples} past runs`}).`,
        patch: taskPatch(name, { timeout: seconds }),
      })
    }
    if (task.retry === undefined) {
      findings.push({
        kind: FindingKind.missing_retry,
        severity: 'warning',
        tasks: [name],
        message: `task '${name}' calls ${what} without a retry policy: one transient failure (timeout, 5xx, 429, connection reset) fails the execution`,
        suggestion: `Add a retry policy with backoff to '${name}' (retries only happen for retriable errors).`,
        patch: taskPatch(name, { retry: { ...SUGGESTED_RETRY } }),
      })
    }
  }
  return findings
}

function unusedOutputs(
  workflow: WorkflowDefinition,
  reads: Map<string, Set<string>>,
  outputReads: string[] | undefined,
  dependents: Map<string, string[]>,
): OptimizationFinding[] {
  const used = new Set<string>(outputReads ?? [])
  for (const set of reads.values()) for (const name of set) used.add(name)
  const findings: OptimizationFinding[] = []
  for (const [name, task] of Object.entries(workflow.tasks)) {
    if (used.has(name) || NO_OUTPUT_ACTIONS.has(actionOf(task))) continue
    const leaf = (dependents.get(name) ?? []).length === 0
    findings.push({
      kind: FindingKind.unused_output,
      severity: 'info',
      tasks: [name],
      message: `the output of task '${name}' is never read, neither by another task nor by the workflow's output`,
      suggestion: leaf
        ? `If '${name}' produces the workflow's result, map it in the workflow's output; if it runs for its side effect only, nothing needs to change.`
        : `If '${name}' runs for its side effect only, nothing needs to change; otherwise check whether it is needed at all.`,
      patch: leaf ? { output: { [name]: `\${tasks.${name}.output}` } } : null,
    })
  }
  return findings
}

function unboundedFanOuts(
  tasks: Record<string, TaskDefinition>,
  options: OptimizeOptions,
): OptimizationFinding[] {
  const findings: OptimizationFinding[] = []
  const defaultConcurrency = options.forEachConcurrency ?? DEFAULT_FOR_EACH_CONCURRENCY
  for (const [name, task] of Object.entries(tasks)) {
    if (task.for_each === undefined || task.concurrency !== undefined) continue
    findings.push({
      kind: FindingKind.unbounded_fan_out,
      severity:
        NETWORK_COMPONENTS.has(task.component) ||
        options.components?.describe(task.component)?.kind === 'remote'
          ? 'warning'
          : 'info',
      tasks: [name],
      message: `task '${name}' fans out with for_each but sets no concurrency: up to ${defaultConcurrency} items run at once`,
      suggestion: `Set a concurrency on '${name}' that the called service can take (${SUGGESTED_CONCURRENCY} is a careful start).`,
      patch: taskPatch(name, { concurrency: SUGGESTED_CONCURRENCY }),
    })
  }
  return findings
}

/** Average and longest duration of each task over the past executions (task rows that finished). */
function taskTimings(pastExecutions: readonly PastExecution[]): Map<string, TaskTiming> {
  const sums = new Map<string, { samples: number; total: number; max: number }>()
  for (const past of pastExecutions) {
    for (const state of past.tasks) {
      if (state.item_index !== TASK_ROW || state.status !== 'completed') continue
      const ms = durationMs(state.started_at, state.completed_at)
      if (ms === undefined) continue
      let sum = sums.get(state.task)
      if (sum === undefined) sums.set(state.task, (sum = { samples: 0, total: 0, max: 0 }))
      sum.samples++
      sum.total += ms
      sum.max = Math.max(sum.max, ms)
    }
  }
  const timings = new Map<string, TaskTiming>()
  for (const [task, sum] of sums) {
    timings.set(task, { samples: sum.samples, avg_ms: Math.round(sum.total / sum.samples), max_ms: sum.max })
  }
  return timings
}

/** The path of greatest total average duration through the graph (tasks in topological order). */
function longestPath(
  order: readonly string[],
  dependsOn: Map<string, string[]>,
  timings: Map<string, TaskTiming>,
  pastExecutions: readonly PastExecution[],
): CriticalPath | null {
  if (timings.size === 0) return null
  const finish = new Map<string, number>()
  const previous = new Map<string, string>()
  let end: string | undefined
  for (const name of order) {
    let start = 0
    let via: string | undefined
    for (const dep of dependsOn.get(name)!) {
      const at = finish.get(dep)!
      if (via === undefined || at > start) {
        start = at
        via = dep
      }
    }
    if (via !== undefined) previous.set(name, via)
    const at = start + (timings.get(name)?.avg_ms ?? 0)
    finish.set(name, at)
    if (end === undefined || at > finish.get(end)!) end = name
  }
  const path: string[] = []
  for (let name = end; name !== undefined; name = previous.get(name)) path.push(name)
  path.reverse()
  const walls = pastExecutions
    .map((past) => durationMs(past.execution?.started_at, past.execution?.completed_at))
    .filter((ms): ms is number => ms !== undefined)
  return {
    tasks: path,
    duration_ms: end === undefined ? 0 : finish.get(end)!,
    executions_considered: pastExecutions.length,
    execution_avg_ms: walls.length === 0 ? null : Math.round(walls.reduce((a, b) => a + b, 0) / walls.length),
    task_durations: Object.fromEntries(timings),
  }
}

function criticalPathFinding(path: CriticalPath): OptimizationFinding {
  const slowest = [...path.tasks].sort(
    (a, b) => (path.task_durations[b]?.avg_ms ?? 0) - (path.task_durations[a]?.avg_ms ?? 0),
  )[0]!
  const slowestMs = path.task_durations[slowest]?.avg_ms ?? 0
  const share = path.duration_ms === 0 ? 0 : Math.round((slowestMs / path.duration_ms) * 100)
  return {
    kind: FindingKind.critical_path,
    severity: 'info',
    tasks: path.tasks,
    message: `the critical path is ${path.tasks.join(' -> ')}, about ${path.duration_ms} ms on average over ${path.executions_considered} past ${path.executions_considered === 1 ? 'execution' : 'executions'}; '${slowest}' takes ${share}% of it`,
    suggestion: `Speed-ups off this path do not shorten executions: start with '${slowest}' (make it faster, split it, or fan it out), or take tasks off the path by removing dependencies they do not need.`,
    patch: null,
  }
}

function actionOf(task: TaskDefinition): string {
  return `${task.component}.${task.action}`
}

function durationMs(startedAt: string | undefined, completedAt: string | undefined): number | undefined {
  if (startedAt === undefined || completedAt === undefined) return undefined
  const ms = Date.parse(completedAt) - Date.parse(startedAt)
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined
}
