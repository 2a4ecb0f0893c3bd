/**
 * Acceptance of the LLM features against a real local HTTP server speaking the chat-completions protocol
 * with scripted answers, and a real Harmonia server (SQLite, pino logging to a buffer) driven through the
 * client SDK and the CLI: a workflow from a sentence (repaired after one invalid answer), an explanation
 * of a failed execution (by the model, and rule-based without one), `llm.generate` with a schema repairing
 * invalid JSON, and the API key absent from logs, persisted data and answers.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { startServer, type RunningServer } from '../../src/api/server.ts'
import { HarmoniaApiError, HarmoniaClient } from '../../src/client/index.ts'
import { resolveConfig } from '../../src/core/config.ts'
import { runCli } from '../cli/cli-harness.ts'
import { startFakeChatServer, type FakeChatServer } from './fake-chat-server.ts'

const API_KEY = 'sk-test-Zq81-SECRET-do-not-leak-4711'

class Buffered extends Writable {
  text = ''
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.text += chunk.toString('utf8')
    callback()
  }
}

async function allBytes(dir: string): Promise<string> {
  let text = ''
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) text += (await readFile(path.join(entry.parentPath, entry.name))).toString('latin1')
  }
  return text
}

interface Running {
  server: RunningServer
  client: HarmoniaClient
  logs: Buffered
  dir: string
}

async function startHarmonia(llm: { baseUrl: string } | undefined): Promise<Running> {
  const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-llm-'))
  const logs = new Buffered()
  const config = resolveConfig({
    flags: {
      dataDir: dir,
      storage: { kind: 'sqlite' },
      server: { host: '127.0.0.1', port: 0 },
      log: { level: 'trace' },
      ...(llm === undefined
        ? {}
        : { llm: { baseUrl: llm.baseUrl, model: 'scripted-model', apiKey: API_KEY, maxRetries: 2 } }),
    },
  })
  const server = await startServer(config, { cwd: dir, logDestination: logs, announce: () => {} })
  return { server, client: new HarmoniaClient({ baseUrl: server.url }), logs, dir }
}

const validWorkflow = {
  name: 'greet_and_log',
  description: 'Echoes a greeting and logs it',
  input: { name: { type: 'string', required: true } },
  tasks: {
    greet: { component: 'core', action: 'echo', input: { text: 'Hello ${workflow.input.name}' } },
    record: {
      component: 'core',
      action: 'log',
      input: { message: '${tasks.greet.output.text}' },
      depends_on: ['greet'],
    },
  },
}

describe('LLM features against a scripted chat-completions server', () => {
  let chat: FakeChatServer
  let running: Running

  before(async () => {
    chat = await startFakeChatServer()
    running = await startHarmonia({ baseUrl: chat.baseUrl })
  })
  after(async () => {
    await running?.server.close()
    await chat?.close()
    if (running !== undefined) await rm(running.dir, { recursive: true, force: true })
  })

  test('a workflow from a sentence is repaired after one invalid answer, returned as a draft', async () => {
    const before = chat.requests.length
    chat.script(
      JSON.stringify({
        explanation: 'first try',
        workflow: { name: 'greet', tasks: { greet: { component: 'nosuch', action: 'shout', input: {} } } },
      }),
      '```json\n' +
        JSON.stringify({ explanation: 'Greets the user, then logs it.', workflow: validWorkflow }) +
        '\n```',
    )
    const answer = await running.client.llm.createWorkflow('greet someone by name and log the greeting')
    assert.equal(answer.valid, true, JSON.stringify(answer.issues))
    assert.equal(answer.rounds, 2)
    assert.equal(answer.saved, false)
    assert.equal(answer.explanation, 'Greets the user, then logs it.')
    assert.deepEqual(Object.keys(answer.definition['tasks'] as object).sort(), ['greet', 'record'])
    assert.equal(answer.usage.total_tokens, 240)

    const [first, repair] = chat.requests.slice(before)
    // The prompt lists the components really registered, with their schemas.
    const system = first!.messages[0]!.content
    assert.match(system, /core\.echo/)
    assert.match(system, /core\.fail/)
    assert.match(system, /input schema: \{/)
    assert.equal(first!.authorization, `Bearer ${API_KEY}`)
    // The validation error went back to the model, naming the unknown component.
    const feedback = repair!.messages.at(-1)!.content
    assert.match(feedback, /nosuch/)

    // Not saved: the workflow list does not have it.
    const list = await running.client.workflows.list({ search: 'greet_and_log' })
    assert.equal(list.items.length, 0)
  })

  test('save: true saves the generated workflow, which then runs', async () => {
    chat.script(JSON.stringify({ explanation: 'ok', workflow: validWorkflow }))
    const answer = await running.client.llm.createWorkflow('greet someone', { save: true })
    assert.equal(answer.saved, true)
    const workflowId = (answer.workflow as { workflow_id: string }).workflow_id
    const execution = await running.client.workflows.execute(
      workflowId,
      { input: { name: 'Ada' } },
      { wait: true },
    )
    assert.equal(execution.status, 'completed')
  })

  test('harmonia create "<sentence>" prints the draft, and --save saves it', async () => {
    chat.script(
      JSON.stringify({ explanation: 'first', workflow: { name: 'x', tasks: {} } }),
      JSON.stringify({ explanation: 'Greets and logs.', workflow: validWorkflow }),
    )
    const draft = await runCli(['create', 'greet someone and log it', '--server', running.server.url], {
      cwd: running.dir,
    })
    assert.equal(draft.code, 0, draft.stderr)
    assert.match(draft.stdout, /Greets and logs\./)
    assert.match(draft.stdout, /"greet_and_log"/)
    assert.match(draft.stdout, /not saved/)

    chat.script(JSON.stringify({ explanation: 'Greets.', workflow: validWorkflow }))
    const saved = await runCli(
      ['create', 'greet someone', '--save', '--json', '--server', running.server.url],
      {
        cwd: running.dir,
      },
    )
    assert.equal(saved.code, 0, saved.stderr)
    const answer = JSON.parse(saved.stdout) as { saved: boolean; workflow: { workflow_id: string } }
    assert.equal(answer.saved, true)
    const stored = await running.client.workflows.get(answer.workflow.workflow_id)
    assert.equal(stored.name, 'greet_and_log')
  })

  test('an answer that stays invalid is a draft with its issues, and save refuses it', async () => {
    const bad = JSON.stringify({
      explanation: 'x',
      workflow: { name: 'bad', tasks: { t: { component: 'nosuch', action: 'a' } } },
    })
    chat.script(bad, bad)
    const answer = await running.client.llm.createWorkflow('something', { max_repair_rounds: 1 })
    assert.equal(answer.valid, false)
    assert.equal(answer.rounds, 2)
    assert.ok(answer.issues.length > 0)
    chat.script(bad)
    await assert.rejects(
      running.client.llm.createWorkflow('something', { save: true, max_repair_rounds: 0 }),
      (error: unknown) => error instanceof HarmoniaApiError && error.code === 'validation_error',
    )
  })

  test('llm.generate with a schema rejects invalid JSON and repairs it; usage in the task output', async () => {
    const before = chat.requests.length
    chat.script(
      'Sure! Here is the answer: {city: Paris',
      JSON.stringify({ city: 'Paris', population: 2100000 }),
    )
    const execution = await running.client.executions.start(
      {
        workflow: {
          name: 'structured',
          input: { country: { type: 'string', required: true } },
          tasks: {
            ask: {
              component: 'llm',
              action: 'generate',
              input: {
                system: 'You answer geography questions.',
                prompt: 'Capital of ${workflow.input.country}?',
                schema: {
                  type: 'object',
                  required: ['city', 'population'],
                  properties: { city: { type: 'string' }, population: { type: 'integer' } },
                },
              },
            },
          },
          output: { answer: '${tasks.ask.output.json}' },
        },
        input: { country: 'France' },
      } as never,
      { wait: true },
    )
    assert.equal(execution.status, 'completed', JSON.stringify(execution))
    const detail = await running.client.executions.get(execution.execution_id)
    assert.deepEqual((detail as unknown as { output: unknown }).output, {
      answer: { city: 'Paris', population: 2100000 },
    })
    const task = detail.task_status['ask'] as unknown as { output: { usage: { total_tokens: number } } }
    assert.equal(task.output.usage.total_tokens, 240)
    const sent = chat.requests.slice(before)
    assert.equal(sent.length, 2)
    assert.match(sent[0]!.messages.map((m) => m.content).join('\n'), /Capital of France\?/)
    assert.match(sent[1]!.messages.at(-1)!.content, /JSON/)
  })

  test('a 429 then a 500 are retried; the answer after them is used', async () => {
    chat.script(
      { status: 429 },
      { status: 500 },
      JSON.stringify({ explanation: 'ok', workflow: validWorkflow }),
    )
    const answer = await running.client.llm.createWorkflow('greet someone')
    assert.equal(answer.valid, true)
    assert.equal(chat.pending(), 0)
  })

  test('a failed execution is explained by the model, with a patch; harmonia explain prints it', async () => {
    const workflow = await running.client.workflows.create({
      name: 'fetcher',
      tasks: {
        fetch: {
          component: 'core',
          action: 'fail',
          input: { code: 'HTTP_404', message: 'GET /items/7: 404 Not Found' },
        },
      },
    } as never)
    const failed = await running.client.workflows.execute(workflow.workflow_id, {}, { wait: true })
    assert.equal(failed.status, 'failed')

    const before = chat.requests.length
    chat.script(
      JSON.stringify({
        diagnosis: "Task 'fetch' asked for an item that does not exist (404).",
        suggested_fix: 'Retry is pointless; fix the item id or tolerate the failure.',
        patch: { tasks: { fetch: { on_failure: 'continue' } } },
      }),
    )
    const answer = await running.client.llm.explain(failed.execution_id)
    assert.equal(answer.source, 'llm', JSON.stringify(answer))
    assert.equal(answer.failed_task, 'fetch')
    assert.match(answer.diagnosis, /404/)
    assert.deepEqual(answer.patch, { tasks: { fetch: { on_failure: 'continue' } } })
    const prompt = chat.requests
      .slice(before)[0]!
      .messages.map((m) => m.content)
      .join('\n')
    assert.match(prompt, /HTTP_404/)
    assert.match(prompt, /fetcher/)

    // The CLI asks the same server.
    chat.script(
      JSON.stringify({ diagnosis: 'The item is missing (404).', suggested_fix: 'Fix the id.', patch: null }),
    )
    const cli = await runCli(['explain', failed.execution_id, '--server', running.server.url], {
      cwd: running.dir,
    })
    assert.equal(cli.code, 0, cli.stderr)
    const out = cli.stdout
    assert.match(out, /The item is missing \(404\)/)
    assert.match(out, /task fetch failed/)
  })

  test('the API key appears in no log line, no persisted data, no answer', async () => {
    const usage = await running.client.llm.usage()
    assert.equal(usage.configured, true)
    assert.ok(!JSON.stringify(usage).includes(API_KEY))
    for (const route of ['/api/v1/components', '/api/v1/components/llm', '/health', '/openapi.json']) {
      const answer = await fetch(`${running.server.url}${route}`)
      assert.equal(answer.status, 200, route)
      assert.ok(!(await answer.text()).includes(API_KEY), route)
    }
    // A 401 answer echoing the key must not carry it into errors or logs.
    chat.script({ status: 401, body: { error: { message: `Incorrect API key provided: ${API_KEY}` } } })
    const failure = await running.client.llm.createWorkflow('x').catch((error: unknown) => error)
    assert.ok(failure instanceof HarmoniaApiError)
    assert.equal(failure.code, 'llm_error')
    assert.ok(!JSON.stringify({ message: failure.message, details: failure.details }).includes(API_KEY))

    // An llm task refused the same way: its failure is persisted (events, task rows) without the key.
    chat.script({ status: 401, body: { error: { message: `Incorrect API key provided: ${API_KEY}` } } })
    const refused = await running.client.executions.start(
      {
        workflow: {
          name: 'refused',
          tasks: { ask: { component: 'llm', action: 'generate', input: { prompt: 'hi' } } },
        },
      } as never,
      { wait: true },
    )
    assert.equal(refused.status, 'failed')
    const events = await running.client.executions.events(refused.execution_id)
    assert.ok(JSON.stringify(events).includes('HTTP_401'), JSON.stringify(events))
    assert.ok(!JSON.stringify(events).includes(API_KEY), 'the key is in the events')

    assert.ok(running.logs.text.includes('llm'), 'the LLM calls were logged')
    assert.ok(!running.logs.text.includes(API_KEY), 'the key is in the logs')
    await running.server.close()
    assert.ok(!(await allBytes(running.dir)).includes(API_KEY), 'the key is in the persisted data')
  })
})

describe('without an LLM configured', () => {
  let running: Running
  before(async () => {
    running = await startHarmonia(undefined)
  })
  after(async () => {
    await running?.server.close()
    if (running !== undefined) await rm(running.dir, { recursive: true, force: true })
  })

  test('explain answers a rule-based diagnosis; creating a workflow is not_configured', async () => {
    const failed = await running.client.executions.start(
      {
        workflow: {
          name: 'slow',
          tasks: { call: { component: 'core', action: 'delay', input: { ms: 5000 }, timeout: 0.2 } },
        },
      } as never,
      { wait: true },
    )
    assert.equal(failed.status, 'failed')
    const answer = await running.client.llm.explain(failed.execution_id)
    assert.equal(answer.source, 'rules')
    assert.equal(answer.failed_task, 'call')
    assert.equal(answer.category, 'timeout')
    assert.ok(answer.patch !== null, 'a timeout diagnosis suggests a patch')

    const refused = await running.client.llm.createWorkflow('anything').catch((error: unknown) => error)
    assert.ok(refused instanceof HarmoniaApiError)
    assert.equal(refused.code, 'not_configured')
    assert.match(refused.message, /HARMONIA_LLM_BASE_URL/)
  })

  test('optimize answers a static analysis', async () => {
    const workflow = await running.client.workflows.create({
      name: 'chained',
      tasks: {
        a: { component: 'core', action: 'echo', input: { x: 1 } },
        b: { component: 'core', action: 'echo', input: { y: 2 }, depends_on: ['a'] },
      },
    } as never)
    const report = await running.client.llm.optimize(workflow.workflow_id)
    assert.equal(report.source, 'static')
    assert.ok(
      report.findings.some((finding) => finding['kind'] === 'chained_without_data'),
      JSON.stringify(report),
    )
  })
})
