/**
 * Structured output from a chat model: ask for JSON, extract it from the answer (bare, in a code fence, or
 * the first balanced object or list in the prose), validate it against a JSON Schema with Ajv and against
 * any extra check, and when it fails send the problems back to the model for a bounded number of repair
 * rounds. The result says whether a valid value was obtained; callers decide what an invalid one means.
 */
import type { ErrorObject, ValidateFunction } from 'ajv'
import { ValidationError } from '../core/errors.ts'
import { createSchemaCompiler, unsafePatternIssues } from '../core/json-schema.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import {
  addUsage,
  emptyUsage,
  type ChatMessage,
  type ChatRequest,
  type LlmProvider,
  type TokenUsage,
} from './provider.ts'

export const DEFAULT_REPAIR_ROUNDS = 2
/** Repair rounds a caller may ask for. */
export const MAX_REPAIR_ROUNDS = 5
/** Problems sent back to the model (and reported) per round. */
const MAX_PROBLEMS = 20
/** Starting points tried when looking for JSON inside prose. */
const MAX_SCAN_STARTS = 20
const MAX_CACHED_SCHEMAS = 200

export interface JsonRequestOptions {
  /** The conversation; it should already ask for JSON (see jsonInstruction). */
  messages: readonly ChatMessage[]
  /** The answer must match this JSON Schema. */
  schema?: JsonObject
  /** Further problems of a value that matches the schema (empty when none). */
  check?: (value: JsonValue) => string[]
  /** Rounds after the first answer in which the model may correct itself. Default 2. */
  maxRepairRounds?: number
  /** Model, temperature, max_tokens, signal, purpose. */
  chat?: Omit<ChatRequest, 'messages'>
}

export interface JsonAnswer {
  /** A value was obtained that passed the schema and the check. */
  ok: boolean
  /** The last value extracted (valid when `ok`), if any answer held JSON. */
  value?: JsonValue
  /** The model's last answer, as it was. */
  text: string
  /** Problems of the last answer; empty when `ok`. */
  problems: string[]
  /** Requests made (1 + repair rounds used). */
  rounds: number
  usage: TokenUsage
  model: string
}

/** Asks, validates, and repairs up to `maxRepairRounds` times. Throws LlmError only when a request fails. */
export async function requestJson(provider: LlmProvider, options: JsonRequestOptions): Promise<JsonAnswer> {
  const validate = options.schema === undefined ? undefined : compileJsonSchema(options.schema)
  const maxRepairRounds = Math.min(
    MAX_REPAIR_ROUNDS,
    Math.max(0, options.maxRepairRounds ?? DEFAULT_REPAIR_ROUNDS),
  )
  const messages: ChatMessage[] = [...options.messages]
  let usage = emptyUsage()
  for (let round = 1; ; round++) {
    const answer = await provider.chat({ ...options.chat, messages })
    usage = addUsage(usage, answer.usage)
    const extracted = extractJson(answer.content)
    let problems: string[]
    if (!extracted.ok) {
      problems = [extracted.problem]
    } else {
      problems = validate === undefined ? [] : validate(extracted.value)
      if (problems.length === 0 && options.check !== undefined) problems = options.check(extracted.value)
      problems = capProblems(problems)
    }
    const result: JsonAnswer = {
      ok: problems.length === 0,
      ...(extracted.ok ? { value: extracted.value } : {}),
      text: answer.content,
      problems,
      rounds: round,
      usage,
      model: answer.model,
    }
    if (result.ok || round > maxRepairRounds) return result
    messages.push(
      { role: 'assistant', content: answer.content },
      { role: 'user', content: repairPrompt(problems) },
    )
  }
}

/** The message that sends an answer's problems back to the model. */
export function repairPrompt(problems: readonly string[]): string {
  return [
    'Your previous answer cannot be used. Problems found:',
    ...problems.map((problem) => `- ${problem}`),
    'Answer again with the complete corrected JSON only: no prose, no code fences.',
  ].join('\n')
}

/** The instruction that asks for JSON (matching `schema` when given). */
export function jsonInstruction(schema?: JsonObject): string {
  return schema === undefined
    ? 'Answer with one JSON value only: no prose before or after it, no code fences.'
    : `Answer with one JSON value only (no prose before or after it, no code fences) that matches this JSON Schema:\n${JSON.stringify(schema)}`
}

export type Extraction = { ok: true; value: JsonValue } | { ok: false; problem: string }

/**
 * The JSON in a model's answer: the whole text, else a fenced ```json block, else the first balanced
 * `{...}` or `[...]` that parses.
 */
export function extractJson(text: string): Extraction {
  const trimmed = text.replace(/^\uFEFF/, '').trim()
  if (trimmed === '') return { ok: false, problem: 'the answer is empty; expected JSON' }
  const whole = tryParse(trimmed)
  if (whole.ok) return whole
  for (const match of trimmed.matchAll(/```[A-Za-z0-9_-]*[ \t]*\r?\n?([\s\S]*?)```/g)) {
    const fenced = tryParse(match[1]!.trim())
    if (fenced.ok) return fenced
  }
  let starts = 0
  for (let index = 0; index < trimmed.length && starts < MAX_SCAN_STARTS; index++) {
    const char = trimmed[index]
    if (char !== '{' && char !== '[') continue
    starts++
    const end = balancedEnd(trimmed, index)
    if (end === undefined) continue
    const candidate = tryParse(trimmed.slice(index, end + 1))
    if (candidate.ok) return candidate
  }
  return {
    ok: false,
    problem: `the answer is not valid JSON (${whole.ok ? '' : whole.problem}); expected one JSON value and nothing else`,
  }
}

function tryParse(text: string): Extraction {
  try {
    return { ok: true, value: JSON.parse(text) as JsonValue }
  } catch (error) {
    return { ok: false, problem: (error as Error).message }
  }
}

/** Index of the bracket closing the one at `start`, skipping brackets inside strings. */
function balancedEnd(text: string, start: number): number | undefined {
  let depth = 0
  let inString = false
  for (let index = start; index < text.length; index++) {
    const char = text[index]
    if (inString) {
      if (char === '\\') index++
      else if (char === '"') inString = false
      continue
    }
    if (char === '"') inString = true
    else if (char === '{' || char === '[') depth++
    else if (char === '}' || char === ']') {
      depth--
      if (depth === 0) return index
    }
  }
  return undefined
}

export type JsonCheck = (value: JsonValue) => string[]

const cache = new Map<string, JsonCheck>()
const compileWithAjv = createSchemaCompiler({ useDefaults: false })

/**
 * A function listing the problems of a value against `schema` (`/items/0/name: must be string`).
 * Throws ValidationError (field `schema`) when the schema cannot be used. Compiled schemas are cached.
 */
export function compileJsonSchema(schema: JsonObject): JsonCheck {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new ValidationError('invalid JSON Schema', [
      { field: 'schema', message: 'expected a JSON Schema object' },
    ])
  }
  const key = JSON.stringify(schema)
  const cached = cache.get(key)
  if (cached !== undefined) return cached
  const unsafe = unsafePatternIssues(schema, 'schema').map(({ field, message }) => `${field}: ${message}`)
  if (unsafe.length > 0) {
    throw new ValidationError(
      'invalid JSON Schema',
      unsafe.map((message) => ({ field: 'schema', message })),
    )
  }
  let validate: ValidateFunction
  try {
    validate = compileWithAjv(schema)
  } catch (error) {
    throw new ValidationError('invalid JSON Schema', [
      { field: 'schema', message: `is not a usable JSON Schema: ${(error as Error).message}` },
    ])
  }
  const check: JsonCheck = (value) => (validate(value) ? [] : (validate.errors ?? []).map(describeError))
  if (cache.size >= MAX_CACHED_SCHEMAS) cache.delete(cache.keys().next().value!)
  cache.set(key, check)
  return check
}

function describeError(error: ErrorObject): string {
  const where = error.instancePath === '' ? 'the value' : error.instancePath
  const params = error.params as {
    allowedValues?: unknown[]
    additionalProperty?: string
    missingProperty?: string
  }
  const extra =
    params.allowedValues !== undefined
      ? `: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
      : params.additionalProperty !== undefined
        ? ` ('${params.additionalProperty}')`
        : ''
  return `${where}: ${error.message ?? 'is invalid'}${extra}`
}

function capProblems(problems: string[]): string[] {
  if (problems.length <= MAX_PROBLEMS) return problems
  return [...problems.slice(0, MAX_PROBLEMS), `and ${problems.length - MAX_PROBLEMS} more problems`]
}
