/**
 * What of an execution may be shown to a model or in an answer: values under keys that name secrets are
 * replaced by `***` (token, password, secret, api_key, authorization, cookie, credential, private key), and
 * large values are trimmed (long strings cut, long lists and objects shortened, deep nesting elided), so a
 * prompt stays small and never carries credentials.
 */
import type { JsonObject, JsonValue } from '../core/model.ts'

export const REDACTED = '***'

/** Keys whose values are secrets. */
export const SECRET_KEY =
  /token|passw(or)?d|passwd|secret|api[_-]?key|apikey|authorization|auth[_-]?header|cookie|credential|private[_-]?key|session[_-]?id/i

export interface TrimLimits {
  /** Characters kept of a string. */
  maxStringChars: number
  /** Items kept of a list. */
  maxArrayItems: number
  /** Members kept of an object. */
  maxObjectKeys: number
  /** Levels kept; deeper values become a note. */
  maxDepth: number
}

export const DEFAULT_TRIM: TrimLimits = Object.freeze({
  maxStringChars: 500,
  maxArrayItems: 10,
  maxObjectKeys: 40,
  maxDepth: 6,
})

/** A copy with secrets redacted and sizes trimmed. */
export function redactAndTrim(value: JsonValue | undefined, limits: TrimLimits = DEFAULT_TRIM): JsonValue {
  return visit(value ?? null, limits, 0, false)
}

/** A copy with secrets redacted, nothing trimmed (for definitions and patches). */
export function redactSecrets(value: JsonValue | undefined): JsonValue {
  return visit(
    value ?? null,
    { maxStringChars: Infinity, maxArrayItems: Infinity, maxObjectKeys: Infinity, maxDepth: 256 },
    0,
    false,
  )
}

/** Secrets written inside text: `?api_key=…`/`&token=…` query parameters and `Bearer …` credentials. */
export function maskInlineSecrets(text: string): string {
  return text
    .replace(
      /([?&](?:api[_-]?key|apikey|key|token|access_token|secret|password|sig|signature)=)[^&#\s"']+/gi,
      `$1${REDACTED}`,
    )
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/g, `$1 ${REDACTED}`)
    .replace(/(\/\/[^:/@\s]+:)[^@\s/]+@/g, `$1${REDACTED}@`)
}

/** Replaces `secret` wherever it appears in the text. */
export function maskText(text: string, secrets: readonly string[]): string {
  let masked = text
  for (const secret of secrets) if (secret.length >= 4) masked = masked.replaceAll(secret, REDACTED)
  return masked
}

function visit(value: JsonValue, limits: TrimLimits, depth: number, secret: boolean): JsonValue {
  if (secret && value !== null && typeof value !== 'object') return REDACTED
  if (typeof value === 'string') {
    const masked = maskInlineSecrets(value)
    return masked.length > limits.maxStringChars
      ? `${masked.slice(0, limits.maxStringChars)}… (${masked.length - limits.maxStringChars} more characters)`
      : masked
  }
  if (value === null || typeof value !== 'object') return value
  if (depth >= limits.maxDepth) return Array.isArray(value) ? `[list of ${value.length} items]` : '{object}'
  if (Array.isArray(value)) {
    const items = value.slice(0, limits.maxArrayItems).map((item) => visit(item, limits, depth + 1, secret))
    if (value.length > limits.maxArrayItems) items.push(`… ${value.length - limits.maxArrayItems} more items`)
    return items
  }
  const out: JsonObject = {}
  const entries = Object.entries(value)
  for (const [key, item] of entries.slice(0, limits.maxObjectKeys)) {
    const isSecret = secret || SECRET_KEY.test(key)
    Object.defineProperty(out, key, {
      value:
        isSecret && (item === null || typeof item !== 'object')
          ? REDACTED
          : visit(item, limits, depth + 1, isSecret),
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  if (entries.length > limits.maxObjectKeys) out['…'] = `${entries.length - limits.maxObjectKeys} more keys`
  return out
}
