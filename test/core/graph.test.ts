import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { buildTaskGraph, formatCycle, topologicalOrder, upstreamChecker } from '../../src/core/graph.ts'

const deps = (entries: Record<string, string[]>) => new Map(Object.entries(entries))

describe('task graph', () => {
  test('orders every task after its dependencies, ties in definition order', () => {
    const graph = buildTaskGraph(deps({ report: ['b', 'c'], a: [], b: ['a'], c: ['a'], d: [] }))
    assert.deepEqual(graph.order, ['a', 'd', 'b', 'c', 'report'])
    assert.equal(graph.cycle, undefined)
    assert.deepEqual(Object.fromEntries(graph.dependents), {
      report: [],
      a: ['b', 'c'],
      b: ['report'],
      c: ['report'],
      d: [],
    })
    assert.deepEqual(Object.fromEntries(graph.position), { a: 0, d: 1, b: 2, c: 3, report: 4 })
  })

  test('ignores unknown and repeated dependencies', () => {
    const graph = buildTaskGraph(deps({ a: ['ghost'], b: ['a', 'a'] }))
    assert.deepEqual(graph.order, ['a', 'b'])
    assert.deepEqual(graph.dependents.get('a'), ['b'])
  })

  test('reports a cycle as a path that returns to its start', () => {
    const result = topologicalOrder(deps({ start: [], a: ['start', 'c'], b: ['a'], c: ['b'], after: ['c'] }))
    assert.deepEqual(result.order, ['start'])
    assert.deepEqual(result.cycle, ['a', 'c', 'b', 'a'])
    assert.equal(formatCycle(result.cycle!), 'a -> c -> b -> a')
  })

  test('a two-task cycle', () => {
    assert.deepEqual(topologicalOrder(deps({ x: ['y'], y: ['x'] })).cycle, ['x', 'y', 'x'])
  })

  test('upstream checks follow dependents transitively and stop at the furthest target', () => {
    const graph = buildTaskGraph(deps({ a: [], b: ['a'], c: ['b'], d: [], e: ['d'] }))
    const reaches = upstreamChecker(graph)
    assert.ok(reaches('a', ['c']).has('c'))
    assert.equal(reaches('a', ['e']).has('e'), false)
    assert.equal(reaches('c', ['a']).size, 0)
    assert.equal(reaches('ghost', ['a']).size, 0)
  })

  test('20,000 tasks in a chain and in a wide fan: linear time, no recursion', () => {
    const chain = new Map<string, string[]>()
    for (let index = 0; index < 20_000; index++) chain.set(`t${index}`, index === 0 ? [] : [`t${index - 1}`])
    const graph = buildTaskGraph(chain)
    assert.equal(graph.order.length, 20_000)
    assert.equal(graph.order[19_999], 't19999')
    assert.ok(upstreamChecker(graph)('t0', ['t19999']).has('t19999'))

    const loop = new Map(chain)
    loop.set('t0', ['t19999'])
    const cyclic = buildTaskGraph(loop)
    assert.equal(cyclic.cycle?.length, 20_001)
    assert.equal(cyclic.cycle?.[0], cyclic.cycle?.[20_000])

    const fan = new Map<string, string[]>([['root', []]])
    const leaves: string[] = []
    for (let index = 0; index < 20_000; index++) {
      fan.set(`leaf${index}`, ['root'])
      leaves.push(`leaf${index}`)
    }
    fan.set('join', leaves)
    const wide = buildTaskGraph(fan)
    assert.equal(wide.order.at(-1), 'join')
    assert.equal(wide.dependents.get('root')?.length, 20_000)
  })
})
