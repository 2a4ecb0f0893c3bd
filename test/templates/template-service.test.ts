import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { beforeEach, describe, it } from 'node:test'
import type { Clock } from '../../src/core/clock.ts'
import { ConflictError, InvalidRequestError, NotFoundError, ValidationError } from '../../src/core/errors.ts'
import type { JsonObject, WorkflowDefinition, WorkflowRecord } from '../../src/core/model.ts'
import { validateWorkflow } from '../../src/core/validate.ts'
import { createTemplateService, type TemplateService } from '../../src/templates/template-service.ts'
import { createTestDocumentStore, type TestDocumentStore } from './document-store.ts'

const FIXTURES = fileURLToPath(new URL('../fixtures/tekton-templates', import.meta.url))

/** A clock that moves one second on every reading, so timestamps differ and order is stable. */
function steppingClock(): Clock {
  let now = Date.parse('2026-01-01T00:00:00.000Z')
  return {
    now: () => (now += 1000),
    setTimeout: () => ({ cancel() {} }),
  }
}

function pingBody(overrides: JsonObject = {}): JsonObject {
  return {
    name: 'Ping',
    description: 'Pings a URL',
    parameters: {
      url: { type: 'string', required: true, description: 'What to ping' },
      level: { type: 'select', options: ['info', 'warn'], default: 'info' },
    },
    workflow_definition: {
      name: 'ping',
      tasks: {
        ping: { component: 'http', action: 'request', input: { url: '${param.url}' } },
        log: {
          component: 'core',
          action: 'log',
          depends_on: ['ping'],
          input: { message: 'pinged ${param.url}', level: '${param.level}' },
        },
      },
    },
    tags: ['HTTP', 'ops'],
    category: 'monitoring',
    ...overrides,
  }
}

async function rejects(
  promise: Promise<unknown>,
  type: new (...args: never[]) => Error,
  code: string,
  message: string | RegExp,
) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`)
    assert.equal((error as unknown as { code: string }).code, code)
    if (typeof message === 'string') assert.equal((error as Error).message, message)
    else assert.match((error as Error).message, message)
    return true
  })
}

describe('template service', () => {
  let store: TestDocumentStore
  let service: TemplateService
  let saved: WorkflowDefinition[]

  beforeEach(() => {
    store = createTestDocumentStore()
    saved = []
    service = createTemplateService({
      store,
      clock: steppingClock(),
      validateWorkflow: (definition) => validateWorkflow(definition, { unknownComponents: 'ignore' }),
      saveWorkflow: async (definition) => {
        saved.push(definition)
        return {
          workflow_id: `wf-${saved.length}`,
          revision: 1,
          definition,
          status: 'published',
          created_at: 't',
          updated_at: 't',
        }
      },
      starterTemplates: [],
    })
  })

  it('creates version 1 and reads it back', async () => {
    const created = await service.create(pingBody({ template_id: 'ping' }))
    assert.equal(created.template_id, 'ping')
    assert.equal(created.version, 1)
    assert.equal(created.usage_count, 0)
    assert.equal(created.created_at, '2026-01-01T00:00:01.000Z')
    assert.equal(created.updated_at, created.created_at)
    assert.equal(store.commits, 1, 'the template and its first version are written in one commit')
    assert.deepEqual(await service.get('ping'), created)
    assert.deepEqual(await service.get('ping', 1), created)
    const generated = await service.create(pingBody())
    assert.match(generated.template_id, /^tpl-[0-9a-f-]{36}$/)
  })

  it('reports every problem of a template at once and refuses a taken id', async () => {
    await rejects(
      service.create(pingBody({ name: 3, parameters: { url: { type: 'uri' } } })),
      ValidationError,
      'validation_error',
      `template is invalid: name: expected a string, got 3; parameters.url.type: expected one of string, text, number, integer, boolean, object, array, select, got "uri"; task 'log', input.level: unknown parameter 'level'; parameters: url`,
    )
    await service.create(pingBody({ template_id: 'ping' }))
    await rejects(
      service.create(pingBody({ template_id: 'ping' })),
      ConflictError,
      'conflict',
      "Template with ID 'ping' already exists; update it instead",
    )
  })

  it('creates a template from a saved workflow', async () => {
    const workflow: WorkflowRecord = {
      workflow_id: 'wf-7',
      revision: 3,
      definition: {
        name: 'wf',
        tasks: { a: { name: 'a', component: 'core', action: 'echo', depends_on: [], input: { x: 1 } } },
      },
      status: 'published',
      created_at: 't',
      updated_at: 't',
    }
    const template = await service.create({ name: 'From wf', metadata: { owner: 'ops' } }, { workflow })
    assert.deepEqual(template.workflow_definition, workflow.definition)
    assert.deepEqual(template.metadata, {
      owner: 'ops',
      source_workflow_id: 'wf-7',
      source_workflow_revision: 3,
    })
    await rejects(
      service.create(pingBody(), { workflow }),
      ValidationError,
      'validation_error',
      "template is invalid: workflow_definition: give a workflow_definition or a workflow_id, not both (workflow_id 'wf-7')",
    )
  })

  it('adds a version on every update and keeps every version', async () => {
    await service.create(pingBody({ template_id: 'ping' }))
    const second = await service.update('ping', { description: 'v2' })
    assert.equal(second.version, 2)
    assert.equal(second.description, 'v2')
    assert.equal(second.name, 'Ping', 'fields left out keep their value')
    assert.equal(second.created_at, '2026-01-01T00:00:01.000Z')
    assert.notEqual(second.updated_at, second.created_at)
    const third = await service.update('ping', { tags: [] }, { expected_version: 2 })
    assert.equal(third.version, 3)
    assert.deepEqual(
      (await service.listVersions('ping')).map((version) => [
        version.version,
        version.description,
        version.tags,
      ]),
      [
        [1, 'Pings a URL', ['HTTP', 'ops']],
        [2, 'v2', ['HTTP', 'ops']],
        [3, 'v2', []],
      ],
    )
    assert.equal((await service.get('ping', 1)).description, 'Pings a URL')
    assert.equal((await service.get('ping')).version, 3)
    await rejects(
      service.update('ping', { description: 'late' }, { expected_version: 2 }),
      ConflictError,
      'conflict',
      "Template with ID 'ping' is at version 3, not 2; reload it and apply the change again",
    )
    await rejects(
      service.update('ping', { parameters: { url: { type: 'select' } } }),
      ValidationError,
      'validation_error',
      "template 'ping' is invalid: parameters.url.options: a select parameter needs a non-empty list of options; task 'log', input.level: unknown parameter 'level'; parameters: url",
    )
    await rejects(
      service.update('ping', ['description']),
      ValidationError,
      'validation_error',
      "template 'ping' update is invalid: expected an object with the fields to change, got a list",
    )
    assert.equal((await service.get('ping')).version, 3, 'a rejected update adds no version')
  })

  it('accepts its own answer back as an update (GET, change, PUT)', async () => {
    const created = await service.create(pingBody({ template_id: 'ping' }))
    const updated = await service.update('ping', { ...created, name: 'Ping 2' })
    assert.equal(updated.version, 2)
    assert.deepEqual(updated.workflow_definition, created.workflow_definition)
    assert.deepEqual(updated.parameters, created.parameters)
  })

  it('serializes concurrent updates of one template into consecutive versions', async () => {
    await service.create(pingBody({ template_id: 'ping' }))
    const versions = await Promise.all(
      Array.from({ length: 5 }, (_, index) => service.update('ping', { description: `d${index}` })),
    )
    assert.deepEqual(versions.map((version) => version.version).sort(), [2, 3, 4, 5, 6])
    assert.equal((await service.listVersions('ping')).length, 6)
  })

  it('answers template_not_found for what does not exist', async () => {
    await rejects(
      service.get('nope'),
      NotFoundError,
      'template_not_found',
      "Template with ID 'nope' not found",
    )
    await service.create(pingBody({ template_id: 'ping' }))
    await rejects(
      service.get('ping', 9),
      NotFoundError,
      'template_not_found',
      "Template with ID 'ping' has no version 9",
    )
    await rejects(
      service.get('ping', 0),
      InvalidRequestError,
      'invalid_request',
      'template version must be an integer from 1, got 0',
    )
    await rejects(
      service.update('nope', {}),
      NotFoundError,
      'template_not_found',
      "Template with ID 'nope' not found",
    )
    await rejects(
      service.delete('nope'),
      NotFoundError,
      'template_not_found',
      "Template with ID 'nope' not found",
    )
    await rejects(
      service.listVersions('nope'),
      NotFoundError,
      'template_not_found',
      "Template with ID 'nope' not found",
    )
    await rejects(
      service.instantiate('nope', {}),
      NotFoundError,
      'template_not_found',
      "Template with ID 'nope' not found",
    )
  })

  it('deletes a template with every version', async () => {
    await service.create(pingBody({ template_id: 'ping' }))
    await service.update('ping', { description: 'v2' })
    await service.delete('ping')
    assert.equal(await store.size('templates'), 0)
    assert.equal(await store.size('template_versions'), 0)
    await rejects(
      service.get('ping'),
      NotFoundError,
      'template_not_found',
      "Template with ID 'ping' not found",
    )
  })

  it('lists with search, tags, category, sorting and pages', async () => {
    await service.create(pingBody({ template_id: 'a', name: 'Alpha ping' }))
    await service.create(
      pingBody({
        template_id: 'b',
        name: 'Beta',
        description: 'Deploys',
        tags: ['deploy'],
        category: 'delivery',
      }),
    )
    await service.create(pingBody({ template_id: 'c', name: 'Gamma ping', is_public: false }))
    const all = await service.list()
    assert.deepEqual(
      all.items.map((t) => t.template_id),
      ['c', 'b', 'a'],
      'newest first by default',
    )
    assert.deepEqual({ total: all.total, page: all.page, limit: all.limit }, { total: 3, page: 1, limit: 20 })
    assert.deepEqual(
      (await service.list({ search: 'PING' })).items.map((t) => t.template_id),
      ['c', 'a'],
    )
    assert.deepEqual(
      (await service.list({ search: 'deploys' })).items.map((t) => t.template_id),
      ['b'],
    )
    assert.deepEqual(
      (await service.list({ tags: ['http', 'OPS'] })).items.map((t) => t.template_id),
      ['c', 'a'],
    )
    assert.deepEqual(
      (await service.list({ tag: 'deploy' })).items.map((t) => t.template_id),
      ['b'],
    )
    assert.deepEqual(
      (await service.list({ category: 'Delivery' })).items.map((t) => t.template_id),
      ['b'],
    )
    assert.deepEqual(
      (await service.list({ is_public: false })).items.map((t) => t.template_id),
      ['c'],
    )
    assert.deepEqual(
      (await service.list({ sort_by: 'name' })).items.map((t) => t.name),
      ['Alpha ping', 'Beta', 'Gamma ping'],
    )
    const page2 = await service.list({ sort_by: 'name', limit: 2, page: 2 })
    assert.deepEqual(
      page2.items.map((t) => t.template_id),
      ['c'],
    )
    assert.equal(page2.total, 3)
    await rejects(
      service.list({ limit: 0 }),
      InvalidRequestError,
      'invalid_request',
      'limit must be an integer from 1 to 500, got 0',
    )
    await rejects(
      service.list({ sort_by: 'size' }),
      InvalidRequestError,
      'invalid_request',
      'sort_by must be one of created_at, updated_at, name, usage_count, got "size"',
    )
  })

  it('instantiates a version into a saved workflow and counts the use', async () => {
    await service.create(pingBody({ template_id: 'ping' }))
    await service.update('ping', {
      parameters: {
        url: { type: 'string', required: true },
        level: { type: 'select', options: ['info', 'warn', 'error'], default: 'warn' },
      },
    })
    const instance = await service.instantiate('ping', {
      name: 'ping-example',
      parameter_values: { url: 'https://example.com' },
    })
    assert.equal(instance.template_id, 'ping')
    assert.equal(instance.template_version, 2)
    assert.equal(instance.workflow?.workflow_id, 'wf-1')
    assert.deepEqual(saved, [instance.definition])
    assert.equal(instance.definition.name, 'ping-example')
    assert.deepEqual(instance.definition.metadata, { template_id: 'ping', template_version: 2 })
    assert.deepEqual(instance.definition.tasks.log!.input, {
      message: 'pinged https://example.com',
      level: 'warn',
    })

    const old = await service.instantiate('ping', {
      version: 1,
      parameter_values: { url: 'u', level: 'info' },
    })
    assert.equal(old.template_version, 1)
    await rejects(
      service.instantiate('ping', { version: 1, parameter_values: { url: 'u', level: 'error' } }),
      ValidationError,
      'validation_error',
      "parameter values for template 'ping' are invalid: parameter 'level': expected one of info, warn, got \"error\"",
    )
    await rejects(
      service.instantiate('ping', { parameter_values: {} }),
      ValidationError,
      'validation_error',
      "parameter values for template 'ping' are invalid: parameter 'url' is required",
    )
    assert.equal((await service.get('ping')).usage_count, 2, 'only successful instantiations count')
    assert.equal((await service.get('ping')).version, 2, 'counting uses adds no version')
  })

  it('without saveWorkflow, instantiate only returns the definition', async () => {
    const bare = createTemplateService({ store, starterTemplates: [] })
    await bare.create(pingBody({ template_id: 'ping' }))
    const instance = await bare.instantiate('ping', { parameter_values: { url: 'u' } })
    assert.equal(instance.workflow, undefined)
    assert.equal(instance.definition.name, 'ping')
  })

  it('imports and exports Tekton template files', async () => {
    const file = JSON.parse(readFileSync(`${FIXTURES}/bug_fix.json`, 'utf8')) as JsonObject
    const template = await service.importTemplate(file, { template_id: 'bug-fix' })
    assert.equal(template.template_id, 'bug-fix')
    assert.equal(template.version, 1)
    assert.equal(template.name, 'Bug Fix')
    const exported = await service.exportTemplate('bug-fix')
    assert.deepEqual(exported.parameters, file.parameters)
    const again = await service.importTemplate(exported)
    assert.deepEqual(
      { ...again, template_id: 'bug-fix', created_at: '', updated_at: '' },
      { ...template, created_at: '', updated_at: '' },
    )
    const instance = await service.instantiate('bug-fix', {
      parameter_values: { bug_report: 'b', reproduction_steps: 'r' },
    })
    assert.deepEqual(validateWorkflow(instance.definition), [])
    await rejects(
      service.importTemplate({ name: 'Broken', workflow_definition: { tasks: [] }, parameters: {} }),
      ValidationError,
      'validation_error',
      "Tekton template 'Broken' cannot be imported: workflow_definition.tasks: must hold at least one task",
    )
    await rejects(
      service.importTemplate(file, { template_id: 'no spaces' }),
      ValidationError,
      'validation_error',
      "Tekton template file cannot be imported: template_id: 'no spaces' is not valid: use 1 to 128 letters, digits, '.', '_', '-' or ':'",
    )
  })
})
