import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { InvalidRequestError } from '../../src/core/errors.ts'
import {
  applyInputPairs,
  buildInput,
  declaredInputSchema,
  parseInputValue,
  readInputFile,
} from '../../src/cli/input-args.ts'
import { makeTempDir, removeDir } from './cli-harness.ts'

describe('--input values', () => {
  it('parses JSON values and keeps anything else as text', () => {
    assert.equal(parseInputValue('3'), 3)
    assert.equal(parseInputValue('-2.5'), -2.5)
    assert.equal(parseInputValue('true'), true)
    assert.equal(parseInputValue('null'), null)
    assert.deepEqual(parseInputValue('[1,"a"]'), [1, 'a'])
    assert.deepEqual(parseInputValue('{"a":{"b":1}}'), { a: { b: 1 } })
    assert.equal(parseInputValue('"007"'), '007')
    assert.equal(parseInputValue('007'), '007')
    assert.equal(parseInputValue('Ada Lovelace'), 'Ada Lovelace')
    assert.equal(parseInputValue(''), '')
    assert.equal(parseInputValue('{not json'), '{not json')
  })

  it('builds nested objects from dotted keys; later pairs win; values may hold "="', () => {
    const input = applyInputPairs(['a.b=1', 'a.c.d=x', 'name=Ada', 'name=Grace', 'query=a=b'])
    assert.deepEqual(input, { a: { b: 1, c: { d: 'x' } }, name: 'Grace', query: 'a=b' })
  })

  it('keeps the typed text for fields the workflow declares strings, nested ones included', () => {
    const schema = declaredInputSchema({
      name: 'w',
      input: {
        version: { type: 'string' },
        count: { type: 'integer' },
        target: { type: 'object', properties: { tag: { type: 'string' } } },
      },
    })
    assert.ok(schema !== undefined)
    const input = applyInputPairs(['version=2.0', 'count=3', 'target.tag=007', 'other=1.5'], {}, schema)
    assert.deepEqual(input, { version: '2.0', count: 3, target: { tag: '007' }, other: 1.5 })
    // A full input_schema is read the same way.
    const full = declaredInputSchema({
      name: 'w',
      input_schema: { type: 'object', properties: { id: { type: 'string' } } },
    })
    assert.deepEqual(applyInputPairs(['id=42'], {}, full), { id: '42' })
    assert.deepEqual(applyInputPairs(['id=42']), { id: 42 }, 'without a schema, JSON values stay typed')
  })

  it('applies pairs over a base without changing it', () => {
    const base = { a: { b: 1 }, keep: true }
    const input = applyInputPairs(['a.c=2'], base)
    assert.deepEqual(input, { a: { b: 1, c: 2 }, keep: true })
    assert.deepEqual(base, { a: { b: 1 }, keep: true })
  })

  it('rejects a pair without a key, an empty segment, a reserved name and a key below a scalar', () => {
    const cases: Array<[string[], RegExp]> = [
      [['novalue'], /--input 'novalue' is not key=value/],
      [['=3'], /--input '=3' is not key=value/],
      [['a..b=1'], /--input 'a..b' has an empty key segment/],
      [['__proto__.polluted=1'], /--input '__proto__.polluted' uses the reserved name '__proto__'/],
      [['a.constructor=1'], /uses the reserved name 'constructor'/],
      [['a=1', 'a.b=2'], /--input 'a.b': 'a' is already set to 1, not an object/],
    ]
    for (const [pairs, message] of cases) {
      assert.throws(
        () => applyInputPairs(pairs),
        (error: unknown) =>
          error instanceof InvalidRequestError &&
          error.code === 'invalid_request' &&
          message.test(error.message),
        pairs.join(' '),
      )
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined)
  })
})

describe('--input-file', () => {
  let dir: string
  before(async () => {
    dir = await makeTempDir()
    await writeFile(path.join(dir, 'in.json'), '{"urls": ["http://a"], "n": 2}')
    await writeFile(path.join(dir, 'in.yaml'), 'name: Ada\nnested:\n  flag: true\n')
    await writeFile(path.join(dir, 'list.json'), '[1, 2]')
    await writeFile(path.join(dir, 'bad.json'), '{"a": ')
    await writeFile(path.join(dir, 'bad.yaml'), 'a: [1, 2\n')
  })
  after(() => removeDir(dir))

  it('reads JSON and YAML objects', async () => {
    assert.deepEqual(await readInputFile('in.json', dir), { urls: ['http://a'], n: 2 })
    assert.deepEqual(await readInputFile('in.yaml', dir), { name: 'Ada', nested: { flag: true } })
  })

  it('lets --input pairs override the file', async () => {
    assert.deepEqual(await buildInput({ file: 'in.yaml', pairs: ['nested.flag=false', 'x=1'], cwd: dir }), {
      name: 'Ada',
      nested: { flag: false },
      x: 1,
    })
  })

  it('names the file and the problem when it is missing, not an object, or not parseable', async () => {
    const expect = async (file: string, message: RegExp): Promise<void> => {
      await assert.rejects(
        readInputFile(file, dir),
        (error: unknown) =>
          error instanceof InvalidRequestError &&
          error.code === 'invalid_request' &&
          message.test(error.message),
      )
    }
    await expect('missing.json', /cannot read input file 'missing.json': no such file/)
    await expect('list.json', /input file 'list.json' must hold an object of input values, got a list/)
    await expect('bad.json', /input file 'bad.json' is not valid JSON/)
    await expect('bad.yaml', /input file 'bad.yaml' is not valid YAML/)
  })
})
