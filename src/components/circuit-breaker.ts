/**
 * A circuit breaker for one remote component. Closed: calls pass, consecutive failures are counted. Open
 * (after `failureThreshold` consecutive failures, or at once for a failure that says the component is down):
 * calls are refused without touching the network until `coolDownMs` has passed. Half-open: one call passes
 * as a probe; its success closes the circuit, its failure opens it again for another cool-down, and the
 * calls that arrive meanwhile are refused.
 *
 * Outcomes that say nothing about the component's health (a rejected input, a cancelled task) are reported
 * with `settle`, which only frees the probe slot.
 */
import { systemClock, type Clock } from '../core/clock.ts'

export const CircuitState = { closed: 'closed', open: 'open', half_open: 'half_open' } as const
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState]

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number
  /** How long an open circuit refuses calls before it lets a probe through. */
  coolDownMs: number
  clock?: Clock
  /** Called on every change of state. */
  onChange?: (state: CircuitState, previous: CircuitState) => void
}

/** What `admit` answers: pass (perhaps as the half-open probe), or refused with the time left to wait. */
export type Admission = { admitted: true; probe: boolean } | { admitted: false; retryAfterMs: number }

export interface CircuitSnapshot {
  state: CircuitState
  consecutiveFailures: number
  /** When an open circuit lets the next probe through (ms since the epoch). */
  openUntilMs?: number
  lastFailure?: string
}

export interface CircuitBreaker {
  readonly state: CircuitState
  admit(): Admission
  succeeded(probe: boolean): void
  /** `severe`: the component cannot be reached at all, so the circuit opens without waiting for the threshold. */
  failed(probe: boolean, reason: string, options?: { severe?: boolean }): void
  /** The call ended without saying anything about the component's health. */
  settle(probe: boolean): void
  /** Lets the next call through as a probe now, without waiting for the cool-down (an operator's rerun). */
  probeNow(): void
  /** Closes the circuit (a health check found the component answering). */
  reset(): void
  snapshot(): CircuitSnapshot
}

export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const clock = options.clock ?? systemClock
  let state: CircuitState = CircuitState.closed
  let failures = 0
  let openUntilMs = 0
  let probeInFlight = false
  let lastFailure: string | undefined

  const move = (next: CircuitState): void => {
    if (next === state) return
    const previous = state
    state = next
    options.onChange?.(next, previous)
  }
  const open = (): void => {
    openUntilMs = clock.now() + options.coolDownMs
    probeInFlight = false
    move(CircuitState.open)
  }

  return {
    get state() {
      return state
    },

    admit() {
      if (state === CircuitState.closed) return { admitted: true, probe: false }
      const now = clock.now()
      if (state === CircuitState.open) {
        if (now < openUntilMs) return { admitted: false, retryAfterMs: openUntilMs - now }
        move(CircuitState.half_open)
      }
      if (probeInFlight) return { admitted: false, retryAfterMs: options.coolDownMs }
      probeInFlight = true
      return { admitted: true, probe: true }
    },

    succeeded(probe) {
      if (probe) probeInFlight = false
      failures = 0
      lastFailure = undefined
      move(CircuitState.closed)
    },

    failed(probe, reason, failedOptions = {}) {
      if (probe) probeInFlight = false
      failures++
      lastFailure = reason
      if (
        state === CircuitState.half_open ||
        failedOptions.severe === true ||
        failures >= options.failureThreshold
      ) {
        // A late failure of a call admitted before the circuit opened does not extend the cool-down.
        if (state !== CircuitState.open) open()
      }
    },

    settle(probe) {
      if (probe) probeInFlight = false
    },

    probeNow() {
      if (state === CircuitState.open) openUntilMs = clock.now()
    },

    reset() {
      failures = 0
      lastFailure = undefined
      probeInFlight = false
      move(CircuitState.closed)
    },

    snapshot() {
      return {
        state,
        consecutiveFailures: failures,
        ...(state === CircuitState.open ? { openUntilMs } : {}),
        ...(lastFailure === undefined ? {} : { lastFailure }),
      }
    },
  }
}
