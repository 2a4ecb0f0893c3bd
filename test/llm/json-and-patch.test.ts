/** The pure helpers: JSON extraction from a model's text, schema checks, merge patches, redaction. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileJsonSchema, extractJson } from '../../src/llm/json-output.ts'
import { applyMergePatch, combineMergePatches } from '../../src/llm/merge-patch.ts'
import { redactAndTrim } from '../../src/llm/redaction.ts'

test('extractJson takes the whole text, a fenced block, or the first balanced value; else names the problem', () => {
  assert.deepEqual(extractJson('{"a": 1}'), { ok: true, value: { a: 1 } })
  assert.deepEqual(extractJson('Here:\n```json\n{"a": [1, "}"]}\n```\nDone.'), {
    ok: true,
    value: { a: [1, '}'] },
  })
  assert.deepEqual(extractJson('The answer is {"b": true} as asked.'), { ok: true, value: { b: true } })
  const bad = extractJson('{city: Paris')
  assert.equal(bad.ok, false)
  assert.match((bad as { problem: string }).problem, /not valid JSON/)
  assert.equal(extractJson('   ').ok, false)
})

test('compileJsonSchema lists problems with their paths, and rejects an unusable schema', () => {
  const check = compileJsonSchema({
    type: 'object',
    required: ['n'],
    properties: { n: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } },
  })
  assert.deepEqual(check({ n: 3, tags: ['x'] }), [])
  const problems = check({ n: 'three', tags: [1] })
  assert.ok(
    problems.some((problem) => problem.includes('/n')),
    problems.join('; '),
  )
  assert.ok(
    problems.some((problem) => problem.includes('/tags/0')),
    problems.join('; '),
  )
  assert.throws(() => compileJsonSchema({ type: 'no-such-type' }))
})

test('merge patches apply per RFC 7386 and combine keeping removals', () => {
  const definition = { name: 'w', tasks: { a: { component: 'c', action: 'x', retry: 2 } } }
  assert.deepEqual(applyMergePatch(definition, { tasks: { a: { timeout: 30, retry: null } } }), {
    name: 'w',
    tasks: { a: { component: 'c', action: 'x', timeout: 30 } },
  })
  assert.deepEqual(definition.tasks.a.retry, 2, 'the target is not modified')
  const combined = combineMergePatches([
    { tasks: { a: { timeout: 30 } } },
    { tasks: { a: { retry: null }, b: { timeout: 5 } } },
  ])
  assert.deepEqual(combined, { tasks: { a: { timeout: 30, retry: null }, b: { timeout: 5 } } })
  assert.deepEqual(
    applyMergePatch(definition, combined),
    applyMergePatch(applyMergePatch(definition, { tasks: { a: { timeout: 30 } } }), {
      tasks: { a: { retry: null }, b: { timeout: 5 } },
    }),
  )
})

test('redactAndTrim hides secrets by key name and trims long values', () => {
  const out = redactAndTrim({
    user: 'ada',
    password: 'hunter2',
    headers: { Authorization: 'Bearer abc', 'x-api-key': 'k' },
    long: 'x'.repeat(5000),
    list: Array.from({ length: 50 }, (_, i) => i),
  }) as Record<string, unknown>
  const text = JSON.stringify(out)
  assert.ok(!text.includes('hunter2'))
  assert.ok(!text.includes('Bearer abc'))
  assert.equal(out['user'], 'ada')
  assert.ok(text.length < 3000, `trimmed to ${text.length} chars`)
})
