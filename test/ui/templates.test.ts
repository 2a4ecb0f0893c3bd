/**
 * In a real browser against a real `harmonia serve`: import a Tekton template file by upload on the
 * Templates page, then instantiate it through the form generated from its parameters.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { REPO_ROOT } from '../cli/cli-harness.ts'
import {
  apiCall,
  launchBrowser,
  openPage,
  screenshot,
  skipReason,
  startServer,
  until,
  type UiServer,
} from './support.ts'

const FIXTURE = path.join(REPO_ROOT, 'test/ui/fixtures/bug_fix.json')

let skip = skipReason()
let server: UiServer
let browser: Browser

before(async () => {
  if (skip !== undefined) return
  server = await startServer()
  const probe = await fetch(`${server.url}/api/v1/templates`)
  if (probe.status === 404) {
    skip = 'this server has no /api/v1/templates routes yet'
    return
  }
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.close()
})

interface TemplateFile {
  name: string
  parameters: Record<string, { name?: string; required?: boolean; default_value?: unknown }>
}

test('templates: import a Tekton template file by upload and instantiate it through the form', async (t) => {
  if (skip !== undefined) {
    t.skip(skip)
    return
  }
  const file = JSON.parse(await readFile(FIXTURE, 'utf8')) as TemplateFile
  const { page, foreign } = await openPage(browser, server)
  await page.goto(`${server.url}/#/templates`)
  await page.getByLabel('Import Tekton template file').setInputFiles(FIXTURE)
  await page.getByRole('status').filter({ hasText: 'Imported template' }).waitFor()
  const card = page.getByRole('article', { name: `Template ${file.name}` })
  await card.waitFor()
  await screenshot(page, 'ui-template-library.png')
  const cards = page.getByRole('article', { name: /^Template / })
  const all = await cards.count()
  await page.getByLabel('Search templates').fill('bug')
  await card.waitFor()
  assert.ok((await cards.count()) <= all, 'the search narrows the library')

  await card.getByRole('button', { name: 'Use template' }).click()
  const dialog = page.getByRole('dialog', { name: `Instantiate ${file.name}` })
  await dialog.getByLabel('Workflow name').fill('bug-fix-from-ui')
  // Every parameter the file requires gets a value through its generated field.
  const given: Record<string, string> = {}
  for (const [key, spec] of Object.entries(file.parameters)) {
    if (spec.required !== true || spec.default_value !== undefined) continue
    const field = dialog.getByLabel(new RegExp(`^${spec.name ?? key}`))
    const tag = await field.evaluate((el) => el.tagName)
    if (tag === 'SELECT') {
      const value = await field.locator('option').nth(1).getAttribute('value')
      const option = value ?? (await field.locator('option').nth(1).innerText())
      await field.selectOption(option)
      given[key] = option
    } else {
      given[key] = `value of ${key}`
      await field.fill(given[key])
    }
  }
  await dialog.getByRole('button', { name: 'Create workflow' }).click()
  await page.waitForURL(/#\/designer\/./)
  const workflowId = decodeURIComponent(page.url().split('#/designer/')[1] ?? '')
  const workflow = await until('the instantiated workflow', () =>
    apiCall<{ name: string; tasks: Record<string, unknown> | unknown[] }>(
      server,
      'GET',
      `/workflows/${workflowId}`,
    ),
  )
  assert.equal(workflow.name, 'bug-fix-from-ui')
  const tasks = Array.isArray(workflow.tasks) ? workflow.tasks : Object.values(workflow.tasks)
  assert.equal(tasks.length, 3, 'the three tasks of the Bug Fix template')
  const text = JSON.stringify(workflow)
  for (const value of Object.values(given))
    assert.ok(text.includes(value), `parameter value ${value} is in the workflow`)
  await page
    .getByRole('group', { name: /^Task / })
    .first()
    .waitFor()
  assert.deepEqual(foreign, [], 'the UI asks no host but the Harmonia server')
})
