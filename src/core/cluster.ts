/**
 * A node's part in a cluster of Harmonia nodes on one shared store (PostgreSQL): it announces itself with a
 * heartbeat document, knows which nodes are live, and relays the events other nodes persist to this node's
 * bus (event-relay.ts). On an embedded store the cluster is this one node and nothing is relayed.
 */
import { hostname } from 'node:os'
import type { Clock } from './clock.ts'
import type { Engine } from './engine-api.ts'
import { createEventRelay, type EventRelay } from './event-relay.ts'
import type { Logger } from './logger.ts'
import type { Store } from './store.ts'

const NODES = 'cluster_nodes'

export interface ClusterNode {
  node_id: string
  hostname: string
  pid: number
  started_at: string
  last_seen: string
  running_executions: number
  running_tasks: number
}

export interface Cluster {
  start(): Promise<void>
  stop(): Promise<void>
  /** Nodes whose last heartbeat is recent (this node first), read from the store. */
  liveNodes(): Promise<ClusterNode[]>
  /** Reads what other nodes persisted now (tests). */
  relayNow(): Promise<void>
}

export interface ClusterOptions {
  store: Store
  engine: Engine
  clock: Clock
  logger: Logger
  /** How often this node announces itself; a node silent for three periods is no longer live. */
  heartbeatMs: number
  /** Safety-net poll of the event relay (0 disables); NOTIFY wakes it otherwise. */
  relayPollMs?: number
}

export function createCluster(options: ClusterOptions): Cluster {
  const { store, engine, clock, logger } = options
  const shared = store.kind === 'postgres'
  const startedAt = new Date(clock.now()).toISOString()
  let timer: { cancel(): void } | undefined
  let stopped = true
  const relay: EventRelay | undefined = shared
    ? createEventRelay({
        store,
        bus: engine.bus,
        clock,
        logger,
        hostedHere: (id) => engine.hosts(id),
        ...(options.relayPollMs === undefined ? {} : { pollIntervalMs: options.relayPollMs }),
      })
    : undefined

  const self = (): ClusterNode => {
    const stats = engine.stats()
    return {
      node_id: engine.nodeId,
      hostname: hostname(),
      pid: process.pid,
      started_at: startedAt,
      last_seen: new Date(clock.now()).toISOString(),
      running_executions: stats.running_executions,
      running_tasks: stats.running_tasks,
    }
  }

  const beat = async (): Promise<void> => {
    try {
      await store.putDocument(NODES, engine.nodeId, { ...self() })
    } catch (error) {
      logger.warn('could not record the node heartbeat', { error: String(error) })
    }
  }

  const schedule = (): void => {
    if (stopped) return
    timer = clock.setTimeout(() => void beat().finally(schedule), options.heartbeatMs)
  }

  return {
    async start() {
      if (!stopped) return
      stopped = false
      await relay?.start()
      if (shared) {
        await beat()
        schedule()
      }
    },
    async stop() {
      if (stopped) return
      stopped = true
      timer?.cancel()
      relay?.stop()
      if (shared) await store.deleteDocument(NODES, engine.nodeId).catch(() => false)
    },
    async liveNodes() {
      if (!shared) return [self()]
      const horizon = clock.now() - 3 * options.heartbeatMs
      const nodes: ClusterNode[] = [self()]
      for (let page = 1; ; page++) {
        const found = await store.listDocuments(NODES, { page, limit: 500 })
        for (const doc of found.items) {
          const node = doc as unknown as ClusterNode
          if (node.node_id === engine.nodeId) continue
          if (Date.parse(node.last_seen) >= horizon) nodes.push(node)
        }
        if (page * 500 >= found.total) break
      }
      return nodes
    },
    async relayNow() {
      await relay?.drain()
    },
  }
}
