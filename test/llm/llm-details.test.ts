/**
 * The LLM provider and features in detail, against the scripted chat-completions server: timeouts and
 * retries, usage tally, non-retriable 4xx, the key masked in errors and logs; `llm.chat`; `llm.generate`
 * giving up after its repair rounds; the rule-based diagnosis of expression errors and invalid input;
 * secrets of upstream outputs redacted from what the model sees.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createLlmProvider, LlmError } from '../../src/llm/provider.ts'
import type { Logger } from '../../src/core/logger.ts'
import { call, startTestServer, type TestServer } from '../api/support.ts'
import { startFakeChatServer, type FakeChatServer } from './fake-chat-server.ts'

const API_KEY = 'sk-details-Key-0042-very-secret'

function captureLogger(lines: string[]): Logger {
  const make = (bound: Record<string, unknown>): Logger => {
    const write = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      void lines.push(JSON.stringify({ level, message, ...bound, ...fields }))
    return {
      debug: write('debug'),
      info: write('info'),
      warn: write('warn'),
      error: write('error'),
      child: (fields) => make({ ...bound, ...fields }),
    }
  }
  return make({})
}

describe('LLM provider', () => {
  let chat: FakeChatServer
  before(async () => {
    chat = await startFakeChatServer()
  })
  after(async () => chat?.close())

  test('a timed-out attempt is retried; usage is tallied by purpose; the key is in no log line', async () => {
    const lines: string[] = []
    const provider = createLlmProvider({
      baseUrl: chat.baseUrl,
      model: 'm',
      apiKey: API_KEY,
      timeoutMs: 300,
      maxRetries: 2,
      initialRetryDelayMs: 10,
      logger: captureLogger(lines),
    })
    chat.script({ delayMs: 1500, content: 'too late' }, 'in time')
    const answer = await provider.chat({ messages: [{ role: 'user', content: 'hi' }], purpose: 'component' })
    assert.equal(answer.content, 'in time')
    assert.equal(answer.attempts, 2)
    const usage = provider.usage()
    assert.equal(usage.requests, 1)
    assert.equal(usage.retries, 1)
    assert.equal(usage.total_tokens, 120)
    assert.equal(usage.by_purpose['component']?.total_tokens, 120)
    assert.ok(
      lines.some((line) => line.includes('"reason":"TIMEOUT"')),
      lines.join('\n'),
    )
    assert.ok(!lines.join('\n').includes(API_KEY))
  })

  test('a 400 is not retried; a 401 echoing the key fails without it', async () => {
    const lines: string[] = []
    const provider = createLlmProvider({
      baseUrl: chat.baseUrl,
      model: 'm',
      apiKey: API_KEY,
      maxRetries: 3,
      initialRetryDelayMs: 10,
      logger: captureLogger(lines),
    })
    const before = chat.requests.length
    chat.script({ status: 400, body: { error: { message: 'bad request' } } })
    const bad = await provider.chat({ messages: [{ role: 'user', content: 'x' }] }).catch((error) => error)
    assert.ok(bad instanceof LlmError)
    assert.equal(bad.retriable, false)
    assert.equal(chat.requests.length - before, 1)

    chat.script({ status: 401, body: { error: { message: `Incorrect API key provided: ${API_KEY}` } } })
    const denied = await provider.chat({ messages: [{ role: 'user', content: 'x' }] }).catch((error) => error)
    assert.ok(denied instanceof LlmError)
    assert.equal(denied.status, 401)
    assert.ok(!JSON.stringify({ m: denied.message, d: denied.details, s: denied.stack }).includes(API_KEY))
    assert.ok(!lines.join('\n').includes(API_KEY))
    assert.equal(provider.usage().failed_requests, 2)
  })

  test('a server that keeps answering 503 fails after maxRetries retries, retriable', async () => {
    const provider = createLlmProvider({
      baseUrl: chat.baseUrl,
      model: 'm',
      maxRetries: 2,
      initialRetryDelayMs: 5,
    })
    const before = chat.requests.length
    chat.script({ status: 503 }, { status: 503 }, { status: 503 })
    const failure = await provider
      .chat({ messages: [{ role: 'user', content: 'x' }] })
      .catch((error) => error)
    assert.ok(failure instanceof LlmError)
    assert.equal(failure.reason, 'SERVER_ERROR')
    assert.equal(failure.retriable, true)
    assert.equal(chat.requests.length - before, 3)
    // Without a key, no Authorization header is sent.
    assert.equal(chat.requests.at(-1)!.authorization, undefined)
  })
})

describe('LLM features in workflows and explanations', () => {
  let chat: FakeChatServer
  let server: TestServer
  before(async () => {
    chat = await startFakeChatServer()
    server = await startTestServer({
      flags: { llm: { baseUrl: chat.baseUrl, model: 'scripted', apiKey: API_KEY, maxRetries: 0 } },
    })
  })
  after(async () => {
    await server?.close()
    await chat?.close()
  })

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary task rows
  async function runInline(workflow: unknown, input: unknown = {}): Promise<any> {
    const started = await call(server.app, 'POST', '/api/v1/executions?wait=true', { workflow, input })
    assert.ok(started.status < 300, JSON.stringify(started.body))
    await server.harmonia.engine.waitForExecution(started.body.execution_id)
    return server.harmonia.engine.getExecution(started.body.execution_id)
  }

  test('llm.chat answers the next message with usage', async () => {
    chat.script('Bonjour !')
    const detail = await runInline(
      {
        name: 'chatty',
        tasks: {
          talk: {
            component: 'llm',
            action: 'chat',
            input: {
              messages: [
                { role: 'system', content: 'Answer in French.' },
                { role: 'user', content: 'Say hello to ${workflow.input.who}' },
              ],
            },
          },
        },
        input: { who: { type: 'string' } },
      },
      { who: 'Ada' },
    )
    assert.equal(detail.execution.status, 'completed', JSON.stringify(detail.execution.error))
    const output = detail.tasks.find((task: { task: string }) => task.task === 'talk').output
    assert.equal(output.message.content, 'Bonjour !')
    assert.equal(output.usage.total_tokens, 120)
    assert.equal(chat.requests.at(-1)!.messages[1]!.content, 'Say hello to Ada')
  })

  test('llm.generate gives up with LLM_INVALID_OUTPUT after its repair rounds', async () => {
    chat.script('not json', '{"still": "wrong"}')
    const detail = await runInline({
      name: 'stubborn',
      tasks: {
        ask: {
          component: 'llm',
          action: 'generate',
          input: {
            prompt: 'Give a number',
            schema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
            max_repair_rounds: 1,
          },
        },
      },
    })
    assert.equal(detail.execution.status, 'failed')
    const task = detail.tasks.find((entry: { task: string }) => entry.task === 'ask')
    assert.equal(task.error.code, 'LLM_INVALID_OUTPUT')
    assert.equal(chat.pending(), 0)
  })

  test('rule-based diagnosis of an expression error and of invalid input', async () => {
    const expression = await runInline({
      name: 'reads_missing',
      tasks: {
        a: { component: 'core', action: 'echo', input: { x: 1 } },
        b: { component: 'core', action: 'echo', input: { y: '${tasks.a.output.nokey}' }, depends_on: ['a'] },
      },
    })
    assert.equal(expression.execution.status, 'failed')
    const first = await call(
      server.app,
      'POST',
      `/api/v1/executions/${expression.execution.execution_id}/explain`,
      {
        use_llm: false,
      },
    )
    assert.equal(first.status, 200, JSON.stringify(first.body))
    assert.equal(first.body.source, 'rules')
    assert.equal(first.body.failed_task, 'b')
    assert.equal(first.body.category, 'expression_error', JSON.stringify(first.body))
    assert.match(first.body.diagnosis, /nokey/)

    const invalid = await runInline({
      name: 'bad_input',
      tasks: { f: { component: 'core', action: 'fail', input: { code: 'lower case is not allowed!' } } },
    })
    assert.equal(invalid.execution.status, 'failed')
    const second = await call(
      server.app,
      'POST',
      `/api/v1/executions/${invalid.execution.execution_id}/explain`,
      {
        use_llm: false,
      },
    )
    assert.equal(second.body.category, 'invalid_input', JSON.stringify(second.body))
    assert.match(second.body.diagnosis, /code/)

    const missing = await runInline({
      name: 'no_prompt',
      tasks: { ask: { component: 'llm', action: 'generate', input: { system: 'be brief' } } },
    })
    assert.equal(missing.execution.status, 'failed')
    const third = await call(
      server.app,
      'POST',
      `/api/v1/executions/${missing.execution.execution_id}/explain`,
      {
        use_llm: false,
      },
    )
    assert.equal(third.body.category, 'invalid_input', JSON.stringify(third.body))
    assert.match(third.body.diagnosis, /prompt/)
  })

  test('optimize: static findings, the critical path from past runs, and the model narrative', async () => {
    const created = await call(server.app, 'POST', '/api/v1/workflows', {
      name: 'slowish',
      tasks: {
        items: { component: 'core', action: 'echo', input: { list: [1, 2, 3] } },
        wait: { component: 'core', action: 'delay', input: { ms: 60 }, depends_on: ['items'] },
        each: {
          component: 'llm',
          action: 'generate',
          input: { prompt: 'n=${item}' },
          for_each: '${tasks.items.output.list}',
          depends_on: ['wait'],
        },
      },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const workflowId = created.body.workflow_id as string
    chat.script('a', 'b', 'c')
    const started = await call(server.app, 'POST', `/api/v1/workflows/${workflowId}/execute`, {})
    assert.ok(started.status < 300, JSON.stringify(started.body))
    const finished = await server.harmonia.engine.waitForExecution(started.body.execution_id)
    assert.equal(finished.status, 'completed', JSON.stringify(finished.error))

    chat.script('Make `wait` run alongside `items`, and give `each` a timeout and retries.')
    const report = await call(server.app, 'POST', `/api/v1/workflows/${workflowId}/optimize`, {})
    assert.equal(report.status, 200, JSON.stringify(report.body))
    const kinds = new Set(report.body.findings.map((finding: { kind: string }) => finding.kind))
    for (const kind of ['chained_without_data', 'missing_timeout', 'missing_retry', 'unbounded_fan_out']) {
      assert.ok(kinds.has(kind), `${kind} missing from ${JSON.stringify(report.body.findings)}`)
    }
    assert.deepEqual(report.body.critical_path.tasks, ['items', 'wait', 'each'])
    assert.ok(report.body.critical_path.task_durations.wait.avg_ms >= 50)
    assert.equal(report.body.source, 'static+llm')
    assert.match(report.body.narrative, /alongside/)
  })

  test('the model sees upstream outputs with secrets redacted', async () => {
    const detail = await runInline({
      name: 'leaky',
      tasks: {
        login: {
          component: 'core',
          action: 'echo',
          input: { user: 'ada', password: 'hunter2-PLAIN', token: 'tok-XYZ-123' },
        },
        use: {
          component: 'core',
          action: 'fail',
          input: { code: 'HTTP_403', message: 'forbidden for ${tasks.login.output.user}' },
          depends_on: ['login'],
        },
      },
    })
    assert.equal(detail.execution.status, 'failed')
    const before = chat.requests.length
    chat.script(
      JSON.stringify({
        diagnosis: 'Forbidden: the user lacks rights.',
        suggested_fix: 'Grant access.',
        patch: null,
      }),
    )
    const answer = await call(
      server.app,
      'POST',
      `/api/v1/executions/${detail.execution.execution_id}/explain`,
      {},
    )
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    assert.equal(answer.body.source, 'llm')
    const prompt = chat.requests
      .slice(before)
      .map((request) => JSON.stringify(request.messages))
      .join('\n')
    assert.match(prompt, /ada/)
    assert.ok(!prompt.includes('hunter2-PLAIN'), 'the password reached the model')
    assert.ok(!prompt.includes('tok-XYZ-123'), 'the token reached the model')
    assert.ok(!JSON.stringify(answer.body).includes('hunter2-PLAIN'))
  })
})
