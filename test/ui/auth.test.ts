/**
 * In a real browser against a `harmonia serve` that requires API keys: the UI loads without a key, says the
 * server needs one when the API answers 401, keeps the key entered in localStorage and then works (REST and
 * the live WebSocket); the theme toggles between light and dark.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { apiCall, launchBrowser, openPage, skipReason, startServer, type UiServer } from './support.ts'

const KEY = 'ui-test-key-7f3a9c'
const skip = skipReason()
let server: UiServer
let browser: Browser

before(async () => {
  if (skip !== undefined) return
  server = await startServer({ HARMONIA_API_KEYS: `${KEY}:admin` })
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.close()
})

test('a 401 asks for the API key; the key is kept in the browser and used', { skip }, async () => {
  await assert.rejects(apiCall(server, 'GET', '/workflows'), /401/, 'the server really requires a key')
  const { page, foreign } = await openPage(browser, server)
  await page.goto(`${server.url}/#/executions`)
  await page.getByRole('alert').filter({ hasText: 'The server needs an API key.' }).waitFor()

  await page.getByLabel('API key', { exact: true }).fill(KEY)
  await page.getByRole('button', { name: 'Save key' }).click()
  await page.getByRole('heading', { name: 'Executions' }).waitFor()
  await page.getByRole('status').filter({ hasText: 'live' }).waitFor()
  assert.equal(await page.getByText('The server needs an API key.').count(), 0)
  assert.equal(await page.evaluate(() => localStorage.getItem('harmonia.apiKey')), KEY)

  const before = await page.evaluate(() => document.documentElement.dataset.theme)
  await page.getByRole('button', { name: /theme$/ }).click()
  const afterToggle = await page.evaluate(() => document.documentElement.dataset.theme)
  assert.notEqual(afterToggle, before)
  assert.ok(afterToggle === 'dark' || afterToggle === 'light')
  assert.deepEqual(foreign, [])
})
