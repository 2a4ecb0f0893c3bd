import ELK from 'elkjs/lib/elk.bundled.js'

const elk = new ELK()

/** Positions for a DAG (tasks and their depends_on), laid out top to bottom by elkjs. */
export async function layoutTasks(
  tasks: { name: string; depends_on?: string[] }[],
): Promise<Record<string, { x: number; y: number }>> {
  const names = new Set(tasks.map((t) => t.name))
  const graph = await elk.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.spacing.nodeNode': '40',
      'elk.layered.spacing.nodeNodeBetweenLayers': '60',
    },
    children: tasks.map((t) => ({ id: t.name, width: 180, height: 60 })),
    edges: tasks.flatMap((t) =>
      (t.depends_on ?? [])
        .filter((d) => names.has(d))
        .map((d) => ({ id: `${d}->${t.name}`, sources: [d], targets: [t.name] })),
    ),
  })
  const positions: Record<string, { x: number; y: number }> = {}
  for (const child of graph.children ?? []) positions[child.id] = { x: child.x ?? 0, y: child.y ?? 0 }
  return positions
}
