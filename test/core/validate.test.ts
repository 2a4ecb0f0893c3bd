import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import type { ExpressionScope } from '../../src/core/compiled-workflow.ts'
import type { ActionHandler, ComponentResolver } from '../../src/core/component.ts'
import { ValidationError, type ValidationIssue } from '../../src/core/errors.ts'
import type { JsonValue, TaskDefinition } from '../../src/core/model.ts'
import { DEFAULT_RETRY_POLICY } from '../../src/core/retry-policy.ts'
import { MAX_REPORTED_ISSUES, compileWorkflow, validateWorkflow } from '../../src/core/validate.ts'

type RawTask = { [K in keyof TaskDefinition]?: unknown } & Record<string, unknown>

function task(extra: RawTask = {}): RawTask {
  return { component: 'core', action: 'echo', ...extra }
}

function wf(tasks: Record<string, RawTask>, extra: Record<string, unknown> = {}) {
  return { name: 'ingest', tasks, ...extra }
}

function scope(tasks: ExpressionScope['tasks'] = {}, input = {}): ExpressionScope {
  return {
    workflow: { input, id: 'wf', name: 'ingest' },
    input,
    tasks,
    execution: { id: 'ex', workflow_id: 'wf' },
    context: {},
    env: { REGION: 'eu' },
  }
}

function issuesOf(definition: unknown, options?: Parameters<typeof validateWorkflow>[1]): ValidationIssue[] {
  return validateWorkflow(definition, options)
}

describe('compileWorkflow', () => {
  test('compiles graph, expressions, policies and defaults into what the engine runs', () => {
    const compiled = compileWorkflow(
      wf(
        {
          fetch: task({ input: { url: '${workflow.input.url}' }, retry: 2, timeout: 1.5 }),
          parse: task({
            name: 'Parse',
            dependencies: ['fetch'],
            parameters: { body: '${tasks.fetch.output.body}' },
            when: 'tasks.fetch.status == "completed"',
          }),
          each: task({
            depends_on: ['parse'],
            for_each: '${tasks.parse.output.items}',
            input: { value: '${item * 10}', index: '${item_index}', url: '${tasks.fetch.output.body}' },
            concurrency: 3,
            on_failure: 'fail',
            trigger_rule: 'all_done',
          }),
        },
        {
          on_failure: 'continue',
          input: { url: { type: 'string', required: true } },
          output: { count: '${size(tasks.each.output)}' },
        },
      ),
      { defaults: { retry: { initial_delay_ms: 10 }, taskTimeoutSeconds: 30, forEachConcurrency: 7 } },
    )
    assert.deepEqual(compiled.order, ['fetch', 'parse', 'each'])
    assert.deepEqual([...compiled.tasks.keys()], ['fetch', 'parse', 'each'])
    const fetch = compiled.tasks.get('fetch')!
    assert.deepEqual(fetch.dependents, ['parse'])
    assert.deepEqual(fetch.retry, { ...DEFAULT_RETRY_POLICY, initialDelayMs: 10, maxAttempts: 3 })
    assert.equal(fetch.timeoutMs, 1500)
    assert.equal(fetch.concurrency, 7)
    assert.equal(fetch.onFailure, 'continue')
    assert.equal(fetch.triggerRule, 'none_failed_min_one_success')
    assert.deepEqual(fetch.input.evaluate(scope({}, { url: 'http://x' })), { url: 'http://x' })

    const parse = compiled.tasks.get('parse')!
    assert.deepEqual(parse.dependsOn, ['fetch'])
    assert.equal(parse.definition.title, 'Parse')
    assert.equal(parse.timeoutMs, 30_000)
    assert.equal(parse.retry.maxAttempts, 1)
    assert.equal(parse.when?.source, 'tasks.fetch.status == "completed"')
    assert.equal(parse.when?.evaluate(scope({ fetch: { status: 'completed' } })), true)

    const each = compiled.tasks.get('each')!
    assert.equal(each.concurrency, 3)
    assert.equal(each.onFailure, 'fail')
    assert.equal(each.triggerRule, 'all_done')
    const parsed = scope({
      fetch: { status: 'completed', output: { body: 'b' } },
      parse: { status: 'completed', output: { items: [1, 2] } },
    })
    assert.deepEqual(each.forEach?.evaluate(parsed), [1, 2])
    assert.deepEqual(each.input.evaluate({ ...parsed, item: 2, item_index: 1 }), {
      value: 20,
      index: 1,
      url: 'b',
    })

    assert.deepEqual(compiled.output?.evaluate(scope({ each: { status: 'completed', output: [1, 2] } })), {
      count: 2,
    })
    assert.deepEqual(compiled.prepareInput({ url: 'http://x' }), { url: 'http://x' })
    assert.throws(
      () => compiled.prepareInput({}),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.message === "input of workflow 'ingest' is invalid: input.url: is required",
    )
    // The compiled definition is the normalized one.
    assert.deepEqual(compiled.definition.tasks.parse, {
      name: 'parse',
      title: 'Parse',
      component: 'core',
      action: 'echo',
      when: 'tasks.fetch.status == "completed"',
      depends_on: ['fetch'],
      input: { body: '${tasks.fetch.output.body}' },
    })
  })

  test('a task without input gets {} and without expressions its input is constant', () => {
    const compiled = compileWorkflow(wf({ a: task() }))
    const a = compiled.tasks.get('a')!
    assert.equal(a.input.constant, true)
    assert.deepEqual(a.input.evaluate(scope()), {})
    assert.equal(a.concurrency, 100)
    assert.equal(a.timeoutMs, undefined)
    assert.equal(compiled.output, undefined)
  })

  test('throws one ValidationError listing every problem', () => {
    assert.throws(
      () =>
        compileWorkflow(
          wf({
            fetch: task({ timeout: 'x' }),
            store: task({ depends_on: ['fech'], input: '${tasks.fetch.output}' }),
          }),
        ),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError)
        assert.equal(error.code, 'validation_error')
        assert.equal(
          error.message,
          "workflow 'ingest' is invalid: task 'fetch', timeout: expected a positive number of seconds, got \"x\"; " +
            "task 'store', depends_on[0]: unknown task 'fech'; known tasks: fetch, store; did you mean 'fetch'?; " +
            "task 'store', input: refers to task 'fetch', which is not upstream of 'store'; add 'fetch' to depends_on",
        )
        assert.equal(error.issues.length, 3)
        return true
      },
    )
    assert.throws(
      () => compileWorkflow({ tasks: {} }),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.message ===
          'workflow definition is invalid: name: is required; tasks: must hold at least one task',
    )
  })
})

describe('validateWorkflow', () => {
  test('never throws, whatever it is given', () => {
    for (const value of [
      null,
      undefined,
      42,
      'text',
      [],
      { name: 'x', tasks: [null] },
      { name: 'x', tasks: { a: null } },
    ]) {
      const issues = issuesOf(value)
      assert.ok(issues.length > 0, JSON.stringify(value))
    }
    const circular: Record<string, unknown> = { component: 'c', action: 'a' }
    circular.input = { self: circular }
    assert.match(issuesOf(wf({ a: circular }))[0]!.message, /nests deeper than 512 levels/)
  })

  test('dependencies: unknown (with the closest name), self, cycles printed', () => {
    assert.deepEqual(
      issuesOf(
        wf({
          fetch: task(),
          parse: task({ depends_on: ['parse', 'fetc', 'zzz'] }),
          a: task({ depends_on: ['c'] }),
          b: task({ depends_on: ['a'] }),
          c: task({ depends_on: ['b'] }),
        }),
      ),
      [
        { task: 'parse', field: 'depends_on[0]', message: 'a task cannot depend on itself' },
        {
          task: 'parse',
          field: 'depends_on[1]',
          message: "unknown task 'fetc'; known tasks: fetch, parse, a, b, c; did you mean 'fetch'?",
        },
        {
          task: 'parse',
          field: 'depends_on[2]',
          message: "unknown task 'zzz'; known tasks: fetch, parse, a, b, c",
        },
        {
          task: 'a',
          field: 'depends_on',
          message: 'tasks depend on each other in a cycle: a -> c -> b -> a (each depends on the next)',
        },
      ],
    )
  })

  test('a cycle does not hide a reference to a task that is not upstream elsewhere', () => {
    const issues = issuesOf(
      wf({
        a: task({ depends_on: ['b'] }),
        b: task({ depends_on: ['a'] }),
        f: task(),
        g: task(),
        e: task({ depends_on: ['g'], input: { x: '${tasks.f.output}' } }),
        h: task({ depends_on: ['g', 'e'], input: { y: '${tasks.g.output}', z: '${tasks.e.output}' } }),
      }),
    )
    assert.deepEqual(
      issues.map((i) => [i.task, i.field]),
      [
        ['a', 'depends_on'],
        ['e', 'input.x'],
      ],
    )
    assert.match(issues[1]!.message, /refers to task 'f', which is not upstream of 'e'/)
  })

  test('duplicate names in a list of tasks', () => {
    assert.deepEqual(
      issuesOf({
        name: 'w',
        tasks: [
          { name: 'a', ...task() },
          { name: 'a', ...task() },
        ],
      }),
      [{ task: 'a', field: 'tasks[1].name', message: "duplicate task name 'a': tasks[0] and tasks[1]" }],
    )
  })

  test('expressions: syntax with position, references upstream only, unknown and self references', () => {
    assert.deepEqual(
      issuesOf(
        wf({
          a: task(),
          b: task({ depends_on: ['a'] }),
          c: task({
            depends_on: ['b'],
            input: {
              ok: '${tasks.a.output}',
              side: '${tasks.d.output}',
              self: '${tasks.c.output}',
              ghost: '${tasks.dd.output}',
              broken: 'x ${tasks.b.output.}',
            },
          }),
          d: task(),
        }),
      ),
      [
        {
          task: 'c',
          field: 'input.broken',
          message: "invalid expression 'tasks.b.output.': Expected IDENTIFIER, got EOF (position 19)",
        },
        {
          task: 'c',
          field: 'input.self',
          message: "refers to task 'c' itself; a task can read only tasks that run before it",
        },
        {
          task: 'c',
          field: 'input.ghost',
          message: "refers to unknown task 'dd'; known tasks: a, b, c, d; did you mean 'd'?",
        },
        {
          task: 'c',
          field: 'input.side',
          message: "refers to task 'd', which is not upstream of 'c'; add 'd' to depends_on",
        },
      ],
    )
  })

  test('item and item_index only in the input of a for_each task; for_each must be a list or an expression', () => {
    assert.deepEqual(
      issuesOf(
        wf({
          plain: task({ input: '${item}' }),
          looped: task({ for_each: [1, 2], input: '${item + item_index}', when: '${item_index > 0}' }),
          text: task({ for_each: 'items' }),
          source: task({ for_each: '${item}' }),
        }),
      ),
      [
        {
          task: 'plain',
          field: 'input',
          message:
            "expression 'item': 'item' is only available in the input of a task with for_each (position 2)",
        },
        {
          task: 'looped',
          field: 'when',
          message:
            "expression 'item_index > 0': 'item_index' is only available in the input of a task with for_each (position 2)",
        },
        {
          task: 'text',
          field: 'for_each',
          message:
            'expected a list or an expression giving a list (like ${workflow.input.items}), got plain text',
        },
        {
          task: 'source',
          field: 'for_each',
          message:
            "expression 'item': 'item' is only available in the input of a task with for_each (position 2)",
        },
      ],
    )
  })

  test('conditions must be able to give a boolean', () => {
    assert.deepEqual(issuesOf(wf({ a: task({ when: '"yes"' }) })), [
      { task: 'a', field: 'when', message: 'condition \'"yes"\' gives a string, expected a boolean' },
    ])
  })

  test('retry policies, timeouts, concurrency, on_failure and trigger_rule values', () => {
    assert.deepEqual(
      issuesOf(
        wf({
          a: task({
            retry: { max_attempts: 0 },
            timeout: 0,
            concurrency: -2,
            on_failure: 'skip',
            trigger_rule: 'any',
          }),
          b: task({ retry: 1000 }),
        }),
      ),
      [
        { task: 'a', field: 'timeout', message: 'expected a positive number of seconds, got 0' },
        { task: 'a', field: 'concurrency', message: 'expected a positive integer, got -2' },
        { task: 'a', field: 'on_failure', message: 'expected one of fail, continue, got "skip"' },
        {
          task: 'a',
          field: 'trigger_rule',
          message: 'expected one of none_failed_min_one_success, all_success, all_done, got "any"',
        },
        { task: 'a', field: 'retry.max_attempts', message: 'expected a value from 1 to 100, got 0' },
        { task: 'b', field: 'retry', message: 'expected a number of retries from 0 to 99, got 1000' },
      ],
    )
    assert.deepEqual(issuesOf(wf({ a: task() }), { defaults: { retry: -1 } }), [
      { field: 'default retry policy', message: 'expected a number of retries from 0 to 99, got -1' },
    ])
  })

  test('components and actions, when asked to check them', () => {
    const handler = {} as ActionHandler
    const resolver: ComponentResolver = {
      resolve: (component, action) => (component === 'http' && action === 'get' ? handler : undefined),
      actionsOf: (component) => (component === 'http' ? ['post', 'get'] : undefined),
    }
    const definition = wf({
      ok: task({ component: 'http', action: 'get' }),
      typo: task({ component: 'http', action: 'gett' }),
      nowhere: task({ component: 'ftp', action: 'get' }),
    })
    assert.deepEqual(issuesOf(definition, { components: resolver, unknownComponents: 'error' }), [
      {
        task: 'typo',
        field: 'action',
        message: "component 'http' has no action 'gett'; available actions: get, post",
      },
      { task: 'nowhere', field: 'component', message: "unknown component 'ftp'" },
    ])
    assert.deepEqual(issuesOf(definition, { components: resolver, unknownComponents: 'ignore' }), [])
    assert.deepEqual(issuesOf(definition, { components: resolver }), [])
  })

  test('output mapping: unknown tasks and item are reported', () => {
    assert.deepEqual(
      issuesOf(
        wf({ a: task() }, { output: { r: '${tasks.b.output}', i: '${item}', ok: '${tasks.a.output}' } }),
      ),
      [
        {
          field: 'output.i',
          message:
            "expression 'item': 'item' is only available in the input of a task with for_each (position 2)",
        },
        { field: 'output.r', message: "refers to unknown task 'b'; known tasks: a" },
      ],
    )
  })

  test('environment variables outside the allow-list', () => {
    const definition = wf({ a: task({ input: { region: '${env.REGION}', key: '${env["SECRET_KEY"]}' } }) })
    assert.deepEqual(issuesOf(definition, { envAllowList: ['REGION'] }), [
      {
        task: 'a',
        field: 'input.key',
        message: 'reads env.SECRET_KEY, which is not on the environment allow-list (allowed: REGION)',
      },
    ])
    assert.deepEqual(issuesOf(definition), [])
    assert.equal(issuesOf(definition, { envAllowList: [] }).length, 2)
  })

  test('input schema problems are definition problems', () => {
    assert.deepEqual(issuesOf(wf({ a: task() }, { input: { n: 'integer' } })), [
      {
        field: 'input.n',
        message:
          'expected an object describing the input (type, default, enum, format, description, required)',
      },
    ])
  })

  test('a definition with thousands of problems reports the first ones and a count', () => {
    const tasks: Record<string, RawTask> = {}
    for (let index = 0; index < 1500; index++) tasks[`t${index}`] = { component: 'c' }
    const issues = issuesOf(wf(tasks))
    assert.equal(issues.length, MAX_REPORTED_ISSUES + 1)
    assert.deepEqual(issues.at(-1), { message: 'and 500 more problems' })
  })
})

describe('scale', () => {
  test('a 20,000-task DAG with expressions compiles, and references deep upstream are found', () => {
    const tasks: Record<string, RawTask> = { t0: task({ input: { n: '${workflow.input.n}' } }) }
    for (let index = 1; index < 20_000; index++) {
      const deps = index < 3 ? [`t${index - 1}`] : [`t${index - 1}`, `t${index - 3}`]
      tasks[`t${index}`] = task({
        depends_on: deps,
        input: { previous: `\${tasks.t${index - 1}.output.n + 1}`, first: '${tasks.t0.output.n}' },
      })
    }
    const compiled = compileWorkflow(wf(tasks))
    assert.equal(compiled.order.length, 20_000)
    assert.equal(compiled.order[19_999], 't19999')
    assert.deepEqual(compiled.tasks.get('t100')?.dependents, ['t101', 't103'])
  })

  test('a wide fan-in of 20,000 tasks', () => {
    const tasks: Record<string, RawTask> = { root: task() }
    const leaves: string[] = []
    for (let index = 0; index < 20_000; index++) {
      tasks[`leaf${index}`] = task({ depends_on: ['root'], input: '${tasks.root.output}' })
      leaves.push(`leaf${index}`)
    }
    tasks.join = task({ depends_on: leaves, input: '${tasks.leaf19999.output}' })
    const compiled = compileWorkflow(wf(tasks))
    assert.equal(compiled.order.at(-1), 'join')
  })
})

describe('docs/expressions.md', () => {
  test('its example workflow compiles and evaluates as described', async () => {
    const doc = await readFile(new URL('../../docs/expressions.md', import.meta.url), 'utf8')
    const example = doc.split('```json')[1]!.split('```')[0]!
    const compiled = compileWorkflow(JSON.parse(example))
    const input = compiled.prepareInput({ items: [{ id: 1 }, { id: 2 }] })
    assert.deepEqual(input, { items: [{ id: 1 }, { id: 2 }], title: 'Report' })
    const base: ExpressionScope = { ...scope({}, input), workflow: { input, id: 'wf', name: 'report' } }
    const fetch = compiled.tasks.get('fetch')!
    const items = fetch.forEach!.evaluate(base) as JsonValue[]
    assert.deepEqual(
      items.map((item, index) => fetch.input.evaluate({ ...base, item, item_index: index })),
      [
        { url: 'https://api.example.com/items/1', attempt: 1 },
        { url: 'https://api.example.com/items/2', attempt: 2 },
      ],
    )
    base.tasks.fetch = {
      status: 'completed',
      output: [{ status: 200, body: { name: 'x' } }, { status: 500 }],
    }
    const summarize = compiled.tasks.get('summarize')!
    assert.equal(summarize.when?.evaluate(base), true)
    assert.deepEqual(summarize.input.evaluate(base), {
      title: 'REPORT',
      count: 2,
      ok: 1,
      first: 'x',
      note: 'totals are written ${like.this}',
    })
  })
})
