import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { stringify } from 'yaml'
import { ValidationError } from '../../src/core/errors.ts'
import type { JsonObject } from '../../src/core/model.ts'
import { validateWorkflow } from '../../src/core/validate.ts'
import { instantiateTemplate } from '../../src/templates/instantiation.ts'
import {
  exportTektonTemplate,
  importTektonTemplate,
  readTektonTemplate,
} from '../../src/templates/tekton-format.ts'
import type { Template, TemplateDraft } from '../../src/templates/template-model.ts'

const FIXTURES = fileURLToPath(new URL('../fixtures/tekton-templates', import.meta.url))

function fixture(name: string): JsonObject {
  return JSON.parse(readFileSync(`${FIXTURES}/${name}.json`, 'utf8')) as JsonObject
}

function stored(draft: TemplateDraft, templateId = 'tpl-test'): Template {
  return { ...draft, template_id: templateId, version: 1, created_at: 't', updated_at: 't', usage_count: 0 }
}

/** Valid parameter values for each fixture. */
const VALUES: Record<string, JsonObject> = {
  bug_fix: { bug_report: 'Saving crashes', reproduction_steps: '1. open 2. save', priority: 'high' },
  code_refactoring: { code_location: 'src/app', refactoring_goals: 'smaller modules' },
  feature_development: { feature_name: 'export', requirements: 'CSV export' },
}

describe('importTektonTemplate', () => {
  it('maps the bug_fix file onto Harmonia terms', () => {
    const draft = importTektonTemplate(fixture('bug_fix'))
    assert.equal(draft.name, 'Bug Fix')
    assert.equal(draft.category, 'maintenance')
    assert.deepEqual(draft.tags, ['bug', 'fix', 'maintenance', 'testing'])
    assert.equal(draft.is_public, true)
    assert.deepEqual(draft.parameters, {
      bug_report: { type: 'text', required: true, description: 'Detailed description of the bug' },
      reproduction_steps: { type: 'text', required: true, description: 'Steps to reproduce the bug' },
      priority: {
        type: 'select',
        required: false,
        description: 'Bug priority level',
        options: ['low', 'medium', 'high', 'critical'],
        default: 'medium',
      },
    })
    const { tasks } = draft.workflow_definition
    assert.deepEqual(Object.keys(tasks), ['investigate', 'fix', 'verify'])
    // The key is the task's identity and its action; the display name becomes the title.
    assert.deepEqual(tasks.fix, {
      name: 'fix',
      title: 'Fix Bug',
      description: 'Implement the bug fix',
      component: 'numa',
      action: 'fix',
      depends_on: ['investigate'],
      input: {
        root_cause: '${tasks.investigate.output.root_cause}',
        fix_strategy: '${tasks.investigate.output.recommended_fix}',
      },
      timeout: 3600,
    })
    assert.deepEqual(tasks.verify!.input, {
      original_bug: '${param.bug_report}',
      fix_implementation: '${tasks.fix.output}',
      regression_tests: true,
    })
    // Output descriptors are a schema, not an output mapping.
    assert.equal(draft.workflow_definition.output, undefined)
    assert.deepEqual(draft.workflow_definition.output_schema, {
      type: 'object',
      properties: {
        bug_fixed: { type: 'boolean', description: 'Whether the bug has been successfully fixed' },
        fix_location: { type: 'string', description: 'Location of the bug fix' },
        verification_results: { type: 'object', description: 'Results of fix verification' },
      },
    })
  })

  it('maps workflow inputs and default() filters in feature_development', () => {
    const draft = importTektonTemplate(fixture('feature_development'))
    const { tasks } = draft.workflow_definition
    // `coding_standards` is a workflow input, not a parameter.
    assert.equal(
      (tasks.implement!.input as JsonObject).coding_standards,
      '${workflow.input.coding_standards}',
    )
    // `{{ test_coverage | default(80) }}`: the parameter already defaults to 80.
    assert.equal((tasks.test!.input as JsonObject).test_coverage_target, '${param.test_coverage}')
    assert.deepEqual(draft.parameters.test_coverage, {
      type: 'integer',
      required: false,
      description: 'Target test coverage percentage',
      default: 80,
    })
    assert.equal(draft.category, 'development')
  })

  for (const name of ['bug_fix', 'code_refactoring', 'feature_development']) {
    it(`${name}: export then import gives the same template`, () => {
      const draft = importTektonTemplate(fixture(name))
      const file = exportTektonTemplate(stored(draft))
      const again = importTektonTemplate(JSON.parse(JSON.stringify(file)))
      assert.deepEqual(again, draft)
      // The export is Tekton's format.
      const task = Object.values(file.workflow_definition.tasks)[0]!
      assert.ok(Array.isArray(task.dependencies))
      assert.equal(task.depends_on, undefined)
      assert.equal(task.input, undefined)
      assert.ok(
        Object.values(file.parameters).every((parameter) => typeof parameter.parameter_type === 'string'),
      )
    })

    it(`${name}: instantiates with valid parameters into a valid workflow`, () => {
      const template = stored(importTektonTemplate(fixture(name)), `tpl-${name}`)
      const definition = instantiateTemplate(
        template,
        { parameter_values: VALUES[name]!, name: `${name} run` },
        validateWorkflow,
      )
      assert.equal(definition.name, `${name} run`)
      assert.equal(definition.metadata!.template_id, `tpl-${name}`)
      assert.equal(definition.metadata!.template_version, 1)
      assert.deepEqual(validateWorkflow(definition, { unknownComponents: 'ignore' }), [])
      assert.ok(!JSON.stringify(definition).includes('{{'), 'no Tekton placeholder is left')
      assert.ok(!JSON.stringify(definition).includes('param.'), 'no parameter placeholder is left')
    })
  }

  it('exports the fixture parameters and tasks as Tekton wrote them', () => {
    const file = exportTektonTemplate(stored(importTektonTemplate(fixture('bug_fix'))))
    const original = fixture('bug_fix')
    assert.deepEqual(file.parameters, original.parameters)
    const originalTasks = (original.workflow_definition as JsonObject).tasks as Record<string, JsonObject>
    for (const [key, task] of Object.entries(file.workflow_definition.tasks)) {
      assert.deepEqual({ ...task, action: undefined }, { ...originalTasks[key], action: undefined })
      assert.equal(task.action, key)
    }
    assert.deepEqual(file.workflow_definition.output, (original.workflow_definition as JsonObject).output)
    assert.equal(file.category, 'maintenance')
  })

  it('accepts tasks as a list, each named in `name`', () => {
    const draft = importTektonTemplate({
      name: 'Listed',
      workflow_definition: {
        name: 'listed',
        tasks: [
          { name: 'fetch', component: 'athena', parameters: { q: '{{ query }}' } },
          { name: 'report', component: 'rhetor', action: 'write', dependencies: ['fetch'] },
        ],
      },
      parameters: { query: { name: 'query', parameter_type: 'string', required: true } },
    })
    assert.deepEqual(draft.workflow_definition.tasks, {
      fetch: {
        name: 'fetch',
        component: 'athena',
        action: 'fetch',
        depends_on: [],
        input: { q: '${param.query}' },
      },
      report: { name: 'report', component: 'rhetor', action: 'write', depends_on: ['fetch'] },
    })
    assert.equal(draft.is_public, true)
  })

  it('reads YAML text', () => {
    const draft = importTektonTemplate(stringify(fixture('code_refactoring')))
    assert.equal(draft.name, 'Code Refactoring')
    assert.deepEqual(draft.workflow_definition.tasks.refactor!.depends_on, ['backup'])
  })

  it('instantiates bug_fix into the values given', () => {
    const template = stored(importTektonTemplate(fixture('bug_fix')))
    const definition = instantiateTemplate(template, { parameter_values: VALUES.bug_fix! }, validateWorkflow)
    assert.deepEqual(definition.tasks.investigate!.input, {
      bug_report: 'Saving crashes',
      reproduction_steps: '1. open 2. save',
    })
    assert.equal(definition.name, 'Bug Fix Workflow')
  })

  it('reports every problem of a file at once, in Tekton terms', () => {
    const file = fixture('bug_fix')
    const workflow = file.workflow_definition as JsonObject
    const tasks = workflow.tasks as Record<string, JsonObject>
    tasks.fix!.dependencies = ['investigat']
    tasks.verify!.parameters = { x: '{{ unknown_thing }}' }
    tasks.investigate!.timeout = 'long'
    ;(file.parameters as Record<string, JsonObject>).priority!.parameter_type = 'choice'
    ;(file.parameters as Record<string, JsonObject>).bug_report!.default_value = 5
    const { issues } = readTektonTemplate(file)
    assert.deepEqual(
      issues.map((issue) => [issue.task, issue.field, issue.message]),
      [
        [undefined, 'parameters.bug_report.default_value', 'expected a string, got 5'],
        [
          undefined,
          'parameters.priority.parameter_type',
          'expected one of string, text, number, integer, boolean, object, array, select, got "choice"',
        ],
        [
          'verify',
          'parameters.x',
          "unknown placeholder '{{ unknown_thing }}': 'unknown_thing' is not a parameter, a task or a workflow input; parameters: bug_report, reproduction_steps, priority",
        ],
        ['investigate', 'timeout', 'expected a positive number of seconds, got "long"'],
        [
          'fix',
          'dependencies[0]',
          "unknown task 'investigat'; known tasks: investigate, fix, verify; did you mean 'investigate'?",
        ],
        [
          'fix',
          'parameters.root_cause',
          "refers to task 'investigate', which is not upstream of 'fix'; add 'investigate' to depends_on",
        ],
        [
          'fix',
          'parameters.fix_strategy',
          "refers to task 'investigate', which is not upstream of 'fix'; add 'investigate' to depends_on",
        ],
      ],
    )
    assert.throws(
      () => importTektonTemplate(file),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.code === 'validation_error' &&
        error.message.startsWith(
          "Tekton template 'Bug Fix' cannot be imported: parameters.bug_report.default_value: expected a string, got 5;",
        ) &&
        error.issues.length === 7,
    )
  })

  it('rejects what is not a template file', () => {
    assert.throws(
      () => importTektonTemplate([1]),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.message ===
          'Tekton template file cannot be imported: a Tekton template file must be an object, got a list',
    )
    const { issues } = readTektonTemplate({ name: 'x' })
    assert.deepEqual(issues, [
      { field: 'workflow_definition', message: 'is required (or create the template from a workflow)' },
    ])
  })
})
