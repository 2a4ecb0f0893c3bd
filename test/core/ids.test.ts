import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newId, timeOrderedId } from '../../src/core/ids.ts'

test('time-ordered ids sort as text in creation order, within one millisecond too', () => {
  const made = [
    timeOrderedId('whc', 1_700_000_000_000),
    timeOrderedId('whc', 1_700_000_000_000),
    timeOrderedId('whc', 1_700_000_000_000),
    timeOrderedId('whc', 1_700_000_000_001),
    timeOrderedId('whc', 1_700_000_000_001),
    timeOrderedId('whc', 1_800_000_000_000),
  ]
  assert.deepEqual([...made].sort(), made)
  assert.equal(new Set(made).size, made.length)
  assert.match(made[1]!, /^whc-001700000000000-000001-[0-9a-f]{8}$/)
  assert.match(made[3]!, /^whc-001700000000001-000000-[0-9a-f]{8}$/)
})

test('new ids carry their prefix and a random UUID', () => {
  assert.match(newId('exec'), /^exec-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  assert.notEqual(newId('exec'), newId('exec'))
})
