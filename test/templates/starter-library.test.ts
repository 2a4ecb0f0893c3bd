import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { JsonObject } from '../../src/core/model.ts'
import { validateWorkflow } from '../../src/core/validate.ts'
import { createComponentRegistry, registerBuiltins } from '../../src/components/index.ts'
import { STARTER_TEMPLATES, type StarterTemplate } from '../../src/templates/starter-library.ts'
import { createTemplateService } from '../../src/templates/template-service.ts'
import { createTestDocumentStore } from './document-store.ts'

/** Values a user would give each starter template. */
const VALUES: Record<string, JsonObject> = {
  'starter-http-health-check': {
    url: 'https://api.example.com/health',
    alert_url: 'https://hooks.example.com/alert',
  },
  'starter-fetch-transform-post': {
    source_url: 'https://a.example.com/items',
    field: 'items',
    target_url: 'https://b.example.com/in',
  },
  'starter-approval-before-deploy': {
    service: 'billing',
    version: '1.4.2',
    environment: 'production',
    notify_url: 'https://hooks.example.com/chat',
    deploy_url: 'https://deploy.example.com/run',
  },
  'starter-summarize-document': { document_url: 'https://example.com/report.txt' },
  'starter-poll-flaky-api': { status_url: 'https://jobs.example.com/42' },
}

describe('starter library', () => {
  it('has the five templates under stable ids, every parameter typed and described', () => {
    assert.deepEqual(
      STARTER_TEMPLATES.map((template) => template.template_id),
      Object.keys(VALUES),
    )
    for (const template of STARTER_TEMPLATES) {
      for (const [name, spec] of Object.entries(template.parameters)) {
        assert.ok(spec.type, `${template.template_id}.${name} has a type`)
        assert.ok((spec.description ?? '').length > 10, `${template.template_id}.${name} has a description`)
      }
    }
  })

  it('loads once: a second start inserts nothing and a deleted starter stays deleted', async () => {
    const store = createTestDocumentStore()
    const service = createTemplateService({ store })
    assert.deepEqual(await service.loadStarterLibrary(), Object.keys(VALUES))
    assert.equal((await service.list()).total, 5)
    const commits = store.commits
    assert.deepEqual(await service.loadStarterLibrary(), [])
    assert.equal(store.commits, commits, 'a start with nothing to insert writes nothing')

    // A restart: a new service on the same store.
    const restarted = createTemplateService({ store })
    assert.deepEqual(await restarted.loadStarterLibrary(), [])
    assert.equal((await restarted.list()).total, 5)

    await restarted.delete('starter-poll-flaky-api')
    assert.deepEqual(await restarted.loadStarterLibrary(), [])
    assert.equal((await restarted.list()).total, 4)
  })

  it('inserts starters added by a later release, and concurrent starts never duplicate', async () => {
    const store = createTestDocumentStore()
    const first: StarterTemplate[] = STARTER_TEMPLATES.slice(0, 2)
    await createTemplateService({ store, starterTemplates: first }).loadStarterLibrary()
    const nodes = [createTemplateService({ store }), createTemplateService({ store })]
    const inserted = await Promise.all(nodes.map((node) => node.loadStarterLibrary()))
    assert.ok(inserted.every((ids) => ids.every((id) => !first.some((t) => t.template_id === id))))
    assert.equal(await store.size('templates'), 5)
    assert.equal(await store.size('template_versions'), 5)
    assert.deepEqual(await nodes[0]!.loadStarterLibrary(), [])
  })

  it('rolls back a failed load, so the next start inserts the starters', async () => {
    const store = createTestDocumentStore()
    const service = createTemplateService({ store })
    store.failNextCommit()
    await assert.rejects(service.loadStarterLibrary(), /commit failed \(test\)/)
    assert.equal(await store.size('templates'), 0)
    assert.equal((await service.loadStarterLibrary()).length, 5)
  })

  for (const starter of STARTER_TEMPLATES) {
    it(`${starter.template_id} instantiates into a valid workflow`, async () => {
      const registry = createComponentRegistry()
      registerBuiltins(registry)
      const usesOnlyBuiltins = !['starter-approval-before-deploy', 'starter-summarize-document'].includes(
        starter.template_id,
      )
      const service = createTemplateService({
        store: createTestDocumentStore(),
        // Components that are built in must exist with the action named; the others come later.
        validateWorkflow: (definition) =>
          validateWorkflow(definition, {
            components: registry,
            unknownComponents: usesOnlyBuiltins ? 'error' : 'ignore',
          }),
      })
      await service.loadStarterLibrary()
      const instance = await service.instantiate(starter.template_id, {
        parameter_values: VALUES[starter.template_id]!,
      })
      assert.deepEqual(
        validateWorkflow(instance.definition, { components: registry, unknownComponents: 'ignore' }),
        [],
      )
      assert.ok(!JSON.stringify(instance.definition).includes('param.'), 'every parameter was replaced')
    })
  }

  it('the health check alerts on a failed or unexpected answer', async () => {
    const service = createTemplateService({ store: createTestDocumentStore() })
    await service.loadStarterLibrary()
    const { definition } = await service.instantiate('starter-http-health-check', {
      parameter_values: { ...VALUES['starter-http-health-check']!, expected_status: 204 },
    })
    const alert = definition.tasks.alert!
    assert.equal(alert.when, 'tasks.check.status != "completed" || tasks.check.output.status != 204')
    assert.equal(alert.trigger_rule, 'all_done')
    assert.equal((alert.input as JsonObject).url, 'https://hooks.example.com/alert')
    assert.equal(definition.tasks.check!.on_failure, 'continue')
    assert.deepEqual(definition.tasks.check!.retry, {
      max_attempts: 3,
      initial_delay_ms: 1000,
      backoff_factor: 2,
      retriable_errors: ['SERVER_ERROR', 'RATE_LIMITED', 'CONNECTION_ERROR', 'TIMEOUT'],
    })
  })

  it('the polling template carries its retry parameters into the policy', async () => {
    const service = createTemplateService({ store: createTestDocumentStore() })
    await service.loadStarterLibrary()
    const { definition } = await service.instantiate('starter-poll-flaky-api', {
      parameter_values: { ...VALUES['starter-poll-flaky-api']!, max_attempts: 50, ready_status: 201 },
    })
    const poll = definition.tasks.poll!
    assert.deepEqual((poll.input as JsonObject).expect_status, [201])
    assert.deepEqual(poll.retry, {
      max_attempts: 50,
      initial_delay_ms: 2000,
      backoff_factor: 1.5,
      max_delay_ms: 60000,
      jitter: 0.2,
      retriable_errors: [
        'HTTP_202',
        'HTTP_404',
        'HTTP_409',
        'HTTP_425',
        'SERVER_ERROR',
        'RATE_LIMITED',
        'CONNECTION_ERROR',
        'TIMEOUT',
      ],
    })
    await assert.rejects(
      service.instantiate('starter-poll-flaky-api', {
        parameter_values: { ...VALUES['starter-poll-flaky-api']!, max_attempts: 500 },
      }),
      (error: unknown) =>
        error instanceof Error &&
        (error as { code?: string }).code === 'validation_error' &&
        /^workflow instantiated from template 'starter-poll-flaky-api' \(version 1\) is invalid: task 'poll', retry\.max_attempts: /.test(
          error.message,
        ),
    )
  })
})
