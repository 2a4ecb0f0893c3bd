/**
 * One remote component at run time: its settings, the actions it offers (declared when it was registered,
 * and read from the component itself), and what guards its calls — a timeout, a limit on calls in flight
 * (the rest wait in line), and a circuit breaker that refuses calls while the component is down and
 * probes it again after a cool-down. Its health (`healthy`, `unhealthy`, `unknown`, and the circuit's
 * state) is reported to whoever registered it, which shows it in the component registry.
 */
import { systemClock, type Clock } from '../core/clock.ts'
import type { ActionDescriptor, ActionHandler, ComponentDescriptor, TaskContext } from '../core/component.ts'
import { ComponentError } from '../core/errors.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import type { JsonValue } from '../core/model.ts'
import { abortReason } from './abort-reason.ts'
import { CircuitState, createCircuitBreaker, type CircuitBreaker } from './circuit-breaker.ts'
import {
  callAction,
  probeComponent,
  readActionSchema,
  readCapabilities,
  RemoteCallFailure,
} from './remote-protocol.ts'

export const DEFAULT_REMOTE_TIMEOUT_MS = 60_000
export const DEFAULT_REMOTE_MAX_CONCURRENCY = 16
export const DEFAULT_FAILURE_THRESHOLD = 3
export const DEFAULT_COOL_DOWN_MS = 3_000
/** Capability and schema reads, and health probes, take at most this long. */
const DESCRIBE_TIMEOUT_MS = 10_000
/** Action schemas read one by one at most (components with more declare them). */
const MAX_SCHEMA_READS = 100
/** A component whose capabilities could not be read is asked again after at most this long. */
const MAX_DISCOVERY_RETRY_MS = 60_000

export type RemoteSource = 'api' | 'config' | 'hermes'

/** How a remote component is registered (the persisted part). */
export interface RemoteComponentSpec {
  name: string
  base_url: string
  description?: string
  /** Actions declared when registering; what the component itself says fills in what they leave out. */
  actions?: ActionDescriptor[]
  timeout_ms?: number
  max_concurrency?: number
  failure_threshold?: number
  cool_down_ms?: number
  source: RemoteSource
  /** Hermes' list of the component's capabilities: its actions when the component cannot say itself. */
  hermes_capabilities?: string[]
}

/** What `GET /components` shows of a remote component beyond its descriptor. */
export interface RemoteStatus {
  source: RemoteSource
  timeout_ms: number
  max_concurrency: number
  failure_threshold: number
  cool_down_ms: number
  in_flight: number
  queued: number
  consecutive_failures: number
  /** When an open circuit lets the next probe through. */
  retry_at?: string
  last_error?: string
  /** When the component's own capabilities were last read. */
  capabilities_read_at?: string
}

export interface RemoteComponentOptions {
  clock?: Clock
  logger?: Logger
  /** Called when the health shown in the registry changes. */
  onHealth?: (health: NonNullable<ComponentDescriptor['health']>) => void
  /** Called when discovery changed the actions. */
  onActions?: () => void
  /** Actions read from the component earlier (persisted), used until it is asked again. */
  discovered?: ActionDescriptor[]
  discoveredAt?: string
}

export interface RemoteComponent {
  readonly spec: Readonly<RemoteComponentSpec>
  /** Declared actions merged over discovered ones. */
  actions(): ActionDescriptor[]
  /** What the component said about itself at the last successful read. */
  discovered(): { actions: ActionDescriptor[]; at?: string } | undefined
  handlers(): ActionHandler[]
  /**
   * Reads capabilities and missing action schemas from the component. Resolves with whether it answered;
   * when it did not, the read is retried in the background.
   */
  discover(): Promise<boolean>
  invoke(action: string, input: JsonValue, context: TaskContext): Promise<JsonValue>
  health(): NonNullable<ComponentDescriptor['health']>
  status(): RemoteStatus
  /** Lets the next call through now if the circuit is open (an operator asked to run again). */
  probeNow(): void
  close(): void
}

export function createRemoteComponent(
  spec: RemoteComponentSpec,
  options: RemoteComponentOptions = {},
): RemoteComponent {
  const clock = options.clock ?? systemClock
  const log = (options.logger ?? silentLogger).child({ component: spec.name })
  const timeoutMs = spec.timeout_ms ?? DEFAULT_REMOTE_TIMEOUT_MS
  const maxConcurrency = spec.max_concurrency ?? DEFAULT_REMOTE_MAX_CONCURRENCY
  const failureThreshold = spec.failure_threshold ?? DEFAULT_FAILURE_THRESHOLD
  const coolDownMs = spec.cool_down_ms ?? DEFAULT_COOL_DOWN_MS
  const describeTimeoutMs = Math.min(timeoutMs, DESCRIBE_TIMEOUT_MS)
  const closing = new AbortController()

  let discovered: ActionDescriptor[] | undefined = options.discovered
  let discoveredAt: string | undefined = options.discoveredAt
  let discoveryProblem: string | undefined
  let discoveryRetryMs = coolDownMs
  let lastOutcome: 'unknown' | 'ok' | 'failing' = 'unknown'
  let lastError: string | undefined
  let inFlight = 0
  const waiting: Array<{ admit: () => void; reject: (reason: unknown) => void }> = []
  let timer: { cancel(): void } | undefined
  let closed = false
  let reportedHealth = ''

  const reportHealth = (): void => {
    const health = component.health()
    const key = JSON.stringify(health)
    if (key === reportedHealth) return
    reportedHealth = key
    options.onHealth?.(health)
  }

  const breaker: CircuitBreaker = createCircuitBreaker({
    failureThreshold,
    coolDownMs,
    clock,
    onChange: (state, previous) => {
      log.info('circuit changed', { circuit: state, previous })
      if (state === CircuitState.open) schedule(coolDownMs)
      reportHealth()
    },
  })

  const schedule = (delayMs: number): void => {
    if (closed) return
    timer?.cancel()
    timer = clock.setTimeout(() => {
      timer = undefined
      void maintain()
    }, delayMs)
  }

  /** While the circuit is open: a health probe. While capabilities are unknown: another read. */
  const maintain = async (): Promise<void> => {
    if (closed) return
    if (breaker.state !== CircuitState.closed) {
      try {
        await probeComponent(spec.base_url, describeTimeoutMs, closing.signal)
        if (closed) return
        log.info('component answers again; circuit closed')
        breaker.reset()
        lastOutcome = 'ok'
        reportHealth()
      } catch {
        schedule(coolDownMs)
        return
      }
    }
    if (discoveryProblem !== undefined) await component.discover()
  }

  const circuitOpen = (action: string, retryAfterMs: number): ComponentError => {
    const snapshot = breaker.snapshot()
    return new ComponentError(
      `component '${spec.name}' is down (circuit ${snapshot.state === CircuitState.open ? 'open' : 'half-open, probing'} after ${snapshot.consecutiveFailures} failed call${snapshot.consecutiveFailures === 1 ? '' : 's'}${snapshot.lastFailure === undefined ? '' : `; last: ${snapshot.lastFailure}`}); action '${action}' was not called; the next probe is in ${Math.ceil(retryAfterMs)} ms (retriable)`,
      {
        retriable: true,
        details: {
          component: spec.name,
          action,
          reason: 'CIRCUIT_OPEN',
          circuit: snapshot.state,
          retry_after_ms: Math.ceil(retryAfterMs),
        },
      },
    )
  }

  const acquire = (signal: AbortSignal): Promise<void> => {
    if (inFlight < maxConcurrency) {
      inFlight++
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        admit: () => {
          signal.removeEventListener('abort', onAbort)
          inFlight++
          resolve()
        },
        reject,
      }
      const onAbort = (): void => {
        const index = waiting.indexOf(entry)
        if (index !== -1) waiting.splice(index, 1)
        reject(abortReason(signal))
      }
      if (signal.aborted) {
        reject(abortReason(signal))
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      waiting.push(entry)
    })
  }

  const release = (): void => {
    inFlight--
    waiting.shift()?.admit()
  }

  const component: RemoteComponent = {
    spec,

    actions() {
      const merged = new Map<string, ActionDescriptor>()
      const fromComponent =
        discovered ?? (spec.hermes_capabilities ?? []).map((name): ActionDescriptor => ({ name }))
      for (const action of fromComponent) merged.set(action.name, { ...action })
      for (const action of spec.actions ?? []) {
        const known = merged.get(action.name)
        merged.set(action.name, {
          ...known,
          ...Object.fromEntries(Object.entries(action).filter(([, value]) => value !== undefined)),
          name: action.name,
        })
      }
      return [...merged.values()]
    },

    discovered() {
      return discovered === undefined
        ? undefined
        : { actions: discovered, ...(discoveredAt === undefined ? {} : { at: discoveredAt }) }
    },

    handlers() {
      return component.actions().map((descriptor): ActionHandler => ({
        descriptor,
        invoke: (input, context) => component.invoke(descriptor.name, input, context),
      }))
    },

    async discover() {
      if (closed) return false
      try {
        const capabilities = await readCapabilities(spec.base_url, describeTimeoutMs, closing.signal)
        const actions = capabilities ?? []
        const declared = new Map((spec.actions ?? []).map((action) => [action.name, action]))
        let reads = 0
        for (const action of actions) {
          if (action.input_schema !== undefined || declared.get(action.name)?.input_schema !== undefined)
            continue
          if (reads++ >= MAX_SCHEMA_READS) break
          try {
            const schema = await readActionSchema(
              spec.base_url,
              action.name,
              describeTimeoutMs,
              closing.signal,
            )
            if (schema !== undefined) Object.assign(action, { ...schema, ...stripUndefined(action) })
          } catch (error) {
            log.debug('action schema unreadable', { action: action.name, error: messageOf(error) })
          }
        }
        if (closed) return false
        // A component without a capabilities route keeps what it was registered with.
        if (capabilities !== undefined || discovered === undefined) {
          discovered = capabilities === undefined ? discovered : actions
        }
        discoveredAt = new Date(clock.now()).toISOString()
        discoveryProblem = undefined
        discoveryRetryMs = coolDownMs
        if (lastOutcome === 'unknown') lastOutcome = 'ok'
        reportHealth()
        options.onActions?.()
        return true
      } catch (error) {
        if (closed) return false
        discoveryProblem = `capabilities unreadable: ${messageOf(error)}`
        log.warn('component capabilities unreadable', { base_url: spec.base_url, error: messageOf(error) })
        reportHealth()
        if (breaker.state === CircuitState.closed) {
          schedule(discoveryRetryMs)
          discoveryRetryMs = Math.min(discoveryRetryMs * 2, MAX_DISCOVERY_RETRY_MS)
        }
        return false
      }
    },

    async invoke(action, input, context) {
      if (closed) {
        throw new ComponentError(`component '${spec.name}' was unregistered`, {
          details: { component: spec.name, action },
        })
      }
      const admission = breaker.admit()
      if (!admission.admitted) throw circuitOpen(action, admission.retryAfterMs)
      const probe = admission.probe
      try {
        await acquire(context.signal)
      } catch (error) {
        breaker.settle(probe)
        throw error
      }
      try {
        const openUntilMs = breaker.snapshot().openUntilMs
        if (!probe && openUntilMs !== undefined) {
          // The circuit opened while this call waited for a free slot.
          throw circuitOpen(action, Math.max(0, openUntilMs - clock.now()))
        }
        const output = await callAction({
          component: spec.name,
          baseUrl: spec.base_url,
          action,
          params: input,
          context,
          timeoutMs,
        })
        breaker.succeeded(probe)
        lastOutcome = 'ok'
        lastError = undefined
        reportHealth()
        return output
      } catch (error) {
        if (!(error instanceof RemoteCallFailure)) {
          breaker.settle(probe)
          throw error
        }
        if (error.verdict === 'alive') {
          breaker.succeeded(probe)
          lastOutcome = 'ok'
        } else {
          lastOutcome = 'failing'
          lastError = error.failure.message
          breaker.failed(probe, error.failure.code, { severe: error.verdict === 'down' })
        }
        reportHealth()
        throw error.failure
      } finally {
        release()
      }
    },

    health() {
      const snapshot = breaker.snapshot()
      const circuit = snapshot.state
      if (circuit === CircuitState.open) {
        return {
          status: 'unhealthy',
          circuit,
          detail: `circuit open after ${snapshot.consecutiveFailures} failed call(s) (${snapshot.lastFailure ?? 'unknown'}); next probe after ${new Date(snapshot.openUntilMs ?? clock.now()).toISOString()}`,
        }
      }
      if (circuit === CircuitState.half_open) {
        return { status: 'unhealthy', circuit, detail: 'circuit half-open: probing the component' }
      }
      if (lastOutcome === 'failing') {
        return {
          status: 'unhealthy',
          circuit,
          detail: `${snapshot.consecutiveFailures} failed call(s) in a row (${snapshot.lastFailure ?? 'unknown'})`,
        }
      }
      if (discoveryProblem !== undefined && lastOutcome !== 'ok') {
        return { status: 'unhealthy', circuit, detail: discoveryProblem }
      }
      if (lastOutcome === 'ok') return { status: 'healthy', circuit }
      return { status: 'unknown', circuit }
    },

    status() {
      const snapshot = breaker.snapshot()
      return {
        source: spec.source,
        timeout_ms: timeoutMs,
        max_concurrency: maxConcurrency,
        failure_threshold: failureThreshold,
        cool_down_ms: coolDownMs,
        in_flight: inFlight,
        queued: waiting.length,
        consecutive_failures: snapshot.consecutiveFailures,
        ...(snapshot.openUntilMs === undefined
          ? {}
          : { retry_at: new Date(snapshot.openUntilMs).toISOString() }),
        ...(lastError === undefined ? {} : { last_error: lastError }),
        ...(discoveredAt === undefined ? {} : { capabilities_read_at: discoveredAt }),
      }
    },

    probeNow() {
      breaker.probeNow()
    },

    close() {
      if (closed) return
      closed = true
      timer?.cancel()
      closing.abort()
      for (const entry of waiting.splice(0)) {
        entry.reject(
          new ComponentError(`component '${spec.name}' was unregistered while the call waited`, {
            details: { component: spec.name },
          }),
        )
      }
    },
  }
  return component
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: string } }).cause
    return cause?.code === undefined ? error.message : `${error.message} (${cause.code})`
  }
  return String(error)
}
