/**
 * The task graph: topological order (Kahn's algorithm), cycle detection that names the cycle, and the
 * reverse edges (dependents). Everything here is O(V + E).
 */

export interface TaskGraph {
  /** Tasks in an order where every task comes after the tasks it depends on (when there is no cycle). */
  order: string[]
  /** For each task, the tasks that name it in `depends_on`, in definition order. */
  dependents: Map<string, string[]>
  /** Position of each task in `order`. */
  position: Map<string, number>
  /** One cycle as a path that returns to its start (`['a', 'b', 'a']`: a depends on b, b on a). */
  cycle?: string[]
}

/**
 * Builds the graph from each task's dependencies. Names that are not keys of `dependsOn` are ignored
 * (validation reports them). Ties are broken by definition order, so the order is deterministic.
 */
export function buildTaskGraph(dependsOn: ReadonlyMap<string, readonly string[]>): TaskGraph {
  const dependents = new Map<string, string[]>()
  const remaining = new Map<string, number>()
  for (const name of dependsOn.keys()) {
    dependents.set(name, [])
    remaining.set(name, 0)
  }
  for (const [name, deps] of dependsOn) {
    for (const dep of deps) {
      const list = dependents.get(dep)
      // A repeated dependency would have just added `name` at the end of the list.
      if (list === undefined || list[list.length - 1] === name) continue
      list.push(name)
      remaining.set(name, remaining.get(name)! + 1)
    }
  }
  const order: string[] = []
  for (const [name, count] of remaining) if (count === 0) order.push(name)
  for (let head = 0; head < order.length; head++) {
    for (const next of dependents.get(order[head]!)!) {
      const left = remaining.get(next)! - 1
      remaining.set(next, left)
      if (left === 0) order.push(next)
    }
  }
  const position = new Map<string, number>()
  for (let index = 0; index < order.length; index++) position.set(order[index]!, index)
  if (order.length === dependsOn.size) return { order, dependents, position }
  const stuck = new Set<string>()
  for (const [name, count] of remaining) if (count > 0) stuck.add(name)
  return { order, dependents, position, cycle: findCycle(dependsOn, stuck) }
}

/** Topological order of the tasks, or the cycle that prevents one. */
export function topologicalOrder(dependsOn: ReadonlyMap<string, readonly string[]>): {
  order: string[]
  cycle?: string[]
} {
  const graph = buildTaskGraph(dependsOn)
  return graph.cycle === undefined ? { order: graph.order } : { order: graph.order, cycle: graph.cycle }
}

/** `a -> b -> c -> a`. */
export function formatCycle(cycle: readonly string[]): string {
  return cycle.join(' -> ')
}

/**
 * Every task left after Kahn's algorithm depends on at least one other left task, so following any
 * remaining dependency from any of them must come back to a task already on the path. Iterative.
 */
function findCycle(dependsOn: ReadonlyMap<string, readonly string[]>, stuck: ReadonlySet<string>): string[] {
  const start = stuck.values().next().value!
  const path: string[] = []
  const onPath = new Map<string, number>()
  let current = start
  for (;;) {
    const seenAt = onPath.get(current)
    if (seenAt !== undefined) return [...path.slice(seenAt), current]
    onPath.set(current, path.length)
    path.push(current)
    current = dependsOn.get(current)!.find((dep) => stuck.has(dep))!
  }
}

/**
 * Answers "does `from` reach `to` along dependent edges" (is `from` upstream of `to`) for many pairs.
 * Each distinct `from` is explored once, and only through tasks placed no later than the furthest target
 * asked about, so checks of nearby tasks stay cheap in large graphs.
 */
export function upstreamChecker(graph: TaskGraph): (from: string, targets: readonly string[]) => Set<string> {
  const visitedBy = new Map<string, number>()
  let generation = 0
  return (from, targets) => {
    const reached = new Set<string>()
    const start = graph.position.get(from)
    if (start === undefined) return reached
    let limit = -1
    for (const target of targets) limit = Math.max(limit, graph.position.get(target) ?? -1)
    if (limit <= start) return reached
    generation++
    const stack = [from]
    visitedBy.set(from, generation)
    while (stack.length > 0) {
      const name = stack.pop()!
      for (const next of graph.dependents.get(name)!) {
        if (visitedBy.get(next) === generation || graph.position.get(next)! > limit) continue
        visitedBy.set(next, generation)
        reached.add(next)
        stack.push(next)
      }
    }
    return reached
  }
}

/**
 * `upstreamChecker`'s answer without a topological order (the graph has a cycle): of `tasks`, those with
 * `target` among their ancestors, found by walking `depends_on` with a visited set.
 */
export function ancestorsChecker(
  dependsOn: ReadonlyMap<string, readonly string[]>,
): (target: string, tasks: readonly string[]) => Set<string> {
  return (target, tasks) => {
    const reached = new Set<string>()
    for (const task of tasks) {
      const seen = new Set<string>()
      const stack = [...(dependsOn.get(task) ?? [])]
      while (stack.length > 0) {
        const next = stack.pop()!
        if (next === target) {
          reached.add(task)
          break
        }
        if (seen.has(next)) continue
        seen.add(next)
        stack.push(...(dependsOn.get(next) ?? []))
      }
    }
    return reached
  }
}
