import {
  Handle,
  Position,
  useNodesInitialized,
  useReactFlow,
  type NodeChange,
  type NodeProps,
} from '@xyflow/react'
import { useCallback, useEffect, useState } from 'react'

export interface TaskNodeData extends Record<string, unknown> {
  name: string
  subtitle: string
  status?: string
  error?: string
}

export function TaskNode({ data, selected }: NodeProps) {
  const d = data as TaskNodeData
  return (
    <div
      className={`task-node status-${d.status ?? 'none'}${selected === true ? ' selected' : ''}${d.error !== undefined ? ' invalid' : ''}`}
      role="group"
      aria-label={`Task ${d.name}`}
      data-status={d.status ?? ''}
      title={d.error}
    >
      <Handle type="target" position={Position.Top} aria-label={`Dependency input of ${d.name}`} />
      <div className="task-name">{d.name}</div>
      <div className="task-sub">
        {d.subtitle}
        {d.status !== undefined && <span className="badge">{d.status}</span>}
      </div>
      {d.error !== undefined && <div className="node-error">{d.error}</div>}
      <Handle type="source" position={Position.Bottom} aria-label={`Connect from ${d.name}`} />
    </div>
  )
}

export const nodeTypes = { task: TaskNode }

/** Fits the graph into view after a layout. */
export function FitView({ version }: { version: number }) {
  const flow = useReactFlow()
  const measured = useNodesInitialized()
  useEffect(() => {
    if (version === 0) return
    const fit = (): void => void flow.fitView({ maxZoom: 1, minZoom: 0.05, duration: 0 })
    requestAnimationFrame(fit)
    // Again once the nodes have been measured (a fit before that can leave them out of view).
    const timer = setTimeout(fit, 250)
    return () => clearTimeout(timer)
  }, [version, measured, flow])
  return null
}

export type NodeSizes = Record<string, { width: number; height: number }>

/**
 * The sizes React Flow measured, by node id. A controlled node passed without `measured` is hidden until React
 * Flow measures it again, so pages that rebuild their nodes on every update hand these back.
 */
export function useNodeSizes(): [NodeSizes, (changes: NodeChange[]) => void] {
  const [sizes, setSizes] = useState<NodeSizes>({})
  const onChange = useCallback((changes: NodeChange[]) => {
    const measured: NodeSizes = {}
    for (const change of changes)
      if (change.type === 'dimensions' && change.dimensions !== undefined)
        measured[change.id] = change.dimensions
    if (Object.keys(measured).length > 0) setSizes((s) => ({ ...s, ...measured }))
  }, [])
  return [sizes, onChange]
}
