/**
 * Structured logs: pino for the server, with request ids, API keys redacted from headers and from the
 * `api_key` query parameter, and an adapter that gives core code its small Logger interface.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino'
import type { HarmoniaConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'

/** Header paths pino censors wherever a request or its headers are logged. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
]

/** `?api_key=secret&x=1` → `?api_key=***&x=1`. */
export function maskQuerySecrets(url: string): string {
  return url.replace(/([?&](?:api_key|apikey|token|access_token)=)[^&#]*/gi, '$1***')
}

interface RequestLike {
  id?: unknown
  method?: string
  url?: string
  headers?: Record<string, unknown>
  socket?: { remoteAddress?: string; remotePort?: number }
}

export function createServerLogger(
  level: HarmoniaConfig['log']['level'],
  destination?: DestinationStream,
): PinoLogger {
  const options = {
    level,
    base: { service: 'harmonia' },
    redact: { paths: REDACTED_PATHS, censor: '***' },
    serializers: {
      req(request: RequestLike) {
        return {
          method: request.method,
          url: maskQuerySecrets(request.url ?? ''),
          host: request.headers?.['host'],
          remoteAddress: request.socket?.remoteAddress,
          remotePort: request.socket?.remotePort,
        }
      },
      err: pino.stdSerializers.err,
    },
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}

/** What pinoAsLogger needs of a pino logger (Fastify's request loggers are pino loggers too). */
export interface PinoLike {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
  child(bindings: Record<string, unknown>): PinoLike
}

/** Core's Logger over pino: `log.info('message', {fields})` becomes pino's `info({fields}, 'message')`. */
export function pinoAsLogger(log: PinoLike): Logger {
  return {
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
    child: (fields) => pinoAsLogger(log.child(fields)),
  }
}
