/**
 * API keys. When the config lists keys, every route but the public ones (`/health`, `/ready`) needs
 * one, sent as `X-API-Key`, `Authorization: Bearer <key>`, or — on WebSocket and SSE routes, whose browser
 * clients cannot set headers — `?api_key=`. Scopes nest: `read` < `write` < `admin`. A route's needed scope
 * is its `config.access`, or by method: reads need `read`, deletes `admin`, other changes `write`.
 *
 * Keys are compared in constant time over SHA-256 digests (every configured key is compared, so timing does
 * not tell which one, nor how much of one, matched). Keys never reach logs (see logging.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ApiKeyConfig, ApiKeyScope } from '../core/config.ts'
import { HarmoniaError } from '../core/errors.ts'

/** What a route asks of the caller: nothing (`public`) or a key of at least this scope. */
export type RouteAccess = 'public' | ApiKeyScope

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scope the route needs; by default from the method. */
    access?: RouteAccess
    /** A WebSocket or SSE route: the key may come as `?api_key=`. */
    stream?: boolean
  }
  interface FastifyRequest {
    /** The key that authenticated this request (its name and scope, never the key). */
    principal?: { name: string; scope: ApiKeyScope }
  }
}

const RANK: Readonly<Record<ApiKeyScope, number>> = { read: 1, write: 2, admin: 3 }

export function scopeAllows(granted: ApiKeyScope, needed: ApiKeyScope): boolean {
  return RANK[granted] >= RANK[needed]
}

/** The scope a route needs when its config does not say. */
export function scopeForMethod(method: string): ApiKeyScope {
  const upper = method.toUpperCase()
  if (upper === 'GET' || upper === 'HEAD' || upper === 'OPTIONS') return 'read'
  if (upper === 'DELETE') return 'admin'
  return 'write'
}

interface HashedKey {
  digest: Buffer
  name: string
  scope: ApiKeyScope
}

export interface KeyRing {
  readonly enabled: boolean
  /** The matching key's name and scope, or undefined. Constant time in the key's content. */
  verify(presented: string): { name: string; scope: ApiKeyScope } | undefined
}

export function createKeyRing(keys: readonly ApiKeyConfig[]): KeyRing {
  const hashed: HashedKey[] = keys.map((k, index) => ({
    digest: sha256(k.key),
    name: k.name ?? `key-${index + 1}`,
    scope: k.scope,
  }))
  return {
    enabled: hashed.length > 0,
    verify(presented) {
      const digest = sha256(presented)
      let match: HashedKey | undefined
      for (const key of hashed) {
        // No early exit: every key is compared.
        if (timingSafeEqual(digest, key.digest) && match === undefined) match = key
      }
      return match === undefined ? undefined : { name: match.name, scope: match.scope }
    },
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/** The key a request presents, if any. */
export function presentedKey(request: FastifyRequest, allowQuery: boolean): string | undefined {
  const header = request.headers['x-api-key']
  if (typeof header === 'string' && header !== '') return header
  const authorization = request.headers.authorization
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim())
    if (match !== null) return match[1]!.trim()
  }
  if (allowQuery) {
    const fromQuery = (request.query as Record<string, unknown> | undefined)?.['api_key']
    if (typeof fromQuery === 'string' && fromQuery !== '') return fromQuery
  }
  return undefined
}

/** Adds the onRequest hook that authenticates and authorizes every request (nothing when no keys exist). */
export function installAuth(app: FastifyInstance, keys: readonly ApiKeyConfig[]): KeyRing {
  const ring = createKeyRing(keys)
  if (!ring.enabled) return ring
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config
    const access = config.access ?? scopeForMethod(request.method)
    if (access === 'public') return
    const key = presentedKey(request, config.stream === true)
    if (key === undefined) {
      throw new HarmoniaError(
        'authentication_failed',
        config.stream === true
          ? 'an API key is required: send X-API-Key, Authorization: Bearer <key>, or ?api_key=<key>'
          : 'an API key is required: send X-API-Key or Authorization: Bearer <key>',
      )
    }
    const principal = ring.verify(key)
    if (principal === undefined) {
      throw new HarmoniaError('authentication_failed', 'the API key is not valid')
    }
    if (!scopeAllows(principal.scope, access)) {
      const path = request.routeOptions.url ?? request.url.split('?')[0]
      throw new HarmoniaError(
        'permission_denied',
        `API key '${principal.name}' has scope '${principal.scope}'; ${request.method} ${path} needs '${access}'`,
        { details: { needed_scope: access, key_scope: principal.scope } },
      )
    }
    request.principal = principal
  })
  return ring
}
