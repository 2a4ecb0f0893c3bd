/**
 * System routes at the root: `GET /` (what this service is), `/health` (liveness with a store check),
 * `/ready` (accepting work), `/metrics` (Prometheus). `/health` and `/ready` need no API key (a browser's
 * navigation to `/` gets the UI shell without one, see static-ui.ts).
 */
import type { FastifyInstance } from 'fastify'
import { routeSchema, type ApiContext } from '../context.ts'
import { HealthAnswer, ReadyAnswer, RootAnswer } from '../schemas.ts'

export async function systemRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { harmonia } = context
  const tag = 'system'

  app.get(
    '/',
    {
      schema: routeSchema(context, tag, 'Component information', { response: { 200: RootAnswer } }),
      config: { access: 'read' },
    },
    async () => ({
      name: 'Harmonia',
      component: 'harmonia',
      version: context.version,
      description: 'Workflow orchestration engine for Tekton components and any HTTP service',
      status: context.closing.aborted ? 'stopping' : 'running',
      endpoints: {
        api: '/api/v1',
        api_alias: '/api',
        health: '/health',
        ready: '/ready',
        metrics: '/metrics',
        openapi: '/openapi.json',
        docs: '/docs',
        websocket: ['/ws/executions/{execution_id}', '/ws/events', '/ws/workflows'],
        sse: ['/events/executions/{execution_id}', '/events'],
      },
    }),
  )

  app.get(
    '/health',
    {
      schema: routeSchema(
        context,
        tag,
        'Liveness: version, uptime and a store check (503 when the store fails)',
        {
          response: { 200: HealthAnswer, 503: HealthAnswer },
        },
      ),
      config: { access: 'public' },
    },
    async (_request, reply) => {
      const store = await harmonia.store.health().catch((error: unknown) => ({
        ok: false,
        detail: error instanceof Error ? error.message : String(error),
      }))
      const stats = harmonia.engine.stats()
      const nodes = store.ok ? await harmonia.cluster.liveNodes().catch(() => undefined) : undefined
      const healthy = store.ok
      return reply.code(healthy ? 200 : 503).send({
        status: healthy ? 'healthy' : 'unhealthy',
        name: 'Harmonia',
        version: context.version,
        uptime_seconds: Math.round((Date.now() - context.startedAtMs) / 1000),
        store: {
          kind: harmonia.store.kind,
          ok: store.ok,
          ...(store.detail === undefined ? {} : { detail: store.detail }),
        },
        engine: {
          node_id: harmonia.engine.nodeId,
          running_executions: stats.running_executions,
          running_tasks: stats.running_tasks,
        },
        cluster: {
          node_id: harmonia.engine.nodeId,
          ...(nodes === undefined ? {} : { nodes, live_nodes: nodes.length }),
        },
        timestamp: new Date().toISOString(),
      })
    },
  )

  app.get(
    '/ready',
    {
      schema: routeSchema(
        context,
        tag,
        'Readiness: 200 while accepting work, 503 when stopping or the store fails',
        {
          response: { 200: ReadyAnswer, 503: ReadyAnswer },
        },
      ),
      config: { access: 'public' },
    },
    async (_request, reply) => {
      if (context.closing.aborted) return reply.code(503).send({ ready: false, reason: 'server is stopping' })
      const store = await harmonia.store.health().catch(() => ({ ok: false, detail: 'store check failed' }))
      if (!store.ok)
        return reply.code(503).send({ ready: false, reason: `store: ${store.detail ?? 'unavailable'}` })
      return { ready: true }
    },
  )

  app.get(
    '/metrics',
    {
      schema: routeSchema(context, tag, 'Prometheus metrics (text exposition format)', {
        produces: ['text/plain'],
      }),
      config: { access: 'read' },
    },
    async (_request, reply) => reply.type(context.metrics.contentType).send(await context.metrics.render()),
  )
}
