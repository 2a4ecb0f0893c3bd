import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { normalizeDefinition, parseDefinition, taskNameProblem } from '../../src/core/definition.ts'
import { InvalidRequestError } from '../../src/core/errors.ts'

function invalidRequest(message: string, details?: unknown) {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidRequestError, `expected InvalidRequestError, got ${String(error)}`)
    assert.equal(error.code, 'invalid_request')
    assert.equal(error.message, message)
    if (details !== undefined) assert.deepEqual(error.details, details)
    return true
  }
}

describe('parseDefinition', () => {
  test('JSON and YAML, guessed from the first character or chosen', () => {
    assert.deepEqual(parseDefinition('{"name": "w", "tasks": {}}'), { name: 'w', tasks: {} })
    assert.deepEqual(parseDefinition('name: w\ntasks:\n  a: {component: c, action: x, retry: 3}\n'), {
      name: 'w',
      tasks: { a: { component: 'c', action: 'x', retry: 3 } },
    })
    assert.deepEqual(parseDefinition('{"a": 1}', 'yaml'), { a: 1 })
  })

  test('JSON syntax errors say what and where (line and column)', () => {
    assert.throws(
      () => parseDefinition('{\n  "name": "w",\n  "tasks": }'),
      invalidRequest("definition is not valid JSON: unexpected '}', expected a value at line 3, column 12", {
        line: 3,
        column: 12,
        position: 28,
      }),
    )
    assert.throws(
      () => parseDefinition('{"a": 1'),
      invalidRequest('definition is not valid JSON: unexpected end of text at line 1, column 8'),
    )
    assert.throws(
      () => parseDefinition('{"a": 1,}'),
      invalidRequest(
        "definition is not valid JSON: unexpected '}', expected a property name in double quotes at line 1, column 9",
      ),
    )
    assert.throws(
      () => parseDefinition('{"a": 1} trailing'),
      invalidRequest(
        "definition is not valid JSON: unexpected 't' after the end of the document at line 1, column 10",
      ),
    )
    assert.throws(
      () => parseDefinition('{"a": "\\q"}'),
      invalidRequest('definition is not valid JSON: invalid escape in string at line 1, column 8'),
    )
    assert.throws(
      () => parseDefinition('{"a" 1}'),
      invalidRequest("definition is not valid JSON: unexpected '1', expected ':' at line 1, column 6"),
    )
    assert.throws(
      () => parseDefinition('[1 2]'),
      invalidRequest("definition is not valid JSON: unexpected '2', expected ',' or ']' at line 1, column 4"),
    )
  })

  test('YAML errors with line and column; duplicate keys and non-JSON values refused', () => {
    assert.throws(
      () => parseDefinition('name: w\ntasks: [1, 2\n'),
      invalidRequest(
        'definition is not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 3, column 1',
        { line: 3, column: 1 },
      ),
    )
    assert.throws(
      () => parseDefinition('name: a\nname: b\n'),
      (error: unknown) => {
        assert.ok(error instanceof InvalidRequestError)
        assert.match(
          error.message,
          /^definition is not valid YAML: Map keys must be unique at line 2, column 1$/,
        )
        return true
      },
    )
    assert.throws(
      () => parseDefinition('name: w\ntimeout: .inf\n'),
      invalidRequest('definition is not valid: timeout: Infinity is not a JSON number'),
    )
  })

  test('YAML alias bombs are refused', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    ].join('\n')
    assert.throws(
      () => parseDefinition(bomb),
      (error: unknown) => {
        assert.ok(error instanceof InvalidRequestError)
        assert.match(error.message, /^definition is not valid YAML: .*(alias|Alias)/)
        return true
      },
    )
  })

  test('YAML keys named __proto__ stay data', () => {
    const value = parseDefinition('name: w\n__proto__:\n  polluted: true\n') as Record<string, unknown>
    assert.deepEqual(Object.keys(value), ['name', '__proto__'])
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  test('empty text and non-text', () => {
    assert.throws(() => parseDefinition('  \n'), invalidRequest('definition is empty'))
    assert.throws(
      () => parseDefinition(42 as unknown as string),
      invalidRequest('definition must be text (JSON or YAML)'),
    )
  })
})

describe('normalizeDefinition', () => {
  test('tasks keyed by name: name filled from the key; Tekton aliases mapped', () => {
    const { definition, issues } = normalizeDefinition({
      name: 'w',
      version: 1.5,
      future_field: { kept: true },
      tasks: {
        fetch: { component: 'http', action: 'get', parameters: { url: 'x' } },
        parse: {
          name: 'Parse the page',
          component: 'core',
          action: 'echo',
          dependencies: ['fetch'],
          custom: 1,
        },
      },
    })
    assert.deepEqual(issues, [])
    assert.deepEqual(definition, {
      name: 'w',
      version: '1.5',
      future_field: { kept: true },
      tasks: {
        fetch: { name: 'fetch', component: 'http', action: 'get', input: { url: 'x' }, depends_on: [] },
        parse: {
          name: 'parse',
          title: 'Parse the page',
          component: 'core',
          action: 'echo',
          custom: 1,
          depends_on: ['fetch'],
        },
      },
    })
  })

  test('input wins over parameters, which then stays as given', () => {
    const { definition } = normalizeDefinition({
      name: 'w',
      tasks: { a: { component: 'c', action: 'x', input: { a: 1 }, parameters: { p: 1 } } },
    })
    assert.deepEqual(definition.tasks.a, {
      name: 'a',
      component: 'c',
      action: 'x',
      input: { a: 1 },
      parameters: { p: 1 },
      depends_on: [],
    })
  })

  test('tasks as a list of objects with name', () => {
    const { definition, issues } = normalizeDefinition({
      name: 'w',
      tasks: [
        { name: 'a', component: 'c', action: 'x' },
        { name: 'b', component: 'c', action: 'x', depends_on: ['a'] },
      ],
    })
    assert.deepEqual(issues, [])
    assert.deepEqual(Object.keys(definition.tasks), ['a', 'b'])
    assert.deepEqual(definition.tasks.b?.depends_on, ['a'])
  })

  test('list problems: duplicates name both positions, names missing, items not objects', () => {
    const { issues } = normalizeDefinition({
      name: 'w',
      tasks: [
        { name: 'a', component: 'c', action: 'x' },
        'b',
        { component: 'c', action: 'x' },
        { name: 'a', component: 'c', action: 'y' },
      ],
    })
    assert.deepEqual(issues, [
      { field: 'tasks[1]', message: 'expected a task object, got "b"' },
      { field: 'tasks[2].name', message: 'is required' },
      { task: 'a', field: 'tasks[3].name', message: "duplicate task name 'a': tasks[0] and tasks[3]" },
    ])
  })

  test('definition-level problems', () => {
    assert.deepEqual(normalizeDefinition(null).issues, [
      { message: 'a workflow definition must be an object, got null' },
    ])
    assert.deepEqual(normalizeDefinition([1]).issues, [
      { message: 'a workflow definition must be an object, got a list' },
    ])
    assert.deepEqual(normalizeDefinition({}).issues, [
      { field: 'name', message: 'is required' },
      { field: 'tasks', message: 'is required' },
    ])
    assert.deepEqual(
      normalizeDefinition({
        name: '  ',
        tasks: 'x',
        description: 1,
        input: [],
        output: 'x',
        on_failure: 'explode',
        timeout: -1,
        concurrency: 1.5,
      }).issues,
      [
        { field: 'name', message: 'must not be blank' },
        { field: 'description', message: 'expected a string, got 1' },
        { field: 'input', message: 'expected an object mapping input names to their types, got a list' },
        {
          field: 'output',
          message: 'expected an object mapping output names to values or expressions, got "x"',
        },
        { field: 'on_failure', message: 'expected one of fail, continue, got "explode"' },
        { field: 'timeout', message: 'expected a positive number of seconds, got -1' },
        { field: 'concurrency', message: 'expected a positive integer, got 1.5' },
        { field: 'tasks', message: 'expected an object keyed by task name or a list of tasks, got "x"' },
      ],
    )
    assert.deepEqual(normalizeDefinition({ name: 'w', tasks: {} }).issues, [
      { field: 'tasks', message: 'must hold at least one task' },
    ])
  })

  test('task problems, every one named by task and field', () => {
    const { issues } = normalizeDefinition({
      name: 'w',
      tasks: {
        fetch: {
          component: '',
          timeout: 'x',
          retry: 'often',
          when: true,
          for_each: 3,
          concurrency: 0,
          on_failure: 'ignore',
          trigger_rule: 'sometimes',
          depends_on: ['a', 2],
          metadata: [],
          title: 5,
        },
        b: 'not a task',
        c: { component: 'x', action: 'y', depends_on: 'a' },
        d: { name: 7, component: 'x', action: 'y', dependencies: ['a'], depends_on: ['b'] },
      },
    })
    assert.deepEqual(issues, [
      { task: 'fetch', field: 'component', message: 'must not be blank' },
      { task: 'fetch', field: 'action', message: 'is required' },
      { task: 'fetch', field: 'title', message: 'expected a string, got 5' },
      { task: 'fetch', field: 'depends_on[1]', message: 'expected a task name, got 2' },
      { task: 'fetch', field: 'timeout', message: 'expected a positive number of seconds, got "x"' },
      {
        task: 'fetch',
        field: 'retry',
        message: 'expected a number of retries or a retry policy object, got "often"',
      },
      { task: 'fetch', field: 'when', message: 'expected a condition (a string), got true' },
      { task: 'fetch', field: 'for_each', message: 'expected a list or an expression giving a list, got 3' },
      { task: 'fetch', field: 'concurrency', message: 'expected a positive integer, got 0' },
      { task: 'fetch', field: 'on_failure', message: 'expected one of fail, continue, got "ignore"' },
      {
        task: 'fetch',
        field: 'trigger_rule',
        message: 'expected one of none_failed_min_one_success, all_success, all_done, got "sometimes"',
      },
      { task: 'fetch', field: 'metadata', message: 'expected an object, got a list' },
      { task: 'b', message: 'expected a task object, got "not a task"' },
      { task: 'c', field: 'depends_on', message: 'expected a list of task names, got "a"' },
      { task: 'd', field: 'name', message: 'expected a string, got 7' },
      { task: 'd', field: 'dependencies', message: 'differs from depends_on; give only one of them' },
    ])
  })

  test('task names: not blank, not too long, no control characters, not __proto__', () => {
    assert.equal(taskNameProblem('fetch page'), undefined)
    assert.equal(taskNameProblem(' '), 'task name must not be blank')
    assert.equal(taskNameProblem('a'.repeat(201)), 'task name is longer than 200 characters')
    assert.equal(taskNameProblem('a\nb'), 'task name must not hold control characters')
    const { issues, definition } = normalizeDefinition(
      JSON.parse('{"name": "w", "tasks": {"__proto__": {"component": "c", "action": "x"}}}'),
    )
    assert.deepEqual(issues, [
      { task: '__proto__', message: "'__proto__' is reserved and cannot name a task" },
    ])
    assert.equal(Object.getPrototypeOf(definition.tasks), Object.prototype)
  })

  test("Tekton's template files normalize; their missing actions are reported", async () => {
    const file = JSON.parse(
      await readFile(new URL('../fixtures/tekton-templates/bug_fix.json', import.meta.url), 'utf8'),
    ) as { workflow_definition: unknown }
    const { definition, issues } = normalizeDefinition(file.workflow_definition)
    assert.deepEqual(Object.keys(definition.tasks), ['investigate', 'fix', 'verify'])
    assert.equal(definition.tasks.fix?.title, 'Fix Bug')
    assert.deepEqual(definition.tasks.fix?.depends_on, ['investigate'])
    assert.deepEqual(definition.tasks.fix?.input, {
      root_cause: '{{ investigate.output.root_cause }}',
      fix_strategy: '{{ investigate.output.recommended_fix }}',
    })
    assert.deepEqual(issues, [
      { task: 'investigate', field: 'action', message: 'is required' },
      { task: 'fix', field: 'action', message: 'is required' },
      { task: 'verify', field: 'action', message: 'is required' },
    ])
  })

  test('normalizing a normalized definition changes nothing', () => {
    const first = normalizeDefinition({
      name: 'w',
      tasks: { a: { name: 'A', component: 'c', action: 'x', dependencies: [], parameters: { p: 1 } } },
    }).definition
    const second = normalizeDefinition(structuredClone(first))
    assert.deepEqual(second.issues, [])
    assert.deepEqual(second.definition, first)
  })
})
