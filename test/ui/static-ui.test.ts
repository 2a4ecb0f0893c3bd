/**
 * `harmonia serve` serves the built UI: a browser navigation to `/` (or a non-API path) gets index.html and
 * its assets, while API clients keep JSON at `/` and under the reserved prefixes.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startServer, type UiServer } from './support.ts'

let server: UiServer

before(async () => {
  server = await startServer()
})

after(async () => {
  await server?.close()
})

const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }

test('a browser navigation to / gets the UI, and its script and stylesheet load', async () => {
  const page = await fetch(`${server.url}/`, { headers: HTML })
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type') ?? '', /text\/html/)
  const html = await page.text()
  assert.match(html, /<div id="root">/)
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string)
  assert.ok(assets.length >= 2, `index.html links its script and stylesheet: ${assets.join(', ')}`)
  for (const asset of assets) {
    const response = await fetch(`${server.url}${asset}`)
    assert.equal(response.status, 200, asset)
    assert.ok((await response.arrayBuffer()).byteLength > 0, `${asset} is not empty`)
  }
  const deep = await fetch(`${server.url}/executions/some-id`, { headers: HTML })
  assert.equal(deep.status, 200, 'a deep link outside the API falls back to index.html')
  assert.match(await deep.text(), /<div id="root">/)
})

test('API clients keep JSON at / and under /api, even when they accept HTML', async () => {
  const root = await fetch(`${server.url}/`, { headers: { accept: 'application/json' } })
  assert.match(root.headers.get('content-type') ?? '', /application\/json/)
  const unknown = await fetch(`${server.url}/api/v1/no-such-route`, { headers: HTML })
  assert.equal(unknown.status, 404)
  const body = (await unknown.json()) as { error: { code: string } }
  assert.equal(typeof body.error.code, 'string')
  const health = await fetch(`${server.url}/health`, { headers: HTML })
  assert.match(health.headers.get('content-type') ?? '', /application\/json/)
  const missing = await fetch(`${server.url}/assets/no-such-file.js`)
  assert.equal(missing.status, 404)
})
