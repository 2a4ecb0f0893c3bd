/**
 * What the PostgreSQL adapter tells people when something goes wrong: driver errors become StoreError (or
 * ConflictError for a duplicate that the caller can act on) with the operation, the server's reason and,
 * for a connection failure, the masked address. The connection string's password never appears: it is
 * masked in the URL form (`postgres://user:***@host/db`), in `password=` parameters, and wherever the
 * password itself shows up in a driver message.
 */
import { ConflictError, HarmoniaError, StoreError } from '../core/errors.ts'

/** `postgres://user:secret@host/db?password=x` → `postgres://user:***@host/db?password=***`. */
export function maskConnectionString(connectionString: string): string {
  return connectionString
    .replace(/(\/\/[^:/@?#]*:)[^@/?#]*@/, '$1***@')
    .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)/gi, '$1***')
}

/** Returns a function that removes every trace of the connection string's password from a text. */
export function createSecretMask(connectionString: string): (text: string) => string {
  const secrets = new Set<string>()
  const fromUrl = /\/\/[^:/@?#]*:([^@/?#]*)@/.exec(connectionString)?.[1]
  const fromParam = /\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)/i.exec(connectionString)?.[1]
  for (const raw of [fromUrl, fromParam]) {
    if (raw === undefined || raw === '') continue
    secrets.add(raw)
    const unquoted = raw.startsWith("'") ? raw.slice(1, -1) : raw
    secrets.add(unquoted)
    try {
      secrets.add(decodeURIComponent(unquoted))
    } catch {
      // Not percent-encoded: the raw form is enough.
    }
  }
  // Very short passwords would mask ordinary letters; the URL forms are masked regardless.
  const plain = [...secrets].filter((secret) => secret.length >= 3).sort((a, b) => b.length - a.length)
  const url = connectionString
  const maskedUrl = maskConnectionString(connectionString)
  return (text: string): string => {
    let out = text.split(url).join(maskedUrl)
    out = maskConnectionString(out)
    for (const secret of plain) out = out.split(secret).join('***')
    return out
  }
}

interface DriverError {
  message?: string
  code?: string
  constraint?: string
  detail?: string
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
])

/** SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown, terminated). */
function isConnectionFailure(error: DriverError): boolean {
  const code = error.code ?? ''
  return (
    CONNECTION_CODES.has(code) ||
    code.startsWith('08') ||
    code.startsWith('57P') ||
    /connection (terminated|timeout)|timeout exceeded when trying to connect|Connection terminated/i.test(
      error.message ?? '',
    )
  )
}

const CONFLICTS: Record<string, string> = {
  executions_idempotency_key: 'an execution with this idempotency_key already exists',
  events_execution_seq: 'an event with this seq is already stored for the execution',
  workflows_pkey: 'this workflow revision is already stored; save the next revision instead',
}

/**
 * Turns anything a pg call threw into a HarmoniaError. HarmoniaErrors (LeaseLostError, validation) pass
 * through unchanged. `operation` names what was attempted (`commit`, `claimExecutions`, ...).
 */
export function toStoreError(
  operation: string,
  error: unknown,
  mask: (text: string) => string,
  maskedUrl: string,
): HarmoniaError {
  if (error instanceof HarmoniaError) return error
  const driver: DriverError = typeof error === 'object' && error !== null ? (error as DriverError) : {}
  const reason = mask(driver.message ?? String(error))
  const detail = driver.detail === undefined ? '' : ` (${mask(driver.detail)})`
  const cause = safeCause(error, mask)
  if (driver.code === '23505') {
    const what = CONFLICTS[driver.constraint ?? ''] ?? 'a row with this key already exists'
    return new ConflictError(`postgres store: ${operation}: ${what}${detail}`, {
      constraint: driver.constraint ?? null,
    })
  }
  if (driver.code === '22P05' || /unsupported Unicode escape sequence/.test(reason)) {
    return new StoreError(
      `postgres store: ${operation} failed: a JSON value holds the NUL character (\\u0000), which ` +
        'PostgreSQL cannot store in JSONB; remove it from the input or output',
      cause,
    )
  }
  if (isConnectionFailure(driver)) {
    return new StoreError(`postgres store: ${operation} failed: cannot reach ${maskedUrl}: ${reason}`, cause)
  }
  const sqlState = driver.code === undefined ? '' : ` [SQLSTATE ${driver.code}]`
  return new StoreError(`postgres store: ${operation} failed: ${reason}${detail}${sqlState}`, cause)
}

/** The driver error as a cause, rebuilt with a masked message when its text held the password. */
function safeCause(error: unknown, mask: (text: string) => string): unknown {
  if (!(error instanceof Error)) return error
  const masked = mask(error.message)
  const detail = (error as DriverError).detail
  if (masked === error.message && (detail === undefined || mask(detail) === detail)) return error
  const copy = new Error(masked)
  copy.name = error.name
  return copy
}
