/**
 * The Fastify app: every route of Tekton's Harmonia API under both `/api/v1` and `/api`, the live streams,
 * auth, rate limits, OpenAPI, metrics and the one error shape. `buildApp` wires and returns the app without
 * listening (tests use `inject()` or listen on port 0; server.ts listens for real).
 *
 * Answers are serialized with JSON.stringify: response schemas document, they never filter fields.
 * Request schemas are compiled by one Ajv instance (coercing query strings, applying defaults, reporting
 * every problem); workflow definitions are only required to be objects there, because the workflow
 * service reports their problems in detail (422).
 */
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import rateLimit from '@fastify/rate-limit'
import websocket from '@fastify/websocket'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger as PinoLogger } from 'pino'
import { HarmoniaError } from '../core/errors.ts'
import type { Harmonia } from '../harmonia.ts'
import { installAuth } from './auth.ts'
import { installConnectionReaper } from './connections.ts'
import type { ApiContext } from './context.ts'
import { installErrorHandlers } from './errors.ts'
import { StreamRegistry } from './event-stream.ts'
import { installMetrics } from './metrics.ts'
import { registerOpenApi } from './openapi.ts'
import { checkpointRoutes } from './routes/checkpoints.ts'
import { componentRoutes } from './routes/components.ts'
import { executionRoutes } from './routes/executions.ts'
import { llmRoutes } from './routes/llm.ts'
import { mcpRoutes } from '../mcp/mcp-http.ts'
import { signalRoutes } from './routes/signals.ts'
import { subscriptionRoutes } from './routes/subscriptions.ts'
import { systemRoutes } from './routes/system.ts'
import { webhookReceiverRoutes, webhookRoutes } from './routes/webhooks.ts'
import { scheduleRoutes } from './routes/schedules.ts'
import { templateRoutes } from './routes/templates.ts'
import { triggerRoutes } from './routes/triggers.ts'
import { workflowRoutes } from './routes/workflows.ts'
import { DEFINITION_MARKER, SHARED_SCHEMAS } from './schemas.ts'
import { registerSseRoutes } from './sse.ts'
import { installStaticUi } from './static-ui.ts'
import { registerWebSocketRoutes } from './ws.ts'

export interface BuildAppOptions {
  /** The server's pino logger; without one the app logs nothing. */
  logger?: PinoLogger
  /** Harmonia's version; read from package.json when absent. */
  version?: string
}

/** Both prefixes serve the same routes; `/api` is the alias Tekton's README uses. */
export const API_PREFIXES = ['/api/v1', '/api'] as const

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

export async function buildApp(harmonia: Harmonia, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const config = harmonia.config.server
  const version = options.version ?? (await readVersion())
  const app = Fastify({
    ...(options.logger === undefined
      ? { logger: false }
      : { loggerInstance: options.logger as unknown as FastifyBaseLogger }),
    bodyLimit: config.bodyLimitBytes,
    genReqId: (request: IncomingMessage) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    routerOptions: { ignoreTrailingSlash: true },
    // While closing, requests on open connections are still answered (in our error shape if they fail):
    // the engine keeps running until the app has closed.
    return503OnClosing: false,
  })

  installErrorHandlers(app)
  installBodyHandling(app)
  for (const schema of SHARED_SCHEMAS) app.addSchema(structuredClone(schema) as object)

  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', String(request.id))
  })

  const closingController = new AbortController()
  const streams = new StreamRegistry()
  // Before @fastify/websocket's own preClose: streams close with their reason (1001, SSE comment).
  app.addHook('preClose', async () => {
    closingController.abort()
    streams.closeAll({ code: 'shutdown', message: 'server shutting down' })
  })
  installConnectionReaper(app)

  // Before auth: its onRequest hook marks upgrade requests, so a refused upgrade's socket is closed.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } })
  // Before auth: a browser navigation gets the UI shell (no data; the UI asks the API with the user's key),
  // while an API client asking `/` for JSON needs a key like any other route.
  await installStaticUi(app)
  installAuth(app, config.apiKeys)
  if (config.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      max: config.rateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: (request) =>
        request.principal === undefined ? `ip:${request.ip}` : `key:${request.principal.name}`,
      allowList: (request) => request.routeOptions.config.access === 'public',
      errorResponseBuilder: (_request, context) =>
        new HarmoniaError(
          'rate_limit_exceeded',
          `rate limit of ${context.max} requests per minute exceeded; retry in ${Math.ceil(context.ttl / 1000)} s`,
          { details: { limit: context.max, retry_after_seconds: Math.ceil(context.ttl / 1000) } },
        ),
    })
  }
  const metrics = installMetrics(app, harmonia, streams)
  await registerOpenApi(app, version)

  const context = (hideFromDocs: boolean): ApiContext => ({
    harmonia,
    streams,
    metrics,
    closing: closingController.signal,
    version,
    startedAtMs: Date.now(),
    hideFromDocs,
  })
  const docsContext = context(false)
  await app.register(systemRoutes, docsContext)
  const streamOptions = { harmonia, registry: streams }
  await app.register(registerWebSocketRoutes, streamOptions)
  await app.register(registerSseRoutes, streamOptions)
  await app.register(webhookReceiverRoutes, context(true))
  await app.register(mcpRoutes, { harmonia, version })
  for (const prefix of API_PREFIXES) {
    const routeContext = prefix === '/api/v1' ? docsContext : context(true)
    await app.register(
      async (api) => {
        await api.register(workflowRoutes, routeContext)
        await api.register(executionRoutes, routeContext)
        await api.register(checkpointRoutes, routeContext)
        await api.register(componentRoutes, routeContext)
        await api.register(llmRoutes, routeContext)
        await api.register(webhookRoutes, routeContext) // with /hooks/<endpoint> (also served at the root)
        await api.register(subscriptionRoutes, routeContext)
        await api.register(signalRoutes, routeContext)
        await api.register(templateRoutes, routeContext)
        await api.register(scheduleRoutes, routeContext)
        await api.register(triggerRoutes, routeContext)
        await api.register(registerSseRoutes, { ...streamOptions, hideFromDocs: true })
        await api.register(registerWebSocketRoutes, streamOptions)
      },
      { prefix },
    )
  }
  await app.ready()
  return app
}

/**
 * JSON bodies: an empty body counts as none (clients POST `cancel` with a JSON content type and nothing
 * else), a body-less POST or PUT validates as `{}`, prototype poisoning is refused, and request schemas are
 * compiled by our Ajv instance.
 */
function installBodyHandling(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (typeof body === 'string' && body.trim() === '') {
      done(null, undefined)
      return
    }
    parseJson(request, body as string, done)
  })
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && (request.method === 'POST' || request.method === 'PUT')) {
      request.body = {}
    }
  })

  const ajv = new Ajv({
    coerceTypes: 'array',
    useDefaults: true,
    removeAdditional: false,
    allErrors: true,
    strict: false,
  })
  addFormats(ajv)
  for (const schema of SHARED_SCHEMAS) ajv.addSchema(structuredClone(schema) as object)
  const objectOnly: ValidateFunction = Object.assign(
    (data: unknown) => {
      const ok = typeof data === 'object' && data !== null && !Array.isArray(data)
      objectOnly.errors = ok
        ? null
        : [
            {
              instancePath: '',
              message: 'must be a JSON object (a workflow definition)',
              keyword: 'type',
              schemaPath: '#/type',
              params: {},
            },
          ]
      return ok
    },
    { errors: null },
  ) as unknown as ValidateFunction
  app.setValidatorCompiler(({ schema }) => {
    if ((schema as Record<string, unknown>)[DEFINITION_MARKER] !== undefined) return objectOnly
    return ajv.compile(schema)
  })
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))
}

async function readVersion(): Promise<string> {
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8')
  return (JSON.parse(text) as { version: string }).version
}
