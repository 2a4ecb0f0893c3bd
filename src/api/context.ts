/**
 * What every route module receives: the wired Harmonia, the open streams, and a signal aborted when the
 * server starts closing (long waits answer early instead of holding shutdown).
 */
import type { Harmonia } from '../harmonia.ts'
import type { StreamRegistry } from './event-stream.ts'
import type { Metrics } from './metrics.ts'

export interface ApiContext {
  readonly harmonia: Harmonia
  readonly streams: StreamRegistry
  readonly metrics: Metrics
  /** Aborted when the app begins to close. */
  readonly closing: AbortSignal
  /** Harmonia's version (package.json), read at startup. */
  readonly version: string
  /** When the app was built, in ms since the epoch. */
  readonly startedAtMs: number
  /** Routes under `/api` repeat those under `/api/v1`: hidden from the OpenAPI document. */
  readonly hideFromDocs: boolean
}

/** A route's schema with its OpenAPI tag and summary (hidden for the `/api` copies). */
export function routeSchema<S extends object>(
  context: ApiContext,
  tag: string,
  summary: string,
  schema: S,
): S & { tags: string[]; summary: string; hide: boolean } {
  return { ...schema, tags: [tag], summary, hide: context.hideFromDocs }
}
