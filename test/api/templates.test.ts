/**
 * Template routes over real HTTP: the three Tekton files import, instantiate and validate; export then
 * re-import gives the same template; versions; instantiate errors name the parameter; list filters; the
 * starter library loads once across restarts over the same SQLite file.
 */
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { STARTER_TEMPLATES } from '../../src/templates/starter-library.ts'
import { startTestServer, type TestServer } from './support.ts'

const FIXTURES = fileURLToPath(new URL('../fixtures/tekton-templates', import.meta.url))
const VALUES: Record<string, Record<string, unknown>> = {
  bug_fix: { bug_report: 'Saving crashes', reproduction_steps: '1. open 2. save', priority: 'high' },
  code_refactoring: { code_location: 'src/app', refactoring_goals: 'smaller modules' },
  feature_development: { feature_name: 'export', requirements: 'CSV export' },
}

async function http(
  server: TestServer,
  method: string,
  url: string,
  body?: unknown,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.baseUrl}/api/v1${url}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}

describe('template routes', () => {
  let server: TestServer
  before(async () => {
    server = await startTestServer({ listen: true })
  })
  after(async () => {
    await server.close()
  })

  for (const name of Object.keys(VALUES)) {
    it(`${name}: imports, instantiates into a valid workflow, and re-imports its export unchanged`, async () => {
      const file = JSON.parse(readFileSync(`${FIXTURES}/${name}.json`, 'utf8')) as Record<string, unknown>
      const imported = await http(server, 'POST', '/templates/import', file)
      assert.equal(imported.status, 201, JSON.stringify(imported.body))
      const templateId = imported.body.template_id as string
      assert.equal(imported.body.name, file.name)
      assert.equal(imported.body.workflow_definition_id, null, 'no workflow exists until instantiate')

      const instance = await http(server, 'POST', `/templates/${templateId}/instantiate`, {
        name: `${name} run`,
        parameter_values: VALUES[name],
      })
      assert.equal(instance.status, 201, JSON.stringify(instance.body))
      assert.equal(instance.body.template_id, templateId)
      assert.equal(typeof instance.body.workflow_id, 'string')
      assert.ok(!JSON.stringify(instance.body.definition).includes('{{'), 'no Tekton placeholder is left')
      const saved = await http(server, 'GET', `/workflows/${instance.body.workflow_id}`)
      assert.equal(saved.status, 200)
      const validated = await http(server, 'POST', '/workflows/validate', instance.body.definition)
      assert.equal(validated.status, 200, JSON.stringify(validated.body))
      // Only the Tekton components (numa, athena...) are missing on this server: the structure is valid.
      const problems = (validated.body.errors as Array<{ field: string; message: string }>).filter(
        (error) => !(error.field === 'component' && error.message.startsWith('unknown component')),
      )
      assert.deepEqual(problems, [])

      const exported = await http(server, 'GET', `/templates/${templateId}/export`)
      assert.equal(exported.status, 200)
      const again = await http(server, 'POST', '/templates/import', exported.body)
      assert.equal(again.status, 201, JSON.stringify(again.body))
      const strip = (template: Record<string, unknown>): Record<string, unknown> => {
        const {
          template_id: _id,
          created_at: _c,
          updated_at: _u,
          workflow_definition_id: _w,
          usage_count: _n,
          ...rest
        } = template
        return rest
      }
      const first = await http(server, 'GET', `/templates/${templateId}`)
      const second = await http(server, 'GET', `/templates/${again.body.template_id}`)
      assert.deepEqual(strip(second.body), strip({ ...first.body }))
    })
  }

  it('instantiate names a missing or badly typed parameter (422)', async () => {
    const file = JSON.parse(readFileSync(`${FIXTURES}/bug_fix.json`, 'utf8')) as unknown
    const imported = await http(server, 'POST', '/templates/import', file)
    const missing = await http(server, 'POST', `/templates/${imported.body.template_id}/instantiate`, {
      parameter_values: { reproduction_steps: 'x' },
    })
    assert.equal(missing.status, 422)
    assert.equal(missing.body.error.code, 'validation_error')
    assert.match(missing.body.error.message, /bug_report/)
    const badOption = await http(server, 'POST', `/templates/${imported.body.template_id}/instantiate`, {
      parameter_values: { ...VALUES.bug_fix, priority: 'urgent' },
    })
    assert.equal(badOption.status, 422)
    assert.match(badOption.body.error.message, /priority/)
  })

  it('each update adds a version; any version instantiates', async () => {
    const created = await http(server, 'POST', '/templates', {
      name: 'greeter',
      category: 'demo',
      tags: ['greeting'],
      parameters: { who: { type: 'string', required: true } },
      workflow_definition: {
        name: 'greet',
        tasks: { hello: { component: 'core', action: 'echo', input: { message: 'Hello ${param.who}' } } },
      },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const id = created.body.template_id as string
    const updated = await http(server, 'PUT', `/templates/${id}`, {
      workflow_definition: {
        name: 'greet',
        tasks: { hello: { component: 'core', action: 'echo', input: { message: 'Hi ${param.who}' } } },
      },
    })
    assert.equal(updated.status, 200, JSON.stringify(updated.body))
    assert.equal(updated.body.version, 2)
    const versions = await http(server, 'GET', `/templates/${id}/versions`)
    assert.deepEqual(
      versions.body.items.map((v: { version: number }) => v.version),
      [1, 2],
    )
    const v1 = await http(server, 'POST', `/templates/${id}/instantiate`, {
      version: 1,
      parameter_values: { who: 'Ada' },
    })
    assert.equal(v1.status, 201, JSON.stringify(v1.body))
    assert.equal(v1.body.template_version, 1)
    assert.equal(v1.body.definition.tasks.hello.input.message, 'Hello Ada')
    const latest = await http(server, 'POST', `/templates/${id}/instantiate`, {
      parameter_values: { who: 'Ada' },
    })
    assert.equal(latest.body.template_version, 2)
    assert.equal(latest.body.definition.tasks.hello.input.message, 'Hi Ada')

    const byTag = await http(server, 'GET', '/templates?tag=greeting')
    assert.deepEqual(
      byTag.body.items.map((t: { template_id: string }) => t.template_id),
      [id],
    )
    const byCategory = await http(server, 'GET', '/templates?category=demo')
    assert.equal(byCategory.body.total, 1)
    const bySearch = await http(server, 'GET', '/templates?search=GREET')
    assert.ok(bySearch.body.items.some((t: { template_id: string }) => t.template_id === id))
    const none = await http(server, 'GET', '/templates?tags=greeting,nothing-has-this')
    assert.equal(none.body.total, 0)
    const missing = await http(server, 'GET', '/templates/no-such-template')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.error.code, 'template_not_found')
  })
})

describe('starter library', () => {
  it('loads on first start and is not duplicated on later starts (same SQLite file)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-templates-'))
    try {
      const counts: number[] = []
      for (let start = 0; start < 2; start++) {
        const server = await startTestServer({ dir, listen: true, flags: { storage: { kind: 'sqlite' } } })
        try {
          const list = await http(server, 'GET', '/templates?limit=500')
          counts.push(list.body.total as number)
        } finally {
          await server.close()
        }
      }
      assert.equal(counts[0], STARTER_TEMPLATES.length)
      assert.deepEqual(counts, [STARTER_TEMPLATES.length, STARTER_TEMPLATES.length])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
