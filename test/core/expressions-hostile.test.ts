/**
 * Hostile expressions: each must be rejected with an ExpressionError or evaluate harmlessly — never crash,
 * hang, reach JavaScript globals or pollute Object.prototype. Also: evaluation reads the scope in place,
 * so its cost does not grow with the number of tasks.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { after, describe, test } from 'node:test'
import type { ExpressionScope } from '../../src/core/compiled-workflow.ts'
import { ExpressionError } from '../../src/core/errors.ts'
import {
  analyzeValue,
  compileCondition,
  compileValue,
  EXPRESSION_LIMITS,
} from '../../src/core/expressions.ts'
import type { JsonObject, JsonValue } from '../../src/core/model.ts'
import { regexProblem } from '../../src/core/regex-safety.ts'

const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort()
after(() => {
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys)
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})

function scope(input: JsonObject = {}): ExpressionScope {
  return {
    workflow: { input, id: 'wf', name: 'w' },
    input,
    tasks: { a: { status: 'completed', output: { n: 1 } } },
    execution: { id: 'ex', workflow_id: 'wf' },
    context: {},
    env: {},
  }
}

const where = { task: 'evil', field: 'input' }

function rejected(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ExpressionError, `expected ExpressionError, got ${String(error)}`)
    assert.equal(error.code, 'expression_error')
    assert.match(error.message, pattern)
    return true
  }
}

/** Compiles and evaluates; the error, if any, must be an ExpressionError. */
function run(value: JsonValue, input: JsonObject = {}): JsonValue {
  return compileValue(value, where).evaluate(scope(input))
}

describe('no way out to JavaScript', () => {
  test('calling constructors is not even syntax', () => {
    assert.throws(
      () => run('${constructor.constructor("return process")()}'),
      rejected(
        /^task 'evil', input: invalid expression 'constructor\.constructor\("return process"\)\(\)': Unexpected character: '\('/,
      ),
    )
  })

  test('globals are unknown names', () => {
    for (const name of ['process.exit()', 'globalThis', 'this', 'window', 'module.exports']) {
      assert.throws(
        () => run(`\${${name}}`),
        rejected(/unknown name '(process|globalThis|this|window|module)'/),
      )
    }
    for (const call of ['require("fs")', 'Function("return 1")', 'eval("1")', 'import("fs")']) {
      assert.throws(
        () => run(`\${${call}}`),
        rejected(/no matching overload|Unexpected|Reserved identifier/),
        call,
      )
    }
  })

  test('prototype members cannot be read, only own data', () => {
    for (const expression of [
      'tasks.__proto__',
      'tasks["__proto__"]',
      'tasks.constructor',
      'workflow.input.__proto__.polluted',
      'input.constructor.name',
      'input.toString',
      'input.hasOwnProperty',
      'tasks.a.output.__defineGetter__',
    ]) {
      assert.throws(() => run(`\${${expression}}`), rejected(/No such key/), expression)
    }
  })

  test('keys named __proto__ and constructor in the data are plain data', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "prototype": 1}') as JsonObject
    assert.deepEqual(run('${input["__proto__"]}', input), { polluted: true })
    assert.equal(run('${input.prototype + 1}', input), 2)
    assert.deepEqual(run('${[input["__proto__"]]}', input), [{ polluted: true }])
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    // cel-js recognizes maps by their `constructor`: an object whose own key `constructor` hides it
    // cannot be read, and fails safely.
    const shadowing = { data: JSON.parse('{"constructor": "c", "x": 1}') as JsonObject }
    assert.throws(() => run('${input.data.x}', shadowing), rejected(/cannot evaluate: Unsupported type/))
    assert.throws(() => run('${input.data}', shadowing), rejected(/cannot evaluate: Unsupported type/))
  })

  test('a map literal with a __proto__ key gives a plain object without it', () => {
    const out = run('${ {"__proto__": {"polluted": true}, "a": 1} }') as Record<string, unknown>
    assert.equal(Object.getPrototypeOf(out), Object.prototype)
    assert.equal(out.polluted, undefined)
    assert.deepEqual(Object.keys(out), ['a'])
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  test('expression code holds no eval or Function constructor', async () => {
    for (const file of ['expressions.ts', 'expression-language.ts', 'expression-template.ts']) {
      const source = await readFile(new URL(`../../src/core/${file}`, import.meta.url), 'utf8')
      const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
      assert.doesNotMatch(code, /\beval\s*\(|new\s+Function\b|\bFunction\s*\(/, file)
    }
  })
})

describe('size and depth limits', () => {
  test('a 1 MB expression is refused before parsing', () => {
    const huge = `\${${'1 + '.repeat(250_000)}1}`
    assert.ok(huge.length > 1_000_000)
    assert.throws(
      () => run(huge),
      rejected(
        new RegExp(
          `^task 'evil', input: expression at position 2 is longer than ${EXPRESSION_LIMITS.maxExpressionLength} characters$`,
        ),
      ),
    )
  })

  test('10,000-deep parentheses and lists are refused', () => {
    assert.throws(() => run(`\${${'('.repeat(10_000)}1${')'.repeat(10_000)}}`), rejected(/longer than/))
    assert.throws(() => run(`\${${'['.repeat(10_000)}1${']'.repeat(10_000)}}`), rejected(/longer than/))
    assert.throws(
      () => run(`\${${'('.repeat(2000)}1${')'.repeat(2000)}}`),
      rejected(/Exceeded maxDepth \(48\)/),
    )
    assert.throws(() => run(`\${${'['.repeat(100)}1${']'.repeat(100)}}`), rejected(/Exceeded maxDepth/))
    assert.throws(() => run(`\${${'-'.repeat(4000)}1}`), rejected(/Exceeded maxAstNodes|nests too deeply/))
  })

  test('long chains within the limits evaluate harmlessly', () => {
    assert.equal(run(`\${${'!'.repeat(1500)}true}`), true)
    assert.equal(run(`\${1${' + 1'.repeat(900)}}`), 901)
  })

  test('values nested 10,000 deep in a definition are refused, not a stack overflow', () => {
    let deep: JsonValue = '${input.x}'
    for (let level = 0; level < 10_000; level++) deep = [deep]
    const analysis = analyzeValue(deep, where)
    assert.equal(analysis.issues.length, 1)
    assert.match(analysis.issues[0]!.message, /^value nests deeper than 512 levels$/)
  })

  test('results nested deeper than the limit are refused; selections pass data through untouched', () => {
    let deep: JsonValue = 1
    for (let level = 0; level < 5000; level++) deep = [deep]
    const input = { deep }
    assert.equal(run('${input.deep}', input), deep)
    assert.throws(
      () => run('${[input.deep]}', input),
      rejected(/gave the result nests deeper than 512 levels/),
    )
  })

  test('large literal lists and maps are refused', () => {
    const list = `\${[${Array.from({ length: 300 }, (_, i) => i).join(',')}]}`
    assert.throws(() => run(list), rejected(/Exceeded maxListElements \(256\)/))
    const map = `\${{${Array.from({ length: 300 }, (_, i) => `"k${i}": ${i}`).join(',')}}}`
    assert.throws(() => run(map), rejected(/Exceeded maxMapEntries \(256\)/))
  })
})

describe('no runaway work', () => {
  test('two nested macros evaluate; a third level is refused', () => {
    assert.deepEqual(run('${[1,2,3].map(x, [1,2,3].map(y, x * y))}'), [
      [1, 2, 3],
      [2, 4, 6],
      [3, 6, 9],
    ])
    assert.throws(
      () => run('${[1,2,3].map(x, [1,2,3].map(y, [1,2,3].map(z, x * y * z)))}'),
      rejected(/macros are nested more than 2 deep \(position 32\)/),
    )
    assert.throws(
      () => run('${[1].all(a, [1].exists(b, [1].filter(c, c > 0).size() > 0))}'),
      rejected(/macros are nested more than 2 deep/),
    )
  })

  test('the largest allowed nesting of literal lists finishes', () => {
    const list = `[${Array.from({ length: 250 }, (_, i) => i).join(',')}]`
    const out = run(`\${${list}.map(x, ${list}.filter(y, y == x).size())}`) as number[]
    assert.equal(out.length, 250)
    assert.ok(out.every((count) => count === 1))
  })

  test('string doubling through cel.bind is bounded by the nesting limit', () => {
    assert.throws(
      () => run('${cel.bind(a, "xxxxxxxx", cel.bind(b, a + a, cel.bind(c, b + b, c + c)))}'),
      rejected(/macros are nested more than 2 deep/),
    )
    assert.equal(run('${cel.bind(a, "xx", cel.bind(b, a + a, b + b))}'), 'xxxxxxxx')
  })

  test('there is no string repetition operator or function', () => {
    assert.throws(() => run('${"a" * 1000000000}'), rejected(/no such overload: string \* int/))
    assert.throws(() => run('${"a".repeat(1000000000)}'), rejected(/invalid expression/))
  })

  test('regular expressions with catastrophic backtracking are refused; patterns must be literal', () => {
    assert.throws(
      () => run('${"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!".matches("(a+)+$")}'),
      rejected(/repeats a group that itself repeats/),
    )
    assert.throws(
      () => compileCondition('input.s.matches(input.pattern)', { task: 'evil', field: 'when' }),
      rejected(
        /^task 'evil', when: expression 'input\.s\.matches\(input\.pattern\)': matches\(\) takes a literal pattern/,
      ),
    )
    assert.equal(run('${"abc".matches("^a(b|c)+$")}'), true)
  })

  test('regexProblem recognizes nested quantifiers and lets ordinary patterns through', () => {
    for (const bad of ['(a+)+', '(\\w*)*$', '(x{2,})+', '((ab)*c)+', '(?:a|b+)*', '([a-z]+\\d?)*']) {
      assert.match(regexProblem(bad) ?? '', /repeats a group/, bad)
    }
    for (const good of [
      '^a+$',
      '(ab)+',
      '[a-z]+(-[a-z]+)?',
      '^\\d{3}-\\d{4}$',
      '(\\+)+',
      '[(a+)]+',
      '(a{1})+',
    ]) {
      assert.equal(regexProblem(good), undefined, good)
    }
    assert.match(regexProblem('(') ?? '', /^invalid regular expression/)
    assert.match(regexProblem('a'.repeat(1001)) ?? '', /longer than 1000/)
  })
})

describe('cost does not grow with the scope', () => {
  test('evaluation reads only the tasks it names: no copy or walk of a 20,000-task scope', () => {
    const tasks: ExpressionScope['tasks'] = {}
    for (let index = 0; index < 20_000; index++) {
      tasks[`t${index}`] = { status: 'completed', output: { count: index } }
    }
    let traps = 0
    let enumerations = 0
    const watched = new Proxy(tasks, {
      get(target, key, receiver) {
        traps++
        return Reflect.get(target, key, receiver) as unknown
      },
      getOwnPropertyDescriptor(target, key) {
        traps++
        return Reflect.getOwnPropertyDescriptor(target, key)
      },
      has(target, key) {
        traps++
        return Reflect.has(target, key)
      },
      ownKeys(target) {
        enumerations++
        return Reflect.ownKeys(target)
      },
    })
    const s = { ...scope(), tasks: watched }
    const value = compileValue(
      { n: '${tasks.t19999.output.count + 1}', ok: '${tasks["t5"].status == "completed"}' },
      where,
    )
    const condition = compileCondition('tasks.t7.output.count > 3', { task: 'evil', field: 'when' })
    assert.equal(condition.evaluate(s), true)
    traps = 0
    assert.deepEqual(value.evaluate(s), { n: 20_000, ok: true })
    const trapsPerRound = traps
    assert.ok(trapsPerRound <= 30, `a round touched the tasks object ${trapsPerRound} times`)
    traps = 0
    for (let round = 0; round < 20_000; round++) {
      const out = value.evaluate(s) as { n: number }
      if (out.n !== 20_000) assert.fail('wrong result')
    }
    assert.equal(enumerations, 0)
    assert.equal(traps, trapsPerRound * 20_000)
  })
})

describe('secrets stay out of error messages', () => {
  test('environment values are masked where a failed conversion would quote them', () => {
    const s = { ...scope(), env: { TOKEN: 'hunter2-secret' } }
    for (const expression of [
      'duration(env.TOKEN)',
      'bool(env.TOKEN)',
      '{"k": 1}[env.TOKEN]',
      'parseJson(env.TOKEN)',
    ]) {
      assert.throws(
        () => compileValue(`\${${expression}}`, where).evaluate(s),
        (error: unknown) => {
          assert.ok(error instanceof ExpressionError)
          assert.doesNotMatch(error.message, /hunter2/, expression)
          return true
        },
      )
    }
    assert.throws(
      () => compileValue('${{"k": 1}[env.TOKEN]}', where).evaluate(s),
      rejected(/No such key: \*\*\*$/),
    )
  })
})
