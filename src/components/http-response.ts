/**
 * Reading an HTTP answer for `http.request`: the body with a size cap, decoded by its content type (JSON
 * parsed, text as text, anything else base64), and the short excerpt error details carry.
 */
import { TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'

/** Characters of a response body kept in error details. */
export const BODY_EXCERPT_CHARS = 500

export interface DecodedBody {
  body: JsonValue
  /** Set when the body is binary and given as base64. */
  encoding?: 'base64'
  /** The body as text, when it is text (for error excerpts). */
  text?: string
}

/** Reads at most `maxBytes` of the body; throws TaskFailure `RESPONSE_TOO_LARGE` (not retriable) past that. */
export async function readCapped(response: Response, maxBytes: number, where: string): Promise<Uint8Array> {
  const tooLarge = (): TaskFailure =>
    new TaskFailure(
      'RESPONSE_TOO_LARGE',
      `${where}: the response body is larger than the ${formatBytes(maxBytes)} cap; ask for less (paging, filters) or raise the cap (not retriable)`,
      { retriable: false, details: { status: response.status, max_bytes: maxBytes } },
    )
  const declared = Number(response.headers.get('content-length') ?? Number.NaN)
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw tooLarge()
  }
  if (response.body === null) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of response.body) {
    total += chunk.byteLength
    if (total > maxBytes) throw tooLarge()
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Decodes a body by its content type. Throws TaskFailure `INVALID_RESPONSE` when JSON does not parse. */
export function decodeBody(bytes: Uint8Array, contentType: string | null, where: string): DecodedBody {
  const type = (contentType ?? '').toLowerCase()
  const mediaType = type.split(';')[0]!.trim()
  if (isJson(mediaType)) {
    const text = decodeText(bytes, type)
    if (text.trim() === '') return { body: null, text }
    try {
      return { body: JSON.parse(text) as JsonValue, text }
    } catch (error) {
      throw new TaskFailure(
        'INVALID_RESPONSE',
        `${where}: the response says ${mediaType} but its body is not valid JSON (${(error as Error).message}) (not retriable)`,
        { retriable: false, details: { body_excerpt: excerpt(text) } },
      )
    }
  }
  if (isText(mediaType)) {
    const text = decodeText(bytes, type)
    return { body: text, text }
  }
  return { body: Buffer.from(bytes).toString('base64'), encoding: 'base64' }
}

/** The text of an error answer, for its excerpt; undefined when the body is binary. */
export function textOf(bytes: Uint8Array, contentType: string | null): string | undefined {
  const type = (contentType ?? '').toLowerCase()
  const mediaType = type.split(';')[0]!.trim()
  return isJson(mediaType) || isText(mediaType) ? decodeText(bytes, type) : undefined
}

export function excerpt(text: string): string {
  return text.length > BODY_EXCERPT_CHARS ? `${text.slice(0, BODY_EXCERPT_CHARS)}…` : text
}

/** Response headers as an object of lower-case names; repeated headers are joined with ', '. */
export function headersObject(headers: Headers): JsonObject {
  const result: Record<string, string> = {}
  for (const [name, value] of headers) {
    result[name] = Object.hasOwn(result, name) ? `${result[name]}, ${value}` : value
  }
  return result
}

/** Milliseconds a `Retry-After` header asks to wait (seconds or an HTTP date); undefined when absent. */
export function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === '') return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}

function isJson(mediaType: string): boolean {
  return /^[a-z0-9.+-]+\/([a-z0-9.-]+\+)?json$/.test(mediaType)
}

function isText(mediaType: string): boolean {
  return (
    mediaType === '' ||
    mediaType.startsWith('text/') ||
    /[/+]xml$/.test(mediaType) ||
    mediaType === 'application/javascript' ||
    mediaType === 'application/x-www-form-urlencoded' ||
    mediaType === 'application/graphql' ||
    mediaType === 'application/yaml' ||
    mediaType === 'application/x-yaml'
  )
}

function decodeText(bytes: Uint8Array, contentType: string): string {
  const charset = /;\s*charset="?([^";]+)"?/.exec(contentType)?.[1]
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(bytes)
  } catch {
    return new TextDecoder('utf-8').decode(bytes)
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}
