import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ExpressionScope } from '../../src/core/compiled-workflow.ts'
import { ExpressionError } from '../../src/core/errors.ts'
import {
  analyzeCondition,
  analyzeValue,
  compileCondition,
  compileValue,
  type ExpressionRoot,
} from '../../src/core/expressions.ts'
import { scanTemplate } from '../../src/core/expression-template.ts'
import type { JsonValue } from '../../src/core/model.ts'

function scope(overrides: Partial<ExpressionScope> = {}): ExpressionScope {
  const input = { name: 'Ann', n: 3, items: [1, 2, 3], nested: { list: ['x', 'y'] }, flag: true }
  return {
    workflow: { input, id: 'wf-1', name: 'greet', version: '2' },
    input,
    tasks: {
      a: {
        status: 'completed',
        output: { count: 5, ratio: 0.5, names: ['p', 'q'], obj: { k: 1 }, ok: true },
      },
      bad: { status: 'failed', error: { code: 'BOOM', message: 'it broke', retriable: false } },
    },
    execution: { id: 'ex-1', workflow_id: 'wf-1', started_at: '2024-01-01T00:00:00.000Z' },
    context: { execution_id: 'ex-1', attempt: 1 },
    env: { REGION: 'eu' },
    item: { id: 7 },
    item_index: 2,
    ...overrides,
  }
}

const where = { task: 't', field: 'input' }

function evaluate(value: JsonValue, s: ExpressionScope = scope()): JsonValue {
  return compileValue(value, where).evaluate(s)
}

function expressionError(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ExpressionError, `expected ExpressionError, got ${String(error)}`)
    assert.equal(error.code, 'expression_error')
    assert.match(error.message, pattern)
    return true
  }
}

describe('template scanning', () => {
  test('splits text and expressions, honouring string literals and nested braces', () => {
    const scan = scanTemplate('a ${ {"x": "}"}.x } b ${\'{\'} c')
    assert.ok(scan.ok)
    assert.deepEqual(scan.segments, [
      { kind: 'text', text: 'a ' },
      { kind: 'expression', source: ' {"x": "}"}.x ', offset: 4 },
      { kind: 'text', text: ' b ' },
      { kind: 'expression', source: "'{'", offset: 24 },
      { kind: 'text', text: ' c' },
    ])
  })

  test('$${ is a literal ${ and a lone $ stays', () => {
    const scan = scanTemplate('cost: $5, $${raw}')
    assert.ok(scan.ok)
    assert.deepEqual(scan.segments, [{ kind: 'text', text: 'cost: $5, ${raw}' }])
  })

  test('raw strings do not treat backslashes as escapes; triple quotes may hold quotes', () => {
    const raw = scanTemplate('${r"\\"}')
    assert.ok(raw.ok)
    assert.deepEqual(raw.segments, [{ kind: 'expression', source: 'r"\\"', offset: 2 }])
    const triple = scanTemplate('${"""a"}"b"""}')
    assert.ok(triple.ok)
    assert.deepEqual(triple.segments, [{ kind: 'expression', source: '"""a"}"b"""', offset: 2 }])
  })

  test('reports unterminated expressions and strings with their offset', () => {
    assert.deepEqual(scanTemplate('ab ${x'), {
      ok: false,
      error: { offset: 3, message: "unterminated expression: '${' has no closing '}'" },
    })
    assert.deepEqual(scanTemplate('${"abc}'), {
      ok: false,
      error: { offset: 2, message: 'unterminated string literal in expression' },
    })
  })
})

describe('compileValue', () => {
  test('a string that is exactly one expression yields the typed value', () => {
    assert.equal(evaluate('${workflow.input.n}'), 3)
    assert.equal(evaluate('${input.flag}'), true)
    assert.deepEqual(evaluate('${tasks.a.output.obj}'), { k: 1 })
    assert.deepEqual(evaluate('${[1, 2.5, "a", null]}'), [1, 2.5, 'a', null])
    assert.deepEqual(evaluate('${ {"a": 1}.a }'), 1)
    assert.equal(evaluate('${"}"}'), '}')
  })

  test('text around expressions interpolates; non-strings are written as JSON', () => {
    assert.equal(evaluate('Hello ${workflow.input.name}!'), 'Hello Ann!')
    assert.equal(
      evaluate('n=${workflow.input.n} obj=${tasks.a.output.obj} list=${input.items} ${null}'),
      'n=3 obj={"k":1} list=[1,2,3] null',
    )
    assert.equal(evaluate('$${literal} and ${1 + 2}'), '${literal} and 3')
  })

  test('constants are returned as the very same object, walked never again', () => {
    const value = { a: [1, { b: 'text without expressions' }], c: null }
    const compiled = compileValue(value, where)
    assert.equal(compiled.constant, true)
    assert.equal(compiled.evaluate(scope()), value)
    const escaped = compileValue({ a: 'keep $${this}' }, where)
    assert.equal(escaped.constant, true)
    assert.deepEqual(escaped.evaluate(scope()), { a: 'keep ${this}' })
  })

  test('expressions anywhere inside lists and objects, with constant parts kept', () => {
    const shared = { fixed: true }
    const compiled = compileValue(
      { list: ['${item_index + 1}', shared], deep: { name: '${input.name}' } },
      where,
    )
    assert.equal(compiled.constant, false)
    const out = compiled.evaluate(scope()) as { list: JsonValue[]; deep: JsonValue }
    assert.deepEqual(out, { list: [3, { fixed: true }], deep: { name: 'Ann' } })
    assert.equal(out.list[1], shared)
  })

  test('keys such as __proto__ and constructor in values stay plain data', () => {
    const value = JSON.parse(
      '{"__proto__": {"polluted": "${input.name}"}, "constructor": "${input.n}"}',
    ) as JsonValue
    const out = evaluate(value) as Record<string, JsonValue>
    assert.deepEqual(Object.keys(out), ['__proto__', 'constructor'])
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { polluted: 'Ann' })
    assert.equal(out.constructor, 3)
    assert.equal(Object.getPrototypeOf(out), Object.prototype)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  test('namespaces: workflow, input, tasks, execution, context, env, item, item_index', () => {
    assert.deepEqual(
      evaluate({
        id: '${workflow.id}',
        name: '${workflow.name}',
        version: '${workflow.version}',
        input: '${input.name}',
        status: '${tasks.bad.status}',
        code: '${tasks.bad.error.code}',
        execution: '${execution.id}',
        context: '${context.attempt}',
        region: '${env.REGION}',
        item: '${item.id}',
        index: '${item_index}',
        indexed: '${tasks["a"].output.names[1]}',
      }),
      {
        id: 'wf-1',
        name: 'greet',
        version: '2',
        input: 'Ann',
        status: 'failed',
        code: 'BOOM',
        execution: 'ex-1',
        context: 1,
        region: 'eu',
        item: 7,
        index: 2,
        indexed: 'q',
      },
    )
  })
})

describe('typing: JSON numbers are doubles, CEL literals ints', () => {
  test('mixed int and double arithmetic and comparison', () => {
    assert.equal(evaluate('${tasks.a.output.count > 3}'), true)
    assert.equal(evaluate('${tasks.a.output.count + 1}'), 6)
    assert.equal(evaluate('${item_index + 1}'), 3)
    assert.equal(evaluate('${item_index * 2 - 1}'), 3)
    assert.equal(evaluate('${1 - tasks.a.output.ratio}'), 0.5)
    assert.equal(evaluate('${tasks.a.output.count / 2}'), 2.5)
    assert.equal(evaluate('${item_index % 2 == 0}'), true)
    assert.equal(evaluate('${tasks.a.output.count % 3.0}'), 2)
    assert.equal(evaluate('${1.0 == 1}'), true)
    assert.equal(evaluate('${2 != 2.0}'), false)
    assert.equal(evaluate('${workflow.input.n == 3}'), true)
    assert.equal(evaluate('${workflow.input.n in [1, 2, 3]}'), true)
  })

  test('integer division stays integer, as in CEL', () => {
    assert.equal(evaluate('${7 / 2}'), 3)
  })

  test('results are plain JSON: ints to numbers, maps to objects, bytes to base64, optionals unwrapped', () => {
    const out = evaluate({
      int: '${40 + 2}',
      map: '${ {1: "a", "b": [1u, 2]} }',
      bytes: '${b"hi"}',
      time: '${timestamp("2024-01-01T00:00:00Z")}',
      duration: '${duration("90s")}',
      some: '${tasks.a.output.?count}',
      none: '${tasks.a.output.?missing}',
      set: '${[1, 2].map(x, x * 2)}',
    })
    assert.deepEqual(out, {
      int: 42,
      map: { 1: 'a', b: [1, 2] },
      bytes: 'aGk=',
      time: '2024-01-01T00:00:00.000Z',
      duration: '90s',
      some: 5,
      none: null,
      set: [2, 4],
    })
    assert.equal(typeof (out as { int: unknown }).int, 'number')
  })

  test('integers outside the safe range, infinities and types are errors, not silent losses', () => {
    assert.throws(
      () => evaluate('${9223372036854775807}'),
      expressionError(
        /^task 't', input: expression '9223372036854775807' gave integer 9223372036854775807 is outside the safe range/,
      ),
    )
    assert.throws(() => evaluate('${1.0 / 0.0}'), expressionError(/gave Infinity is not a finite number/))
    assert.throws(() => evaluate('${type(1)}'), expressionError(/gave a value of type type is not JSON/))
  })
})

describe('functions', () => {
  test("CEL's built-ins", () => {
    assert.deepEqual(
      evaluate({
        size: '${size(input.items)}',
        contains: '${input.name.contains("n")}',
        starts: '${input.name.startsWith("A")}',
        ends: '${input.name.endsWith("x")}',
        matches: '${input.name.matches("^A[a-z]+$")}',
        string: '${string(input.n)}',
        int: '${int("42")}',
        double: '${double("2.5")}',
        ternary: '${input.n > 2 ? "big" : "small"}',
        has: '${has(input.nested.list)}',
        hasNot: '${has(input.nested.missing)}',
        map: '${input.items.map(x, x * 10)}',
        filter: '${input.items.filter(x, x > 1)}',
        all: '${input.items.all(x, x > 0)}',
        exists: '${input.items.exists(x, x == 2)}',
        keys: '${tasks.a.output.obj.map(k, k)}',
      }),
      {
        size: 3,
        contains: true,
        starts: true,
        ends: false,
        matches: true,
        string: '3',
        int: 42,
        double: 2.5,
        ternary: 'big',
        has: true,
        hasNot: false,
        map: [10, 20, 30],
        filter: [2, 3],
        all: true,
        exists: true,
        keys: ['k'],
      },
    )
  })

  test("Harmonia's additions: lower, upper, trim, split, join, replace, json, parseJson, default", () => {
    assert.deepEqual(
      evaluate({
        lower: '${"ÄB".lower()}',
        upper: '${input.name.upper()}',
        trim: '${"  x ".trim()}',
        split: '${"a,b".split(",")}',
        join: '${tasks.a.output.names.join(", ")}',
        replace: '${"a-b-c".replace("-", "$&")}',
        json: '${json(tasks.a.output.obj)}',
        jsonInt: '${json({"n": 1})}',
        parsed: '${parseJson("{\\"a\\": [1, 2]}").a[1]}',
        missing: '${default(tasks.a.output.missing.deeper, "fallback")}',
        nullValue: '${default(null, 7)}',
        present: '${default(tasks.a.output.count, 0)}',
        outOfRange: '${default(input.items[9], -1)}',
      }),
      {
        lower: 'äb',
        upper: 'ANN',
        trim: 'x',
        split: ['a', 'b'],
        join: 'p, q',
        replace: 'a$&b$&c',
        json: '{"k":1}',
        jsonInt: '{"n":1}',
        parsed: 2,
        missing: 'fallback',
        nullValue: 7,
        present: 5,
        outOfRange: -1,
      },
    )
  })

  test('default() does not hide other errors', () => {
    assert.throws(() => evaluate('${default(1 + "a", 0)}'), expressionError(/no such overload/))
    assert.throws(() => evaluate('${default(int("x"), 0)}'), expressionError(/cannot evaluate/))
  })
})

describe('errors name the task, the field and the expression', () => {
  test('syntax errors at compile time, with the position in the field', () => {
    assert.throws(
      () => compileValue({ url: 'http://x/${tasks.a.output.(}' }, where),
      (error: unknown) => {
        assert.ok(error instanceof ExpressionError)
        assert.equal(error.code, 'expression_error')
        assert.match(
          error.message,
          /^task 't', input\.url: invalid expression 'tasks\.a\.output\.\(': .+ \(position 26\)$/,
        )
        assert.deepEqual((error.details as { field: string }).field, 'input.url')
        return true
      },
    )
  })

  test('unknown names are compile errors that list what can be read', () => {
    assert.throws(
      () => compileValue('${foo.bar}', where),
      expressionError(
        /^task 't', input: expression 'foo\.bar': unknown name 'foo' \(position 2\); expressions can read workflow, input, tasks, execution, context, env, item, item_index$/,
      ),
    )
  })

  test('type errors found at compile time', () => {
    assert.throws(
      () => compileValue('${1 + "a"}', where),
      expressionError(/invalid expression '1 \+ "a"': no such overload: int \+ string/),
    )
  })

  test('runtime errors: missing keys, failed conversions', () => {
    assert.throws(
      () => evaluate({ list: ['${tasks.a.output.nope}'] }),
      expressionError(
        /^task 't', input\.list\[0\]: expression 'tasks\.a\.output\.nope' cannot evaluate: No such key: nope$/,
      ),
    )
    assert.throws(() => evaluate('${tasks.later.output}'), expressionError(/No such key: later/))
  })

  test('field paths quote keys that are not identifiers', () => {
    const analysis = analyzeValue({ 'my key': '${bogus}' }, where)
    assert.equal(analysis.issues[0]?.field, 'input["my key"]')
  })

  test('roots can be restricted: item outside for_each', () => {
    const roots: ExpressionRoot[] = ['workflow', 'input', 'tasks']
    assert.throws(
      () => compileValue('${item.id}', where, roots),
      expressionError(/'item' is only available in the input of a task with for_each \(position 2\)/),
    )
    assert.throws(
      () => compileValue('${env.HOME}', where, roots),
      expressionError(/'env' is not available here/),
    )
    assert.equal(
      compileValue('${[1].map(item, item + 1)}', where, roots).evaluate(scope()) instanceof Array,
      true,
    )
  })
})

describe('conditions', () => {
  const when = { task: 't', field: 'when' }

  test('bare CEL or one ${...}', () => {
    assert.equal(compileCondition('tasks.a.output.ok == true', when).evaluate(scope()), true)
    assert.equal(compileCondition('${tasks.a.output.count > 9}', when).evaluate(scope()), false)
    assert.equal(compileCondition('  ${!tasks.a.output.ok}  ', when).evaluate(scope()), false)
    assert.equal(compileCondition('tasks.a.output.names[0] == "${x}"', when).evaluate(scope()), false)
    assert.equal(compileCondition('true', when).source, 'true')
  })

  test('must give a boolean', () => {
    assert.throws(
      () => compileCondition('tasks.a.output.count', when).evaluate(scope()),
      expressionError(
        /^task 't', when: expression 'tasks\.a\.output\.count' gave a number, expected true or false$/,
      ),
    )
    assert.throws(
      () => compileCondition('"yes"', when),
      expressionError(/^task 't', when: condition '"yes"' gives a string, expected a boolean$/),
    )
  })

  test('text around expressions is not a condition', () => {
    const analysis = analyzeCondition('${a} and ${b}', when)
    assert.deepEqual(analysis.issues, [
      {
        task: 't',
        field: 'when',
        message: 'a condition is one expression: write it bare (tasks.a.output.ok == true) or as one ${...}',
      },
    ])
    assert.throws(() => compileCondition('', when), expressionError(/condition is empty/))
  })
})

describe('references for validation', () => {
  test('tasks read statically, dynamically, env variables; macro variables shadow roots', () => {
    const analysis = analyzeValue(
      {
        a: '${tasks.x.output + tasks["y"].output}',
        b: ['${tasks[item.name].output}', '${env.HOME}', '${has(tasks.z.output)}'],
        c: '${[{"shadowed": 1}].map(tasks, tasks.shadowed)}',
        d: '${cel.bind(t, tasks.w, t.status)}',
      },
      where,
    )
    assert.deepEqual(analysis.issues, [])
    assert.deepEqual(
      analysis.references.tasks.map((r) => [r.name, r.field]),
      [
        ['x', 'input.a'],
        ['y', 'input.a'],
        ['z', 'input.b[2]'],
        ['w', 'input.d'],
      ],
    )
    assert.deepEqual(
      analysis.references.env.map((r) => r.name),
      ['HOME'],
    )
    assert.deepEqual(analysis.references.dynamicTaskFields, ['input.b[0]'])
    assert.deepEqual([...analysis.references.roots].sort(), ['env', 'item', 'tasks'])
  })
})
