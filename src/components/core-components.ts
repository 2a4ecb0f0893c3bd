/**
 * The `core` component: actions that need nothing outside the engine.
 * - `echo`      answers its input unchanged.
 * - `transform` builds a value from other tasks' outputs. The engine resolves every `${...}` in a task's
 *               input before invoking it, so a transform's input IS the value it answers:
 *               `{component: core, action: transform, input: {count: "${size(tasks.fetch.output.items)}"}}`
 *               answers `{count: 3}` when `fetch` returned three items.
 * - `delay`     waits `ms` after the attempt started (or `until` a moment). Durable: the wait is measured
 *               from `context.attemptStartedAtMs`, which survives restarts, so an attempt invoked again
 *               after a crash waits only for what remains. Cancellation and timeouts abort it at once.
 * - `fail`      fails with the given code (default `FAILED`), message and retriable flag: for tests and
 *               for workflows that must stop on a condition.
 * - `log`       writes a message to the execution's log.
 */
import type { Clock } from '../core/clock.ts'
import type { ActionHandler, TaskContext } from '../core/component.ts'
import { TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import { abortReason } from './abort-reason.ts'
import type { ComponentRegistration } from './registry.ts'

export interface CoreComponentOptions {
  /** Time for `core.delay` (default: the process clock, whose timers keep the process alive). */
  clock?: Clock
}

/** The longest `core.delay` (366 days); longer waits belong to a schedule. */
export const MAX_DELAY_MS = 366 * 24 * 3600 * 1000

export const coreComponent: ComponentRegistration = {
  name: 'core',
  description: 'Built-in actions that need nothing outside the engine: echo, transform, delay, fail, log',
  kind: 'builtin',
}

export function createCoreActions(options: CoreComponentOptions = {}): ActionHandler[] {
  const clock = options.clock ?? processClock
  return [echo, transform, createDelay(clock), fail, log]
}

const echo: ActionHandler = {
  descriptor: {
    name: 'echo',
    description: 'Answers its input unchanged.',
    input_schema: { description: 'Any JSON value.' },
    output_schema: { description: 'The input, unchanged.' },
  },
  invoke: async (input) => input,
}

const transform: ActionHandler = {
  descriptor: {
    name: 'transform',
    description:
      'Builds a value from workflow input and other tasks\' outputs. The engine resolves the ${...} expressions in the input before the action runs, so the resolved input is the output: input {count: "${size(tasks.fetch.output.items)}"} answers {count: 3}.',
    input_schema: {
      description: 'The value to build; its ${...} expressions are resolved by the engine.',
      examples: [{ count: '${size(tasks.fetch.output.items)}' }],
    },
    output_schema: { description: 'The resolved input.' },
  },
  invoke: async (input) => input,
}

function createDelay(clock: Clock): ActionHandler {
  return {
    resumable: true,
    descriptor: {
      name: 'delay',
      description:
        'Waits `ms` milliseconds after the attempt started, or until the moment `until`. Durable: after a restart it waits only for the remainder.',
      input_schema: {
        type: 'object',
        properties: {
          ms: {
            type: 'integer',
            minimum: 0,
            maximum: MAX_DELAY_MS,
            description: 'Milliseconds to wait, counted from the start of the attempt.',
          },
          until: { type: 'string', format: 'date-time', description: 'ISO 8601 moment to wait for.' },
        },
        additionalProperties: false,
        description: 'Give either `ms` or `until`.',
      },
      output_schema: {
        type: 'object',
        properties: {
          waited_ms: { type: 'integer', description: 'How long this invocation waited.' },
          until: { type: 'string', format: 'date-time', description: 'When the delay ended.' },
        },
        required: ['waited_ms', 'until'],
      },
    },
    async invoke(input, context) {
      const { ms, until } = (input ?? {}) as { ms?: number; until?: string }
      if ((ms === undefined) === (until === undefined)) {
        throw new TaskFailure(
          'INVALID_INPUT',
          `task '${context.task}': core.delay needs either 'ms' or 'until', got ${ms === undefined ? 'neither' : 'both'} (not retriable)`,
          { details: { component: 'core', action: 'delay' } },
        )
      }
      const targetMs = ms !== undefined ? context.attemptStartedAtMs + ms : Date.parse(until!)
      if (!Number.isFinite(targetMs)) {
        throw new TaskFailure(
          'INVALID_INPUT',
          `task '${context.task}': core.delay 'until' is not a moment (expected an ISO 8601 timestamp such as 2030-01-31T12:00:00Z) (not retriable)`,
          { details: { component: 'core', action: 'delay', field: 'input.until' } },
        )
      }
      const startMs = clock.now()
      await waitUntil(targetMs, context.signal, clock)
      return { waited_ms: Math.max(0, clock.now() - startMs), until: new Date(targetMs).toISOString() }
    },
  }
}

/** Resolves at `targetMs` on the clock; rejects with the signal's reason as soon as it aborts. */
function waitUntil(targetMs: number, signal: AbortSignal, clock: Clock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal))
      return
    }
    const remainingMs = targetMs - clock.now()
    if (remainingMs <= 0) {
      resolve()
      return
    }
    const onAbort = (): void => {
      timer.cancel()
      reject(abortReason(signal))
    }
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, remainingMs)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

const fail: ActionHandler = {
  descriptor: {
    name: 'fail',
    description:
      'Fails the task with `code` (default FAILED), `message` and `retriable` (default false), so retry policies and on_failure can be exercised.',
    input_schema: {
      type: 'object',
      properties: {
        code: {
          type: 'string',
          pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$',
          description: 'The error code retry policies match, e.g. SERVER_ERROR.',
        },
        message: { type: 'string', maxLength: 2000 },
        retriable: { type: 'boolean' },
        details: { type: 'object', description: 'Data attached to the error.' },
      },
      additionalProperties: false,
    },
    output_schema: { description: 'Never answers: the action always fails.', not: {} },
  },
  async invoke(input, context) {
    const { code, message, retriable, details } = (input ?? {}) as {
      code?: string
      message?: string
      retriable?: boolean
      details?: JsonObject
    }
    throw new TaskFailure(
      code ?? 'FAILED',
      message ?? `task '${context.task}' failed as asked by core.fail`,
      {
        retriable: retriable ?? false,
        ...(details === undefined ? {} : { details }),
      },
    )
  },
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
type LogLevel = (typeof LOG_LEVELS)[number]

/** Field names whose values are masked in the log line. */
const SENSITIVE_FIELD = /pass(word)?|secret|token|api[_-]?key|credential|auth|private|cookie/i
const MASK = '***'

const log: ActionHandler = {
  descriptor: {
    name: 'log',
    description:
      "Writes `message` to the execution's log at `level` (default info) with `fields`; values of fields named like secrets are masked.",
    input_schema: {
      type: 'object',
      properties: {
        message: { type: 'string', minLength: 1, maxLength: 10_000 },
        level: { enum: [...LOG_LEVELS] },
        fields: { type: 'object', description: 'Structured data logged with the message.' },
      },
      required: ['message'],
      additionalProperties: false,
    },
    output_schema: {
      type: 'object',
      properties: { logged: { const: true } },
      required: ['logged'],
    },
  },
  async invoke(input, context: TaskContext) {
    const { message, level, fields } = input as { message: string; level?: LogLevel; fields?: JsonObject }
    const masked = fields === undefined ? {} : (maskSecrets(fields, 0) as JsonObject)
    context.log[level ?? 'info'](message, { ...masked, source: 'core.log' })
    return { logged: true }
  },
}

function maskSecrets(value: JsonValue, depth: number): JsonValue {
  if (value === null || typeof value !== 'object' || depth > 16) return value
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item, depth + 1))
  const copy: JsonObject = {}
  for (const [key, item] of Object.entries(value)) {
    Object.defineProperty(copy, key, {
      value: SENSITIVE_FIELD.test(key) ? MASK : maskSecrets(item, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return copy
}

/** Node's timers wait at most 2^31-1 ms; longer waits re-arm. Unlike core's systemClock these keep the
 * process alive: a delay is the task's work, not a background chore. */
const MAX_TIMER_MS = 2_147_483_647

const processClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, delayMs) {
    let handle: ReturnType<typeof setTimeout>
    const arm = (remainingMs: number): void => {
      const step = Math.min(Math.max(0, remainingMs), MAX_TIMER_MS)
      handle = setTimeout(
        () => (remainingMs > MAX_TIMER_MS ? arm(remainingMs - MAX_TIMER_MS) : callback()),
        step,
      )
    }
    arm(delayMs)
    return { cancel: () => clearTimeout(handle) }
  },
}
