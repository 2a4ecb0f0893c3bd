/**
 * A webhook's own authentication (apart from Harmonia's API keys, which `/hooks/<endpoint>` does not need):
 * `none`, `basic`, `bearer`, `api_key` (a header) or `hmac` (HMAC-SHA256 over the raw body, optionally with
 * a timestamp against replays). Every secret is compared in constant time, and masked wherever a webhook
 * or a recorded call is shown.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { HarmoniaError, type ValidationIssue } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'

export const WebhookAuthType = {
  none: 'none',
  basic: 'basic',
  bearer: 'bearer',
  api_key: 'api_key',
  hmac: 'hmac',
} as const
export type WebhookAuthType = (typeof WebhookAuthType)[keyof typeof WebhookAuthType]

export const MASK = '***'

/** auth_config fields that hold secrets: masked in answers, kept when an update sends the mask back. */
export const SECRET_FIELDS = ['password', 'token', 'key', 'secret'] as const

export const HMAC_DEFAULTS = {
  header: 'X-Harmonia-Signature',
  timestampHeader: 'X-Harmonia-Timestamp',
  toleranceSeconds: 300,
} as const

/** The auth_config a webhook keeps, defaults applied. */
export type AuthConfig = JsonObject

/** Checks and normalizes `auth_config` for `auth_type`; problems go to `issues`. */
export function normalizeAuthConfig(
  type: string,
  raw: unknown,
  issues: ValidationIssue[],
  previous?: AuthConfig,
): AuthConfig {
  const config = (raw ?? {}) as Record<string, unknown>
  if (typeof config !== 'object' || Array.isArray(config)) {
    issues.push({ field: 'auth_config', message: 'expected an object' })
    return {}
  }
  const secret = (field: string): string => {
    let value = config[field]
    if (value === MASK && typeof previous?.[field] === 'string') value = previous[field]
    if (typeof value !== 'string' || value === '') {
      issues.push({
        field: `auth_config.${field}`,
        message: `auth_type '${type}' needs a non-empty string '${field}'`,
      })
      return ''
    }
    return value
  }
  const text = (field: string, fallback: string): string => {
    const value = config[field]
    if (value === undefined || value === null) return fallback
    if (typeof value !== 'string' || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/.test(value)) {
      issues.push({ field: `auth_config.${field}`, message: 'expected an HTTP header name' })
      return fallback
    }
    return value
  }
  switch (type) {
    case 'none':
      return {}
    case 'basic':
      return { username: secretlessText(config, 'username', issues), password: secret('password') }
    case 'bearer':
      return { token: secret('token') }
    case 'api_key':
      return { header: text('header', 'X-API-Key'), key: secret('key') }
    case 'hmac': {
      const tolerance = config['tolerance_seconds'] ?? HMAC_DEFAULTS.toleranceSeconds
      if (typeof tolerance !== 'number' || !Number.isInteger(tolerance) || tolerance < 0) {
        issues.push({
          field: 'auth_config.tolerance_seconds',
          message: 'expected an integer number of seconds, 0 or more (0: no timestamp check)',
        })
      }
      const timestampHeader =
        config['timestamp_header'] === null ? null : text('timestamp_header', HMAC_DEFAULTS.timestampHeader)
      const requireTimestamp = config['require_timestamp'] ?? false
      if (typeof requireTimestamp !== 'boolean') {
        issues.push({ field: 'auth_config.require_timestamp', message: 'expected true or false' })
      } else if (requireTimestamp && timestampHeader === null) {
        issues.push({
          field: 'auth_config.require_timestamp',
          message: 'needs a timestamp_header (it is null)',
        })
      }
      return {
        secret: secret('secret'),
        header: text('header', HMAC_DEFAULTS.header),
        timestamp_header: timestampHeader,
        tolerance_seconds: typeof tolerance === 'number' ? tolerance : HMAC_DEFAULTS.toleranceSeconds,
        require_timestamp: requireTimestamp === true,
      }
    }
    default:
      issues.push({
        field: 'auth_type',
        message: `expected one of ${Object.keys(WebhookAuthType).join(', ')}, got ${JSON.stringify(type)}`,
      })
      return {}
  }
}

function secretlessText(config: Record<string, unknown>, field: string, issues: ValidationIssue[]): string {
  const value = config[field]
  if (typeof value !== 'string' || value === '') {
    issues.push({ field: `auth_config.${field}`, message: `needs a non-empty string '${field}'` })
    return ''
  }
  return value
}

/** The config with secrets replaced by the mask. */
export function maskAuthConfig(config: AuthConfig | undefined): JsonObject {
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(config ?? {})) {
    out[key] = (SECRET_FIELDS as readonly string[]).includes(key) && typeof value === 'string' ? MASK : value
  }
  return out
}

export interface AuthRequest {
  headers: Record<string, string | string[] | undefined>
  rawBody: Buffer
  nowMs: number
}

/** Throws `authentication_failed` (401) unless the request carries what the webhook's auth asks for. */
export function checkWebhookAuth(type: string, config: AuthConfig, request: AuthRequest): void {
  const header = (name: string): string | undefined => {
    const value = request.headers[name.toLowerCase()]
    return Array.isArray(value) ? value[0] : value
  }
  const fail = (message: string): never => {
    throw new HarmoniaError('authentication_failed', message)
  }
  switch (type) {
    case 'none':
      return
    case 'basic': {
      const match = /^Basic\s+(.+)$/i.exec(header('authorization')?.trim() ?? '')
      if (match === null) fail('this webhook needs HTTP basic authentication (Authorization: Basic ...)')
      const expected = `${String(config['username'])}:${String(config['password'])}`
      const given = Buffer.from(match![1]!, 'base64').toString('utf8')
      if (!sameSecret(given, expected)) fail('the basic credentials are not valid for this webhook')
      return
    }
    case 'bearer': {
      const match = /^Bearer\s+(.+)$/i.exec(header('authorization')?.trim() ?? '')
      if (match === null) fail('this webhook needs Authorization: Bearer <token>')
      if (!sameSecret(match![1]!.trim(), String(config['token']))) fail('the bearer token is not valid')
      return
    }
    case 'api_key': {
      const name = String(config['header'] ?? 'X-API-Key')
      const given = header(name)
      if (given === undefined || given === '') fail(`this webhook needs its key in header ${name}`)
      if (!sameSecret(given!, String(config['key']))) fail(`the key in header ${name} is not valid`)
      return
    }
    case 'hmac':
      checkHmac(config, request, header, fail)
      return
    default:
      fail(`webhook auth_type '${type}' is not supported`)
  }
}

function checkHmac(
  config: AuthConfig,
  request: AuthRequest,
  header: (name: string) => string | undefined,
  fail: (message: string) => never,
): void {
  const signatureHeader = String(config['header'] ?? HMAC_DEFAULTS.header)
  const timestampHeader = config['timestamp_header'] as string | null | undefined
  const tolerance = Number(config['tolerance_seconds'] ?? HMAC_DEFAULTS.toleranceSeconds)
  const presented = header(signatureHeader)
  if (presented === undefined || presented === '') {
    fail(`this webhook needs an HMAC-SHA256 signature in header ${signatureHeader}`)
  }
  const secret = String(config['secret'])
  // What may have been signed: "<timestamp>.<body>" when a timestamp is sent, else the body alone.
  const candidates: Buffer[] = []
  const timestamp =
    timestampHeader === null || timestampHeader === undefined ? undefined : header(timestampHeader)
  if (timestamp !== undefined && timestamp.trim() !== '') {
    const text = timestamp.trim()
    if (!/^\d{1,13}$/.test(text)) {
      fail(`header ${timestampHeader} must hold the signing time in Unix seconds, got '${text.slice(0, 20)}'`)
    }
    const value = Number(text)
    const seconds = value > 100_000_000_000 ? value / 1000 : value
    const ageSeconds = Math.abs(request.nowMs / 1000 - seconds)
    if (tolerance > 0 && ageSeconds > tolerance) {
      fail(
        `the signature timestamp is ${Math.round(ageSeconds)} s away from the server's time; at most ${tolerance} s is accepted (replay protection)`,
      )
    }
    candidates.push(Buffer.concat([Buffer.from(`${text}.`, 'utf8'), request.rawBody]))
  } else if (config['require_timestamp'] === true) {
    fail(`this webhook needs the signing time (Unix seconds) in header ${String(timestampHeader)}`)
  }
  candidates.push(request.rawBody)
  const given = presented!.trim().replace(/^sha256=/i, '')
  let matched = false
  for (const signed of candidates) {
    const digest = createHmac('sha256', secret).update(signed).digest()
    // Hex (any case) or base64; every form is compared, so timing does not tell which one was close.
    if (sameSecret(given.toLowerCase(), digest.toString('hex'))) matched = true
    if (sameSecret(given, digest.toString('base64'))) matched = true
  }
  if (!matched) fail(`the signature in header ${signatureHeader} does not match the body`)
}

/** Constant time in the secrets' content: compares SHA-256 digests. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest()
  const b = createHash('sha256').update(expected, 'utf8').digest()
  return timingSafeEqual(a, b)
}

const SENSITIVE_HEADER = /authorization|cookie|secret|token|signature|api[-_]?key|password|credential/i

/** Headers as recorded: secrets masked (the webhook's own auth headers, and any named like a secret). */
export function redactHeaders(
  headers: Record<string, string | string[] | undefined>,
  config: AuthConfig,
): JsonObject {
  const sensitive = new Set<string>()
  for (const field of ['header']) {
    const name = config[field]
    if (typeof name === 'string') sensitive.add(name.toLowerCase())
  }
  const out: JsonObject = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    const masked = sensitive.has(name.toLowerCase()) || SENSITIVE_HEADER.test(name)
    out[name] = masked ? MASK : (value as JsonValue)
  }
  return out
}
