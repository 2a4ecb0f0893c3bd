import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ValidationError } from '../../src/core/errors.ts'
import {
  DEFAULT_RETRY_POLICY,
  checkRetryPolicy,
  isRetriable,
  resolveRetryPolicy,
  retryDelayMs,
} from '../../src/core/retry-policy.ts'

describe('resolveRetryPolicy', () => {
  test('no retry by default', () => {
    assert.deepEqual(resolveRetryPolicy(undefined), DEFAULT_RETRY_POLICY)
    assert.equal(DEFAULT_RETRY_POLICY.maxAttempts, 1)
  })

  test('short form: a number of retries', () => {
    assert.deepEqual(resolveRetryPolicy(3), { ...DEFAULT_RETRY_POLICY, maxAttempts: 4 })
    assert.equal(resolveRetryPolicy(0).maxAttempts, 1)
  })

  test("long form, Tekton's fields; what it leaves out comes from the defaults", () => {
    const defaults = resolveRetryPolicy({ initial_delay_ms: 500, max_delay_ms: 10_000 })
    assert.deepEqual(
      resolveRetryPolicy(
        { max_attempts: 3, backoff_factor: 3, retriable_errors: ['CONNECTION_ERROR', 'TIMEOUT'], jitter: 0 },
        defaults,
      ),
      {
        maxAttempts: 3,
        initialDelayMs: 500,
        backoffFactor: 3,
        maxDelayMs: 10_000,
        jitter: 0,
        retriableErrors: ['CONNECTION_ERROR', 'TIMEOUT'],
      },
    )
  })

  test('execution-option aliases: max_retries and retry_interval (seconds)', () => {
    const policy = resolveRetryPolicy({ max_retries: 2, retry_interval: 5 } as never)
    assert.equal(policy.maxAttempts, 3)
    assert.equal(policy.initialDelayMs, 5000)
  })

  test('a max delay below the initial delay is raised to it when defaulted', () => {
    assert.equal(resolveRetryPolicy({ initial_delay_ms: 600_000 }).maxDelayMs, 600_000)
  })

  test('every problem is reported with task and field', () => {
    const { issues, policy } = checkRetryPolicy(
      { max_attempts: 0, backoff_factor: 'x', jitter: 2, retriable_errors: ['A', ''], max_atempts: 3 },
      DEFAULT_RETRY_POLICY,
      { task: 'fetch' },
    )
    assert.deepEqual(policy, DEFAULT_RETRY_POLICY)
    assert.deepEqual(issues, [
      {
        task: 'fetch',
        field: 'retry.max_atempts',
        message:
          'unknown field; a retry policy has max_attempts, initial_delay_ms, backoff_factor, max_delay_ms, retriable_errors, jitter',
      },
      { task: 'fetch', field: 'retry.max_attempts', message: 'expected a value from 1 to 100, got 0' },
      { task: 'fetch', field: 'retry.backoff_factor', message: 'expected a number, got "x"' },
      { task: 'fetch', field: 'retry.jitter', message: 'expected a value from 0 to 1, got 2' },
      { task: 'fetch', field: 'retry.retriable_errors[1]', message: 'expected an error code, got ""' },
    ])
  })

  test('short form out of range, wrong kinds, contradictions, max delay below initial', () => {
    assert.deepEqual(checkRetryPolicy(-1).issues, [
      { field: 'retry', message: 'expected a number of retries from 0 to 99, got -1' },
    ])
    assert.deepEqual(
      checkRetryPolicy(1.5).issues[0]?.message,
      'expected a number of retries from 0 to 99, got 1.5',
    )
    assert.deepEqual(checkRetryPolicy('3').issues, [
      { field: 'retry', message: 'expected a number of retries or a policy object, got "3"' },
    ])
    assert.deepEqual(checkRetryPolicy({ max_attempts: 3, max_retries: 5 }).issues, [
      { field: 'retry', message: 'max_attempts (3) and max_retries (5) disagree; give one of them' },
    ])
    assert.deepEqual(checkRetryPolicy({ initial_delay_ms: 5000, max_delay_ms: 100 }).issues, [
      { field: 'retry.max_delay_ms', message: 'must not be less than initial_delay_ms (5000), got 100' },
    ])
    assert.deepEqual(checkRetryPolicy({ retriable_errors: 'TIMEOUT' }).issues, [
      { field: 'retry.retriable_errors', message: 'expected a list of error codes, got "TIMEOUT"' },
    ])
  })

  test('resolveRetryPolicy throws ValidationError listing the problems', () => {
    assert.throws(
      () => resolveRetryPolicy({ max_attempts: 500 }, DEFAULT_RETRY_POLICY, { task: 'x' }),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.code === 'validation_error' &&
        error.message ===
          "invalid retry policy: task 'x', retry.max_attempts: expected a value from 1 to 100, got 500",
    )
  })
})

describe('retryDelayMs', () => {
  const policy = {
    ...DEFAULT_RETRY_POLICY,
    maxAttempts: 10,
    initialDelayMs: 1000,
    backoffFactor: 2,
    maxDelayMs: 5000,
  }

  test('exponential, capped, without jitter', () => {
    const exact = { ...policy, jitter: 0 }
    assert.deepEqual(
      [1, 2, 3, 4, 5, 50, 5000].map((attempt) => retryDelayMs(exact, attempt)),
      [1000, 2000, 4000, 5000, 5000, 5000, 5000],
    )
  })

  test('jitter draws the given share at random', () => {
    const jittered = { ...policy, jitter: 0.5 }
    assert.equal(
      retryDelayMs(jittered, 2, () => 0),
      1000,
    )
    assert.equal(
      retryDelayMs(jittered, 2, () => 1),
      2000,
    )
    assert.equal(
      retryDelayMs(jittered, 2, () => 0.5),
      1500,
    )
    assert.equal(
      retryDelayMs({ ...policy, jitter: 1 }, 1, () => 0),
      0,
    )
  })
})

describe('isRetriable', () => {
  test("the error's own flag, unless the policy lists codes", () => {
    assert.equal(isRetriable(DEFAULT_RETRY_POLICY, { code: 'X', retriable: true }), true)
    assert.equal(isRetriable(DEFAULT_RETRY_POLICY, { code: 'X', retriable: false }), false)
    const listed = { ...DEFAULT_RETRY_POLICY, retriableErrors: ['TIMEOUT'] }
    assert.equal(isRetriable(listed, { code: 'TIMEOUT', retriable: false }), true)
    assert.equal(isRetriable(listed, { code: 'SERVER_ERROR', retriable: true }), false)
  })
})
