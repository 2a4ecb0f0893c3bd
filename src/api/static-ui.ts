/**
 * Serves the web UI built into `ui/dist` (see scripts/build-ui.ts): `/assets/*` and the files at the root
 * of the build are public (they hold no data: the UI asks the API with the user's key), and a browser
 * navigation (Accept: text/html) to `/` or to any path outside the API answers `index.html`, so API
 * clients still get JSON at `/`. The UI routes by hash (`/#/executions/...`), so deep links always load.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

export const UI_ROOT = fileURLToPath(new URL('../../ui/dist/', import.meta.url))

const RESERVED = [
  '/api',
  '/ws',
  '/events',
  '/hooks',
  '/docs',
  '/openapi.json',
  '/health',
  '/ready',
  '/metrics',
  '/mcp',
]

function reserved(path: string): boolean {
  return RESERVED.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))
}

export async function installStaticUi(app: FastifyInstance, root: string = UI_ROOT): Promise<void> {
  await app.register(fastifyStatic, { root, serve: false })
  const indexFile = (): boolean => existsSync(`${root}index.html`)

  app.get('/assets/*', { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
    const file = (request.params as { '*': string })['*']
    return reply.sendFile(`assets/${file}`)
  })
  app.get('/favicon.svg', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
    reply.sendFile('favicon.svg'),
  )

  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return
    const path = request.url.split('?')[0] ?? '/'
    if (reserved(path) || path.startsWith('/assets/')) return
    const accept = request.headers.accept ?? ''
    if (!accept.includes('text/html') || !indexFile()) return
    void reply.header('cache-control', 'no-cache').sendFile('index.html')
    return reply
  })
}
