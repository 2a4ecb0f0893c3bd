import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ValidationError } from '../../src/core/errors.ts'
import type { JsonObject } from '../../src/core/model.ts'
import { validateWorkflow } from '../../src/core/validate.ts'
import { checkInstantiateRequest, instantiateTemplate } from '../../src/templates/instantiation.ts'
import { checkTemplateDraft } from '../../src/templates/template-draft.ts'
import type { Template } from '../../src/templates/template-model.ts'

function body(overrides: JsonObject = {}): JsonObject {
  return {
    name: 'Ping',
    description: 'Pings a URL',
    parameters: {
      url: { type: 'string', required: true },
      seconds: { type: 'integer', default: 30 },
      level: { type: 'select', options: ['info', 'warn'], default: 'info' },
    },
    workflow_definition: {
      tasks: {
        ping: {
          component: 'http',
          action: 'request',
          input: { url: '${param.url}' },
          timeout: '${param.seconds}',
        },
        log: {
          component: 'core',
          action: 'log',
          dependencies: ['ping'],
          parameters: { message: 'pinged {{ url }}: {{ ping.output.status }}', level: '{{ level }}' },
        },
      },
    },
    tags: ['http'],
    ...overrides,
  }
}

describe('checkTemplateDraft', () => {
  it('normalizes the definition, rewrites placeholders and fills defaults of the template fields', () => {
    const { draft, issues } = checkTemplateDraft(body(), validateWorkflow)
    assert.deepEqual(issues, [])
    assert.equal(draft.workflow_definition.name, 'Ping', 'the workflow takes the template name')
    assert.equal(draft.is_public, true)
    assert.deepEqual(draft.metadata, {})
    assert.equal(draft.category, undefined)
    // A placeholder in `timeout` is checked as the number it will be, and stays a placeholder.
    assert.equal(draft.workflow_definition.tasks.ping!.timeout as unknown, '${param.seconds}')
    assert.deepEqual(draft.workflow_definition.tasks.log!.depends_on, ['ping'])
    assert.deepEqual(draft.workflow_definition.tasks.log!.input, {
      message: 'pinged ${param.url}: ${tasks.ping.output.status}',
      level: '${param.level}',
    })
  })

  it('reports every problem: fields, parameters, placeholders and the workflow they give', () => {
    const { issues } = checkTemplateDraft(
      body({
        name: '  ',
        tags: 'http',
        is_public: 'yes',
        metadata: [],
        template_id: 'bad id',
        parameters: {
          url: { type: 'string', required: true },
          seconds: { type: 'string', default: 'soon' },
          level: { type: 'select', options: ['info'] },
        },
        workflow_definition: {
          tasks: {
            ping: {
              component: 'http',
              action: 'request',
              input: { url: '${param.urll}' },
              timeout: '${param.seconds}',
            },
            log: {
              component: 'core',
              action: 'log',
              depends_on: ['pong'],
              input: { m: '{{ level | default("warn") }}' },
            },
          },
        },
      }),
      validateWorkflow,
    )
    assert.deepEqual(
      issues.map((issue) => [issue.task ?? null, issue.field ?? null, issue.message]),
      [
        [null, 'name', 'must not be blank'],
        [null, 'template_id', "'bad id' is not valid: use 1 to 128 letters, digits, '.', '_', '-' or ':'"],
        [null, 'tags', 'expected a list of strings, got "http"'],
        [null, 'is_public', 'expected true or false, got "yes"'],
        [null, 'metadata', 'expected an object, got a list'],
        ['ping', 'input.url', "unknown parameter 'urll'; parameters: url, seconds, level"],
        [
          'log',
          'input.m',
          'default("warn") does not fit parameter \'level\': expected one of info, got "warn"',
        ],
        ['ping', 'timeout', 'expected a positive number of seconds, got "soon"'],
        ['log', 'depends_on[0]', "unknown task 'pong'; known tasks: ping, log; did you mean 'ping'?"],
      ],
    )
  })

  it('merges a default() filter into a parameter without default and rejects a conflicting one', () => {
    const merged = checkTemplateDraft(
      body({
        parameters: { url: { type: 'string' }, n: { type: 'integer', default: 1 } },
        workflow_definition: {
          tasks: {
            a: {
              component: 'core',
              action: 'echo',
              input: { url: '{{ url | default("https://x") }}', n: '{{ n | default(2) }}' },
            },
          },
        },
      }),
      validateWorkflow,
    )
    assert.deepEqual(merged.draft.parameters.url, { type: 'string', required: false, default: 'https://x' })
    assert.deepEqual(merged.issues, [
      {
        task: 'a',
        field: 'input.n',
        message: "default(2) differs from the default of parameter 'n' (1); a parameter has one default",
      },
    ])
  })

  it('judges a shape problem at a placeholder by the value it becomes', () => {
    const { issues } = checkTemplateDraft(
      body({
        parameters: { n: { type: 'integer', default: 0 }, ok: { type: 'integer', default: 2 } },
        workflow_definition: {
          tasks: {
            a: { component: 'core', action: 'echo', concurrency: '${param.n}', for_each: [1] },
            b: { component: 'core', action: 'echo', concurrency: '${param.ok}', for_each: [1] },
          },
        },
      }),
      validateWorkflow,
    )
    assert.deepEqual(issues, [
      { task: 'a', field: 'concurrency', message: 'expected a positive integer, got 0' },
    ])
  })

  it('prefixes problems of the workflow itself with workflow_definition', () => {
    const { issues } = checkTemplateDraft(
      body({ workflow_definition: { tasks: {}, output: { x: '${tasks.nope.output}' } } }),
      validateWorkflow,
    )
    assert.deepEqual(issues, [
      { field: 'workflow_definition.tasks', message: 'must hold at least one task' },
      {
        field: 'workflow_definition.output.x',
        message: "refers to unknown task 'nope'; the workflow has no tasks",
      },
    ])
  })
})

describe('instantiateTemplate', () => {
  const template: Template = {
    ...checkTemplateDraft(body(), validateWorkflow).draft,
    template_id: 'ping',
    version: 4,
    created_at: 't',
    updated_at: 't',
    usage_count: 0,
  }

  it('gives a workflow with the values, the request name and the template in its metadata', () => {
    const definition = instantiateTemplate(
      template,
      {
        name: 'ping-example',
        description: 'd',
        parameter_values: { url: 'https://example.com', level: 'warn' },
      },
      validateWorkflow,
    )
    assert.equal(definition.name, 'ping-example')
    assert.equal(definition.description, 'd')
    assert.deepEqual(definition.metadata, { template_id: 'ping', template_version: 4 })
    assert.equal(definition.tasks.ping!.timeout, 30)
    assert.deepEqual(definition.tasks.log!.input, {
      message: 'pinged https://example.com: ${tasks.ping.output.status}',
      level: 'warn',
    })
    assert.deepEqual(validateWorkflow(definition), [])
  })

  it('names each bad parameter', () => {
    assert.throws(
      () =>
        instantiateTemplate(
          template,
          { parameter_values: { level: 'debug', seconds: '5' } },
          validateWorkflow,
        ),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError)
        assert.equal(error.code, 'validation_error')
        assert.equal(
          error.message,
          "parameter values for template 'ping' are invalid: parameter 'url' is required; parameter 'seconds': expected an integer, got \"5\"; parameter 'level': expected one of info, warn, got \"debug\"",
        )
        return true
      },
    )
  })

  it('reports a workflow the values make invalid', () => {
    assert.throws(
      () => instantiateTemplate(template, { parameter_values: { url: 'u', seconds: -1 } }, validateWorkflow),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.message ===
          "workflow instantiated from template 'ping' (version 4) is invalid: task 'ping', timeout: expected a positive number of seconds, got -1",
    )
  })

  it('checks the request fields', () => {
    assert.deepEqual(checkInstantiateRequest(undefined), {})
    assert.deepEqual(checkInstantiateRequest({ name: 'n', version: 2, parameter_values: { a: 1 } }), {
      name: 'n',
      version: 2,
      parameter_values: { a: 1 },
    })
    assert.throws(
      () => checkInstantiateRequest({ name: '', description: 3, version: 0, parameter_values: [] }),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.message ===
          'instantiate request is invalid: description: expected a string, got 3; name: must not be blank; version: expected a template version (an integer from 1), got 0; parameter_values: expected an object mapping parameter names to values, got a list',
    )
  })
})
