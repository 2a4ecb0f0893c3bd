/**
 * Retry policies: resolving Tekton's short form (`retry: 3` = three retries, four attempts) and long form
 * (`{max_attempts, initial_delay_ms, backoff_factor, max_delay_ms, retriable_errors, jitter}`) into a
 * RetryPolicy, the delay before each retry (exponential, capped, with jitter), and whether an error may
 * be retried.
 */
import type { RetryPolicy } from './compiled-workflow.ts'
import { ValidationError, type ValidationIssue } from './errors.ts'
import type { RetryPolicySpec } from './model.ts'

export const RETRY_LIMITS = Object.freeze({
  maxAttempts: 100,
  /** One day. */
  maxDelayMs: 86_400_000,
  maxBackoffFactor: 100,
})

/** No retry; when a policy asks for retries without saying how, 1 s doubling up to 5 min, 20 % jitter. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 1,
  initialDelayMs: 1000,
  backoffFactor: 2,
  maxDelayMs: 300_000,
  jitter: 0.2,
})

export interface RetryLocation {
  task?: string
  /** Field path of the policy, `retry` by default. */
  field?: string
}

const SPEC_FIELDS = [
  'max_attempts',
  'initial_delay_ms',
  'backoff_factor',
  'max_delay_ms',
  'retriable_errors',
  'jitter',
  'max_retries',
  'retry_interval',
]

/**
 * Resolves a task's `retry` over the defaults (fields the spec leaves out keep the default's value).
 * Throws ValidationError naming every problem.
 */
export function resolveRetryPolicy(
  spec: number | RetryPolicySpec | undefined,
  defaults: RetryPolicy = DEFAULT_RETRY_POLICY,
  where: RetryLocation = {},
): RetryPolicy {
  const { policy, issues } = checkRetryPolicy(spec, defaults, where)
  if (issues.length > 0) throw new ValidationError('invalid retry policy', issues)
  return policy
}

/** Like resolveRetryPolicy, but returns the problems instead of throwing (the policy is then the defaults). */
export function checkRetryPolicy(
  spec: unknown,
  defaults: RetryPolicy = DEFAULT_RETRY_POLICY,
  where: RetryLocation = {},
): { policy: RetryPolicy; issues: ValidationIssue[] } {
  const field = where.field ?? 'retry'
  const issues: ValidationIssue[] = []
  const issue = (path: string, message: string) =>
    issues.push(
      where.task === undefined ? { field: path, message } : { task: where.task, field: path, message },
    )

  if (spec === undefined || spec === null) return { policy: defaults, issues }
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec) || spec < 0 || spec >= RETRY_LIMITS.maxAttempts) {
      issue(field, `expected a number of retries from 0 to ${RETRY_LIMITS.maxAttempts - 1}, got ${spec}`)
      return { policy: defaults, issues }
    }
    return { policy: { ...defaults, maxAttempts: spec + 1 }, issues }
  }
  if (typeof spec !== 'object' || Array.isArray(spec)) {
    issue(field, `expected a number of retries or a policy object, got ${describe(spec)}`)
    return { policy: defaults, issues }
  }
  const raw = spec as Record<string, unknown>
  for (const key of Object.keys(raw)) {
    if (!SPEC_FIELDS.includes(key)) {
      issue(`${field}.${key}`, `unknown field; a retry policy has ${SPEC_FIELDS.slice(0, 6).join(', ')}`)
    }
  }
  const policy: { -readonly [K in keyof RetryPolicy]: RetryPolicy[K] } = { ...defaults }
  const number = (key: string, min: number, max: number, integer: boolean): number | undefined => {
    const value = raw[key]
    if (value === undefined) return undefined
    if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
      issue(`${field}.${key}`, `expected ${integer ? 'an integer' : 'a number'}, got ${describe(value)}`)
      return undefined
    }
    if (value < min || value > max) {
      issue(`${field}.${key}`, `expected a value from ${min} to ${max}, got ${value}`)
      return undefined
    }
    return value
  }

  const maxAttempts = number('max_attempts', 1, RETRY_LIMITS.maxAttempts, true)
  const maxRetries = number('max_retries', 0, RETRY_LIMITS.maxAttempts - 1, true)
  if (maxAttempts !== undefined && maxRetries !== undefined && maxAttempts !== maxRetries + 1) {
    issue(field, `max_attempts (${maxAttempts}) and max_retries (${maxRetries}) disagree; give one of them`)
  }
  if (maxAttempts !== undefined) policy.maxAttempts = maxAttempts
  else if (maxRetries !== undefined) policy.maxAttempts = maxRetries + 1

  const initialDelayMs = number('initial_delay_ms', 0, RETRY_LIMITS.maxDelayMs, false)
  const retryIntervalSeconds = number('retry_interval', 0, RETRY_LIMITS.maxDelayMs / 1000, false)
  if (initialDelayMs !== undefined) policy.initialDelayMs = initialDelayMs
  else if (retryIntervalSeconds !== undefined) policy.initialDelayMs = retryIntervalSeconds * 1000

  const backoffFactor = number('backoff_factor', 1, RETRY_LIMITS.maxBackoffFactor, false)
  if (backoffFactor !== undefined) policy.backoffFactor = backoffFactor
  const maxDelayMs = number('max_delay_ms', 0, RETRY_LIMITS.maxDelayMs, false)
  if (maxDelayMs !== undefined) policy.maxDelayMs = maxDelayMs
  const jitter = number('jitter', 0, 1, false)
  if (jitter !== undefined) policy.jitter = jitter

  if (policy.maxDelayMs < policy.initialDelayMs) {
    if (maxDelayMs !== undefined) {
      issue(
        `${field}.max_delay_ms`,
        `must not be less than initial_delay_ms (${policy.initialDelayMs}), got ${maxDelayMs}`,
      )
    } else {
      policy.maxDelayMs = policy.initialDelayMs
    }
  }

  const retriable = raw.retriable_errors
  if (retriable !== undefined) {
    if (!Array.isArray(retriable)) {
      issue(`${field}.retriable_errors`, `expected a list of error codes, got ${describe(retriable)}`)
    } else {
      const bad = retriable.findIndex((code) => typeof code !== 'string' || code.trim() === '')
      if (bad === -1) policy.retriableErrors = Object.freeze([...(retriable as string[])])
      else
        issue(`${field}.retriable_errors[${bad}]`, `expected an error code, got ${describe(retriable[bad])}`)
    }
  }
  return { policy: issues.length > 0 ? defaults : Object.freeze(policy), issues }
}

/**
 * Delay before the next attempt, after `attempt` attempts have failed (1 after the first failure):
 * `initialDelayMs * backoffFactor^(attempt - 1)`, capped at `maxDelayMs`, of which the `jitter` share is
 * drawn at random. Whole milliseconds.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempt - 1)
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.backoffFactor ** exponent)
  const jitter = Math.min(1, Math.max(0, policy.jitter))
  const delay = base * (1 - jitter) + base * jitter * random()
  return Math.max(0, Math.round(Math.min(delay, policy.maxDelayMs)))
}

/** Whether a failed attempt may be retried: listed codes when the policy has a list, else the error's own flag. */
export function isRetriable(policy: RetryPolicy, error: { code: string; retriable: boolean }): boolean {
  if (policy.retriableErrors !== undefined) return policy.retriableErrors.includes(error.code)
  return error.retriable
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 39)}…` : value)
  if (typeof value === 'object') return 'an object'
  return String(value)
}
