/**
 * Harmonia's presence in Hermes: it registers itself (id `harmonia`, its endpoint and capabilities), sends a
 * heartbeat every `heartbeatIntervalMs`, registers again when Hermes answers a heartbeat with "unknown"
 * (Hermes forgot it or restarted), lists the components Hermes knows every `refreshIntervalMs` (and right
 * after each registration), and unregisters on close.
 *
 * Hermes being down stops nothing: registration is retried with a backoff capped at the heartbeat
 * interval (and at 5 s), discovery keeps the last list. Everything runs on timers (one operation at a time, none
 * overlapping), and `close` stops them all.
 */
import { systemClock, type Clock } from '../core/clock.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import type { JsonObject } from '../core/model.ts'
import type { HermesClient, HermesComponent } from './hermes-client.ts'

export const HARMONIA_COMPONENT_ID = 'harmonia'
/** What Harmonia tells Hermes it offers. */
export const HARMONIA_CAPABILITIES = [
  'workflow_definition_management',
  'workflow_execution',
  'workflow_state_management',
  'template_management',
  'component_orchestration',
  'event_streaming',
] as const
/** The first retry of a failed registration; doubles up to the heartbeat interval or MAX_RETRY_MS. */
const FIRST_RETRY_MS = 250
const MAX_RETRY_MS = 5_000
/** The first heartbeat after a registration, then every heartbeat interval. */
const FIRST_HEARTBEAT_MS = 1_000

export interface HermesAgentOptions {
  client: HermesClient
  /** Harmonia's URL as others should call it; registration waits until it is known. */
  endpoint?: string
  version: string
  heartbeatIntervalMs: number
  refreshIntervalMs: number
  componentId?: string
  /** The heartbeat's `status`. */
  status?: () => JsonObject
  /** Hears each list of components Hermes gave (without Harmonia itself). */
  onDiscovered?: (components: HermesComponent[]) => Promise<void> | void
  clock?: Clock
  logger?: Logger
}

export interface HermesAgentState {
  hermes_url: string
  registered: boolean
  component_id: string
  endpoint?: string
  registrations: number
  heartbeats: number
  last_error?: string
  last_heartbeat_at?: string
  last_discovery_at?: string
  discovered_components: number
}

export interface HermesAgent {
  /** Starts the timers; resolves once the first operation (listing, or registration) has ended. */
  start(): Promise<void>
  /** Harmonia's URL, once the server listens; registers (again) when it changed. */
  setEndpoint(url: string): void
  /** Lists Hermes' components now. */
  refresh(): Promise<void>
  state(): HermesAgentState
  /** Stops the timers and unregisters (bounded by the client's timeout). */
  close(): Promise<void>
}

export function createHermesAgent(options: HermesAgentOptions): HermesAgent {
  const { client } = options
  const clock = options.clock ?? systemClock
  const log = (options.logger ?? silentLogger).child({ module: 'hermes' })
  const componentId = options.componentId ?? HARMONIA_COMPONENT_ID
  let endpoint = options.endpoint
  let registered = false
  let token: string | undefined
  let registrations = 0
  let heartbeats = 0
  let lastError: string | undefined
  let lastHeartbeatAt: string | undefined
  let lastDiscoveryAt: string | undefined
  let discoveredCount = 0
  let retryMs = FIRST_RETRY_MS
  let started = false
  let closed = false
  let hermesReachable = true
  let registerTimer: { cancel(): void } | undefined
  let heartbeatTimer: { cancel(): void } | undefined
  let discoveryTimer: { cancel(): void } | undefined
  /** Operations run one at a time, in order. */
  let chain: Promise<void> = Promise.resolve()

  const run = (operation: () => Promise<void>): Promise<void> => {
    chain = chain.then(async () => {
      if (closed) return
      try {
        await operation()
      } catch (error) {
        log.warn('hermes operation failed', { error: messageOf(error) })
      }
    })
    return chain
  }

  const noteFailure = (what: string, error: unknown): void => {
    lastError = `${what}: ${messageOf(error)}`
    if (hermesReachable) log.warn('hermes unreachable', { operation: what, error: messageOf(error) })
    hermesReachable = false
  }
  const noteSuccess = (): void => {
    if (!hermesReachable) log.info('hermes reachable again')
    hermesReachable = true
    lastError = undefined
  }

  const scheduleRegister = (delayMs: number): void => {
    if (closed) return
    registerTimer?.cancel()
    registerTimer = clock.setTimeout(() => {
      registerTimer = undefined
      void run(register)
    }, delayMs)
  }
  const scheduleHeartbeat = (delayMs = options.heartbeatIntervalMs): void => {
    if (closed) return
    heartbeatTimer?.cancel()
    heartbeatTimer = clock.setTimeout(() => {
      heartbeatTimer = undefined
      void run(heartbeat)
    }, delayMs)
  }
  const scheduleDiscovery = (delayMs: number): void => {
    if (closed) return
    discoveryTimer?.cancel()
    discoveryTimer = clock.setTimeout(() => {
      discoveryTimer = undefined
      void run(discover)
    }, delayMs)
  }

  const register = async (): Promise<void> => {
    if (endpoint === undefined) return
    try {
      const answer = await client.register({
        component_id: componentId,
        name: 'Harmonia',
        version: options.version,
        type: 'workflow',
        endpoint,
        capabilities: [...HARMONIA_CAPABILITIES],
        metadata: {
          description: 'Workflow orchestration engine',
          api_base: `${endpoint.replace(/\/+$/, '')}/api/v1`,
          health: `${endpoint.replace(/\/+$/, '')}/health`,
        },
      })
      noteSuccess()
      registered = true
      token = answer.token
      registrations++
      retryMs = FIRST_RETRY_MS
      log.info('registered with hermes', { component_id: componentId, endpoint })
      // The first heartbeat comes soon: it confirms that Hermes took the registration (and its token).
      scheduleHeartbeat(Math.min(FIRST_HEARTBEAT_MS, options.heartbeatIntervalMs))
      await discover()
    } catch (error) {
      noteFailure('register', error)
      registered = false
      scheduleRegister(retryMs)
      retryMs = Math.min(retryMs * 2, options.heartbeatIntervalMs, MAX_RETRY_MS)
    }
  }

  const heartbeat = async (): Promise<void> => {
    if (!registered) return
    try {
      const answer = await client.heartbeat(componentId, token, {
        status: 'healthy',
        ...(options.status?.() ?? {}),
      })
      noteSuccess()
      if (answer === 'unknown') {
        log.info('hermes does not know harmonia (forgot it or restarted): registering again')
        registered = false
        await register()
        return
      }
      heartbeats++
      lastHeartbeatAt = new Date(clock.now()).toISOString()
    } catch (error) {
      noteFailure('heartbeat', error)
    }
    scheduleHeartbeat()
  }

  const discover = async (): Promise<void> => {
    try {
      const components = await client.listComponents()
      noteSuccess()
      const others = components.filter(
        (c) => c.component_id !== componentId && (endpoint === undefined || !sameUrl(c.endpoint, endpoint)),
      )
      discoveredCount = others.length
      lastDiscoveryAt = new Date(clock.now()).toISOString()
      await options.onDiscovered?.(others)
    } catch (error) {
      noteFailure('discovery', error)
    }
    scheduleDiscovery(options.refreshIntervalMs)
  }

  return {
    start() {
      if (started || closed) return chain
      started = true
      // Discovery does not need Harmonia's own address; registration waits for it.
      return endpoint === undefined ? run(discover) : run(register)
    },

    setEndpoint(url) {
      if (url === endpoint) return
      endpoint = url
      if (!started || closed) return
      registerTimer?.cancel()
      retryMs = FIRST_RETRY_MS
      void run(register)
    },

    refresh() {
      return run(discover)
    },

    state() {
      return {
        hermes_url: client.apiBase,
        registered,
        component_id: componentId,
        ...(endpoint === undefined ? {} : { endpoint }),
        registrations,
        heartbeats,
        ...(lastError === undefined ? {} : { last_error: lastError }),
        ...(lastHeartbeatAt === undefined ? {} : { last_heartbeat_at: lastHeartbeatAt }),
        ...(lastDiscoveryAt === undefined ? {} : { last_discovery_at: lastDiscoveryAt }),
        discovered_components: discoveredCount,
      }
    },

    async close() {
      if (closed) return
      registerTimer?.cancel()
      heartbeatTimer?.cancel()
      discoveryTimer?.cancel()
      const pending = chain
      closed = true
      await pending
      registerTimer?.cancel()
      heartbeatTimer?.cancel()
      discoveryTimer?.cancel()
      if (!registered) return
      registered = false
      try {
        await client.unregister(componentId, token)
        log.info('unregistered from hermes', { component_id: componentId })
      } catch (error) {
        log.warn('hermes unregister failed', { error: messageOf(error) })
      }
    },
  }
}

function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '')
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: string } }).cause
    return cause?.code === undefined ? error.message : `${error.message} (${cause.code})`
  }
  return String(error)
}
