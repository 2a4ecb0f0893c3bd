/**
 * In a real browser against a real `harmonia serve`: start a workflow whose second task fails, see the
 * error in the task panel, and re-run the execution from the failed task (the completed task is kept).
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

interface ExecEvent {
  type: string
  data: { task?: string }
}

test('monitor: a failed task shows its error; re-run from the failed task', { skip }, async () => {
  await apiCall(server, 'POST', '/workflows', {
    name: 'ui-failing',
    input_schema: { type: 'object', properties: { who: { type: 'string' } }, required: ['who'] },
    tasks: [
      { name: 'prepare', component: 'core', action: 'echo', input: { who: '${input.who}' } },
      {
        name: 'deploy',
        component: 'core',
        action: 'fail',
        input: { code: 'DEPLOY_REFUSED', message: 'cluster refused the deployment' },
        depends_on: ['prepare'],
      },
    ],
  })
  const { page, foreign } = await openPage(browser, server)
  await page.goto(`${server.url}/#/workflows`)
  await page.getByRole('button', { name: 'Run ui-failing' }).click()
  const dialog = page.getByRole('dialog', { name: 'Run workflow' })
  await dialog.getByLabel('who').fill('ops')
  await dialog.getByRole('button', { name: 'Start run' }).click()
  await page.waitForURL(/#\/executions\/exec-/)
  const executionId = decodeURIComponent(page.url().split('#/executions/')[1] ?? '')

  await page.locator('[aria-label="Task deploy"][data-status="failed"]').waitFor()
  await page.locator('[aria-label="Task prepare"][data-status="completed"]').waitFor()
  await page.getByRole('group', { name: 'Task deploy' }).click()
  const panel = page.getByRole('complementary', { name: 'Task details' })
  const error = panel.getByRole('region', { name: 'Task error' })
  await error.waitFor()
  const text = await error.innerText()
  assert.match(text, /DEPLOY_REFUSED/)
  assert.match(text, /cluster refused the deployment/)

  // Explain this failure (rules-based without an LLM): names the failed task and a diagnosis.
  await page.getByRole('button', { name: 'Explain this failure' }).click()
  const explanation = page.getByLabel('Failure explanation')
  await explanation.filter({ hasText: 'Diagnosis:' }).waitFor()
  assert.match(await explanation.innerText(), /Failed task: deploy/)

  const started = async (): Promise<ExecEvent[]> =>
    (
      await apiCall<{ items: ExecEvent[] }>(server, 'GET', `/executions/${executionId}/events?limit=1000`)
    ).items.filter((e) => e.type === 'task_started')
  assert.equal((await started()).filter((e) => e.data.task === 'deploy').length, 1)

  await page.getByRole('button', { name: 'Re-run from failed' }).click()
  await page.getByRole('status').filter({ hasText: 'Re-run: done' }).waitFor()
  // The failed task runs again (and fails again: its action always fails); the completed one is kept.
  const after = await until('the re-run to start the failed task again', async () => {
    const events = await started()
    return events.filter((e) => e.data.task === 'deploy').length >= 2 ? events : undefined
  })
  assert.equal(
    after.filter((e) => e.data.task === 'prepare').length,
    1,
    'the completed task is not run again',
  )
  await page.locator('[aria-label="Task deploy"][data-status="failed"]').waitFor()
  await panel.getByRole('listitem').filter({ hasText: 'task_started' }).nth(1).waitFor()

  // Checkpoint, then restore it as a new execution (the page moves to it).
  await page.getByRole('button', { name: 'Checkpoint' }).click()
  await page.getByRole('status').filter({ hasText: 'Checkpoint: done' }).waitFor()
  await page.getByRole('button', { name: 'Restore' }).click()
  await page.waitForURL((url) => url.hash.startsWith('#/executions/') && !url.hash.endsWith(executionId))
  const restoredId = decodeURIComponent(page.url().split('#/executions/')[1] ?? '')
  const restored = await apiCall<{ execution_id: string; workflow_id: string }>(
    server,
    'GET',
    `/executions/${restoredId}`,
  )
  assert.notEqual(restored.execution_id, executionId)
  await page.getByRole('group', { name: 'Task deploy' }).waitFor()

  // Delete the first execution (finished: failed again), confirming the browser's question.
  await page.goto(`${server.url}/#/executions/${encodeURIComponent(executionId)}`)
  await page.getByLabel('Execution status').filter({ hasText: 'failed' }).waitFor()
  page.once('dialog', (dialog) => void dialog.accept())
  await page.getByRole('button', { name: 'Delete' }).click()
  await page.waitForURL((url) => url.hash === '#/executions')
  await assert.rejects(apiCall(server, 'GET', `/executions/${executionId}`), /answered 404/)
  assert.deepEqual(foreign, [], 'the UI asks no host but the Harmonia server')
})
