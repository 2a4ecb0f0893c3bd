/**
 * `startServer`: wires Harmonia from a resolved config, recovers unfinished executions, listens, and prints
 * the URL it listens on (`Harmonia listening on http://127.0.0.1:8002`, also with port 0). On SIGTERM or
 * SIGINT it stops accepting, closes the event streams, lets running tasks reach a persisted point within
 * `server.shutdownGraceMs`, closes the store, and exits 0 (a second signal exits at once).
 *
 * Without API keys it refuses a non-loopback address unless `server.noAuth` says so explicitly.
 */
import { isIP } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import type { HarmoniaConfig } from '../core/config.ts'
import { HarmoniaError } from '../core/errors.ts'
import type { Store } from '../core/store.ts'
import { createHarmonia, type Harmonia } from '../harmonia.ts'
import { buildApp } from './app.ts'
import { createServerLogger, pinoAsLogger } from './logging.ts'

export interface StartServerOptions {
  /** The process environment (for `${env.X}` allow-listed names). */
  env?: Record<string, string | undefined>
  /** Directory the data dir is relative to. */
  cwd?: string
  /** Where logs go (default stdout). */
  logDestination?: DestinationStream
  /** Where the "listening" line goes (default stdout). */
  announce?: (line: string) => void
  /** Install SIGTERM/SIGINT handlers that shut down and exit the process. */
  handleSignals?: boolean
  /** Use this store instead of the configured one (tests). */
  store?: Store
}

export interface RunningServer {
  readonly url: string
  readonly app: FastifyInstance
  readonly harmonia: Harmonia
  /** Graceful shutdown; idempotent. */
  close(): Promise<void>
}

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true
  if (isIP(bare) === 4) return bare.startsWith('127.')
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./.test(bare)
  return false
}

/** Throws when the config would expose an unauthenticated server beyond this machine. */
export function assertSafeBind(config: Readonly<HarmoniaConfig>): void {
  const { host, apiKeys, noAuth } = config.server
  if (apiKeys.length > 0 || noAuth || isLoopbackHost(host)) return
  throw new HarmoniaError(
    'not_configured',
    `refusing to listen on ${host} without API keys: anyone who can reach it could run workflows. ` +
      'Set HARMONIA_API_KEYS (or server.apiKeys in the config file), listen on 127.0.0.1, ' +
      'or pass --no-auth to serve without authentication on purpose',
    { details: { host } },
  )
}

export async function startServer(
  config: Readonly<HarmoniaConfig>,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  assertSafeBind(config)
  const log = createServerLogger(config.log.level, options.logDestination)
  const harmonia = await createHarmonia(config, {
    logger: pinoAsLogger(log),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.store === undefined ? {} : { store: options.store }),
  })
  let app: FastifyInstance
  try {
    await harmonia.start()
    app = await buildApp(harmonia, { logger: log })
    await app.listen({ host: config.server.host, port: config.server.port })
  } catch (error) {
    await harmonia.close().catch(() => {})
    throw error
  }
  const url = listeningUrl(app)
  harmonia.remote.setEndpoint(url)
  if (config.server.apiKeys.length === 0 && !isLoopbackHost(config.server.host)) {
    log.warn({ host: config.server.host }, 'serving without authentication (--no-auth)')
  }
  log.info({ url, storage: harmonia.store.kind }, 'Harmonia listening')
  ;(options.announce ?? ((line: string) => process.stdout.write(`${line}\n`)))(`Harmonia listening on ${url}`)

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      log.info('shutting down: no new connections; closing streams; letting tasks reach a persisted point')
      try {
        await app.close()
      } finally {
        await harmonia.close()
        log.info('shut down')
      }
    })())

  if (options.handleSignals === true) {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (closing !== undefined) {
        log.warn({ signal }, 'second signal: exiting now')
        process.exit(1)
      }
      log.info({ signal }, 'signal received')
      close().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed')
          process.exit(1)
        },
      )
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  }
  return { url, app, harmonia, close }
}

function listeningUrl(app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}
