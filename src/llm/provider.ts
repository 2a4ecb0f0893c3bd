/**
 * The LLM provider: a client for any OpenAI-compatible chat-completions endpoint (OpenAI, a local Ollama or
 * vLLM, Tekton's Rhetor through a compatible route), built on the `openai` SDK pointed at `baseUrl`.
 *
 * - Each request has a timeout (`timeoutMs`) and is retried on 429, 5xx, connection failures and timeouts,
 *   up to `maxRetries` times with capped exponential backoff (a `retry-after` header wins when present).
 *   The SDK's own retries are off, so every attempt is counted and logged here.
 * - Token usage is returned with each answer and added to an in-memory tally (`usage()`), by model and by
 *   purpose, which the API exposes at `GET /llm/usage`.
 * - The API key never leaves this module except in the Authorization header: it is not logged, and every
 *   error message is masked (servers echo keys in 401 answers); errors carry no `cause` that could hold it.
 * - Prompts and answers are not logged either (they may hold task data); only sizes and counts are.
 */
import OpenAI from 'openai'
import { isoNow, type Clock } from '../core/clock.ts'
import { maskUrl, type HarmoniaConfig } from '../core/config.ts'
import { ErrorCode, HarmoniaError, ValidationError } from '../core/errors.ts'
import { silentLogger, type Logger } from '../core/logger.ts'

export type ChatRole = 'system' | 'user' | 'assistant'

export interface ChatMessage {
  role: ChatRole
  content: string
}

export interface TokenUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

/** What a request is for; usage is tallied per purpose. */
export type LlmPurpose =
  'workflow_generation' | 'failure_explanation' | 'optimization' | 'component' | 'other'

export interface ChatRequest {
  messages: readonly ChatMessage[]
  /** Default: the provider's model. */
  model?: string
  temperature?: number
  max_tokens?: number
  signal?: AbortSignal
  purpose?: LlmPurpose
}

export interface ChatResult {
  content: string
  /** The model that answered (as the server names it). */
  model: string
  usage: TokenUsage
  finish_reason: string | null
  /** Attempts this answer took (1 without retries). */
  attempts: number
}

export interface UsageTotals {
  requests: number
  failed_requests: number
  retries: number
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export interface UsageReport extends UsageTotals {
  /** When the tally started (the provider's creation). */
  since: string
  by_model: Record<string, UsageTotals>
  by_purpose: Record<string, UsageTotals>
}

export interface LlmProvider {
  readonly model: string
  /** The endpoint, with any credentials in it masked. */
  readonly baseUrl: string
  chat(request: ChatRequest): Promise<ChatResult>
  /** The tally since the provider was created. */
  usage(): UsageReport
}

/**
 * Why an LLM call failed. The values are also the TaskFailure codes the `llm` component fails with, so
 * retry policies can name them (`HTTP_<status>` for other 4xx answers).
 */
export const LlmFailure = {
  rate_limited: 'RATE_LIMITED',
  server_error: 'SERVER_ERROR',
  connection_error: 'CONNECTION_ERROR',
  timeout: 'TIMEOUT',
  /** The endpoint answered 200 but not with a chat completion holding text. */
  invalid_response: 'LLM_INVALID_RESPONSE',
  /** The model's text stayed invalid (not JSON, or not matching the schema) after the repair rounds. */
  invalid_output: 'LLM_INVALID_OUTPUT',
  aborted: 'ABORTED',
} as const

const RETRIABLE_REASONS: ReadonlySet<string> = new Set([
  LlmFailure.rate_limited,
  LlmFailure.server_error,
  LlmFailure.connection_error,
  LlmFailure.timeout,
])

/** An LLM call failed: API code `llm_error` (502). `reason` says why (see LlmFailure). */
export class LlmError extends HarmoniaError {
  readonly reason: string
  readonly retriable: boolean
  readonly status: number | undefined

  constructor(
    reason: string,
    message: string,
    options: { status?: number; attempts?: number; details?: Record<string, unknown> } = {},
  ) {
    const retriable = RETRIABLE_REASONS.has(reason)
    super(ErrorCode.llm_error, message, {
      details: {
        reason,
        retriable,
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
        ...(options.details as Record<string, never> | undefined),
      },
    })
    this.reason = reason
    this.retriable = retriable
    this.status = options.status
  }
}

export const LLM_CONFIG_HINT =
  'set HARMONIA_LLM_BASE_URL (an OpenAI-compatible endpoint such as http://127.0.0.1:11434/v1), HARMONIA_LLM_MODEL and, if the endpoint needs one, HARMONIA_LLM_API_KEY (or llm.baseUrl, llm.model, llm.apiKey in the config file)'

/** The `not_configured` (501) error of a feature that needs an LLM when none is configured. */
export function llmNotConfigured(feature: string): HarmoniaError {
  return new HarmoniaError(
    ErrorCode.not_configured,
    `${feature} needs an LLM, and none is configured: ${LLM_CONFIG_HINT}`,
    {
      details: { feature },
    },
  )
}

export interface LlmProviderOptions {
  /** The endpoint's base URL, `/v1` included (requests go to `<baseUrl>/chat/completions`). */
  baseUrl: string
  model: string
  apiKey?: string
  /** Per attempt. Default 60 000. */
  timeoutMs?: number
  /** Retries after the first attempt. Default 2. */
  maxRetries?: number
  /** First backoff delay. Default 500. */
  initialRetryDelayMs?: number
  /** Longest backoff delay, also the cap on a server's `retry-after`. Default 30 000. */
  maxRetryDelayMs?: number
  logger?: Logger
  clock?: Clock
  /** Randomness of the backoff jitter (tests). */
  random?: () => number
}

const DEFAULT_TIMEOUT_MS = 60_000
const DEFAULT_MAX_RETRIES = 2
const DEFAULT_INITIAL_RETRY_DELAY_MS = 500
const DEFAULT_MAX_RETRY_DELAY_MS = 30_000
const BACKOFF_FACTOR = 2
const JITTER = 0.2
const MASK = '***'

export function createLlmProvider(options: LlmProviderOptions): LlmProvider {
  const issues = []
  if (typeof options.baseUrl !== 'string' || !/^https?:\/\/[^/]/i.test(options.baseUrl)) {
    issues.push({
      field: 'llm.baseUrl',
      message: 'expected an http:// or https:// URL (HARMONIA_LLM_BASE_URL)',
    })
  }
  if (typeof options.model !== 'string' || options.model.trim() === '') {
    issues.push({
      field: 'llm.model',
      message: 'is required when llm.baseUrl is set: name the model to use (HARMONIA_LLM_MODEL)',
    })
  }
  if (issues.length > 0) throw new ValidationError('invalid LLM configuration', issues)

  const apiKey = options.apiKey === '' ? undefined : options.apiKey
  const mask = (text: string): string => maskSecret(text, apiKey)
  const publicBaseUrl = mask(maskUrl(options.baseUrl))
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES
  const initialDelayMs = options.initialRetryDelayMs ?? DEFAULT_INITIAL_RETRY_DELAY_MS
  const maxDelayMs = options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS
  const logger = (options.logger ?? silentLogger).child({ module: 'llm', model: options.model })
  const clock = options.clock ?? processClock
  const random = options.random ?? Math.random
  const tally = new UsageTally(isoNow(clock))

  // Everything is passed explicitly so no OPENAI_* environment variable changes where requests go or
  // which key they carry; without a key, no Authorization header is sent at all.
  const client = new OpenAI({
    baseURL: options.baseUrl,
    apiKey: apiKey ?? 'unused',
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: timeoutMs,
    logLevel: 'off',
    ...(apiKey === undefined ? { defaultHeaders: { Authorization: null } } : {}),
  })

  const attempt = async (request: ChatRequest, model: string): Promise<ChatResult> => {
    let completion: OpenAI.Chat.Completions.ChatCompletion
    try {
      completion = await client.chat.completions.create(
        {
          model,
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
          ...(request.max_tokens === undefined ? {} : { max_tokens: request.max_tokens }),
        },
        request.signal === undefined ? {} : { signal: request.signal },
      )
    } catch (error) {
      throw toLlmError(error, publicBaseUrl, mask, request.signal)
    }
    const choice = completion?.choices?.[0]
    const content = choice?.message?.content
    if (typeof content !== 'string') {
      throw new LlmError(
        LlmFailure.invalid_response,
        `the LLM endpoint ${publicBaseUrl} answered without text in choices[0].message.content (finish_reason: ${String(choice?.finish_reason ?? 'none')}); check that it speaks the OpenAI chat-completions protocol`,
      )
    }
    const usage = completion.usage
    return {
      content,
      model: typeof completion.model === 'string' && completion.model !== '' ? completion.model : model,
      usage: {
        prompt_tokens: count(usage?.prompt_tokens),
        completion_tokens: count(usage?.completion_tokens),
        total_tokens: count(
          usage?.total_tokens ?? count(usage?.prompt_tokens) + count(usage?.completion_tokens),
        ),
      },
      finish_reason: choice?.finish_reason ?? null,
      attempts: 1,
    }
  }

  return {
    model: options.model,
    baseUrl: publicBaseUrl,
    async chat(request) {
      const model = request.model ?? options.model
      const purpose = request.purpose ?? 'other'
      const startedMs = clock.now()
      for (let attemptNumber = 1; ; attemptNumber++) {
        try {
          const result = await attempt(request, model)
          tally.record(purpose, result.model, result.usage, attemptNumber - 1, false)
          logger.debug('llm request completed', {
            purpose,
            attempts: attemptNumber,
            durationMs: clock.now() - startedMs,
            promptMessages: request.messages.length,
            ...result.usage,
          })
          return { ...result, attempts: attemptNumber }
        } catch (error) {
          const failure = error as LlmError
          if (failure.retriable && attemptNumber <= maxRetries && request.signal?.aborted !== true) {
            const delayMs = backoffMs(attemptNumber, failure, initialDelayMs, maxDelayMs, random)
            logger.warn('llm request failed, retrying', {
              purpose,
              attempt: attemptNumber,
              reason: failure.reason,
              ...(failure.status === undefined ? {} : { status: failure.status }),
              delayMs,
            })
            await sleep(clock, delayMs, request.signal)
            continue
          }
          tally.record(purpose, model, undefined, attemptNumber - 1, true)
          logger.warn('llm request failed', {
            purpose,
            attempts: attemptNumber,
            reason: failure.reason,
            ...(failure.status === undefined ? {} : { status: failure.status }),
            error: failure.message,
          })
          throw new LlmError(failure.reason, failure.message, {
            ...(failure.status === undefined ? {} : { status: failure.status }),
            attempts: attemptNumber,
          })
        }
      }
    },
    usage: () => tally.report(),
  }
}

/** The provider the config describes, or undefined when `llm.baseUrl` is not set. */
export function createLlmProviderFromConfig(
  config: HarmoniaConfig['llm'],
  options: { logger?: Logger; clock?: Clock } = {},
): LlmProvider | undefined {
  if (config.baseUrl === undefined || config.baseUrl === '') return undefined
  return createLlmProvider({
    baseUrl: config.baseUrl,
    model: config.model ?? '',
    ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
    timeoutMs: config.timeoutMs,
    maxRetries: config.maxRetries,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  })
}

/** `text` with every occurrence of `secret` (and of a `Bearer <token>`) replaced by `***`. */
export function maskSecret(text: string, secret: string | undefined): string {
  let masked = secret !== undefined && secret.length >= 4 ? text.replaceAll(secret, MASK) : text
  masked = masked.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g, `$1${MASK}`)
  return masked
}

export function emptyUsage(): TokenUsage {
  return { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
}

export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  return {
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    total_tokens: a.total_tokens + b.total_tokens,
  }
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0
}

class UsageTally {
  readonly #since: string
  readonly #total = zeroTotals()
  readonly #byModel = new Map<string, UsageTotals>()
  readonly #byPurpose = new Map<string, UsageTotals>()

  constructor(since: string) {
    this.#since = since
  }

  record(
    purpose: string,
    model: string,
    usage: TokenUsage | undefined,
    retries: number,
    failed: boolean,
  ): void {
    for (const totals of [this.#total, entry(this.#byModel, model), entry(this.#byPurpose, purpose)]) {
      totals.requests++
      totals.retries += retries
      if (failed) totals.failed_requests++
      if (usage !== undefined) {
        totals.prompt_tokens += usage.prompt_tokens
        totals.completion_tokens += usage.completion_tokens
        totals.total_tokens += usage.total_tokens
      }
    }
  }

  report(): UsageReport {
    return {
      since: this.#since,
      ...this.#total,
      by_model: Object.fromEntries([...this.#byModel].map(([k, v]) => [k, { ...v }])),
      by_purpose: Object.fromEntries([...this.#byPurpose].map(([k, v]) => [k, { ...v }])),
    }
  }
}

function zeroTotals(): UsageTotals {
  return {
    requests: 0,
    failed_requests: 0,
    retries: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
  }
}

function entry(map: Map<string, UsageTotals>, key: string): UsageTotals {
  let totals = map.get(key)
  if (totals === undefined) map.set(key, (totals = zeroTotals()))
  return totals
}

/** The SDK's errors as LlmErrors with masked messages and no cause. */
function toLlmError(
  error: unknown,
  endpoint: string,
  mask: (text: string) => string,
  signal: AbortSignal | undefined,
): LlmError {
  if (error instanceof LlmError) return error
  const detail = (error instanceof Error ? error.message : String(error)).slice(0, 500)
  if (signal?.aborted === true || error instanceof OpenAI.APIUserAbortError) {
    return new LlmError(LlmFailure.aborted, `the request to the LLM endpoint ${endpoint} was aborted`)
  }
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new LlmError(
      LlmFailure.timeout,
      `the LLM endpoint ${endpoint} did not answer in time (llm.timeoutMs)`,
    )
  }
  if (error instanceof OpenAI.APIConnectionError) {
    const cause = (error as { cause?: { code?: string; cause?: { code?: string } } }).cause
    const code = cause?.code ?? cause?.cause?.code
    return new LlmError(
      LlmFailure.connection_error,
      `could not reach the LLM endpoint ${endpoint}${code === undefined ? '' : ` (${code})`}; check HARMONIA_LLM_BASE_URL and that the server is running`,
    )
  }
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    const status = error.status
    const answered = `the LLM endpoint ${endpoint} answered ${status}: ${mask(detail)}`
    const retryAfter = retryAfterMs(error.headers)
    const extra = retryAfter === undefined ? {} : { details: { retry_after_ms: retryAfter } }
    if (status === 429) return new LlmError(LlmFailure.rate_limited, answered, { status, ...extra })
    if (status >= 500) return new LlmError(LlmFailure.server_error, answered, { status, ...extra })
    const hint =
      status === 401 || status === 403
        ? '; check HARMONIA_LLM_API_KEY'
        : status === 404
          ? '; check HARMONIA_LLM_BASE_URL (it should end with the API version, e.g. /v1) and HARMONIA_LLM_MODEL'
          : ''
    return new LlmError(`HTTP_${status}`, `${answered}${hint}`, { status })
  }
  return new LlmError(LlmFailure.invalid_response, `the LLM call to ${endpoint} failed: ${mask(detail)}`)
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (headers === undefined || typeof headers.get !== 'function') return undefined
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '')
  if (Number.isFinite(ms) && ms >= 0) return ms
  const raw = headers.get('retry-after')
  if (raw === null) return undefined
  const seconds = Number.parseFloat(raw)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const at = Date.parse(raw)
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined
}

function backoffMs(
  attempt: number,
  failure: LlmError,
  initialDelayMs: number,
  maxDelayMs: number,
  random: () => number,
): number {
  const asked = (failure.details as { retry_after_ms?: number } | undefined)?.retry_after_ms
  if (typeof asked === 'number') return Math.min(maxDelayMs, Math.ceil(asked))
  const base = Math.min(maxDelayMs, initialDelayMs * BACKOFF_FACTOR ** (attempt - 1))
  return Math.round(base * (1 - JITTER + JITTER * random()))
}

/**
 * Timers that keep the process alive (core's systemClock unrefs its timers): a CLI command waiting to retry
 * must not end because nothing else is pending.
 */
const processClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, delayMs) {
    const handle = setTimeout(callback, delayMs)
    return { cancel: () => clearTimeout(handle) }
  },
}

function sleep(clock: Clock, delayMs: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new LlmError(LlmFailure.aborted, 'the LLM request was aborted while waiting to retry'))
      return
    }
    const onAbort = (): void => {
      timer.cancel()
      reject(new LlmError(LlmFailure.aborted, 'the LLM request was aborted while waiting to retry'))
    }
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, delayMs)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
