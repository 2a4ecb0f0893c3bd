/**
 * In a real browser against a real `harmonia serve`: the components page lists the built-ins with their
 * health, the triggers page shows the trigger kinds the server has, the execution list filters by status,
 * and analytics shows a workflow's runs, success rate and failures by task.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { apiCall, launchBrowser, openPage, skipReason, startServer, until, type UiServer } from './support.ts'

const skip = skipReason()
let server: UiServer
let browser: Browser

before(async () => {
  if (skip !== undefined) return
  server = await startServer()
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.close()
})

test('components, triggers, execution filters and analytics pages', { skip }, async () => {
  const workflow = await apiCall<{ workflow_id: string }>(server, 'POST', '/workflows', {
    name: 'ui-analytics',
    input_schema: { type: 'object', properties: { fail: { type: 'boolean' } } },
    tasks: [
      { name: 'first', component: 'core', action: 'echo', input: { ok: true } },
      {
        name: 'maybe_fail',
        component: 'core',
        action: 'fail',
        when: '${input.fail}',
        input: { code: 'ASKED_TO_FAIL' },
        depends_on: ['first'],
      },
    ],
  })
  for (const fail of [false, true, false]) {
    const started = await apiCall<{ execution_id: string }>(
      server,
      'POST',
      `/workflows/${workflow.workflow_id}/execute`,
      {
        input: { fail },
      },
    )
    await until('the execution to end', async () => {
      const e = await apiCall<{ status: string }>(server, 'GET', `/executions/${started.execution_id}`)
      return e.status === 'completed' || e.status === 'failed' ? e : undefined
    })
  }

  const { page, foreign } = await openPage(browser, server)
  await page.goto(`${server.url}/#/components`)
  const core = page.getByRole('article', { name: 'Component core' })
  await core.waitFor()
  assert.match(await core.innerText(), /echo/)

  await page.getByRole('link', { name: 'Triggers' }).click()
  await page.getByRole('region', { name: 'Webhooks' }).waitFor()

  await page.getByRole('link', { name: 'Executions' }).click()
  await page.getByLabel('Status').selectOption('failed')
  await until('only failed executions listed', async () => {
    const text = await page.getByRole('table').innerText()
    return text.includes('failed') && !text.includes('completed') ? true : undefined
  })
  await page.getByText(/Page 1 of 1 \(1 executions\)/).waitFor()

  await page.goto(`${server.url}/#/analytics/${workflow.workflow_id}`)
  await page.getByText('67%').waitFor()
  const failures = page.getByRole('figure', { name: 'Failures by task and error code' })
  await failures.getByText('maybe_fail (ASKED_TO_FAIL)').waitFor()
  assert.deepEqual(foreign, [])
})
