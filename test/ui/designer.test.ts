/**
 * In a real browser against a real `harmonia serve`: build a three-task workflow in the designer by clicking
 * palette entries and dragging between node handles, save it, run it, and watch every node turn completed
 * live over the WebSocket.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
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

/** The handle's box once it has stood still for a few frames (a fit of the view may still be under way). */
async function settledBox(
  page: Page,
  label: string,
): Promise<{ x: number; y: number; width: number; height: number }> {
  const handle = page.getByLabel(label, { exact: true })
  const frames = (): Promise<void> =>
    page.evaluate(
      () =>
        new Promise<void>((resolve) => {
          let n = 0
          const next = (): void => void (++n === 10 ? resolve() : requestAnimationFrame(next))
          requestAnimationFrame(next)
        }),
    )
  return until(`handle ${label} to stand still`, async () => {
    const before = await handle.boundingBox()
    await frames()
    const after = await handle.boundingBox()
    return before !== null && after !== null && before.x === after.x && before.y === after.y
      ? after
      : undefined
  })
}

/**
 * Drags from one handle to another until React Flow draws the edge: the view re-fits once nodes are
 * measured, and a fit that lands during the gesture moves the target away, so a missed drop is repeated;
 * a handle out of the canvas is brought back with the Fit View control first.
 */
async function drag(page: Page, fromLabel: string, toLabel: string, edgeId: string): Promise<void> {
  const edge = page.locator(`[data-testid="rf__edge-${edgeId}"]`)
  let fits = 0
  for (let attempt = 1; ;) {
    const from = await settledBox(page, fromLabel)
    const to = await settledBox(page, toLabel)
    // A handle outside the canvas (the task editor opening narrows it) is brought into view as a user would.
    const reachable = await page.evaluate(
      (points) =>
        points.every(
          ([x, y, label]) =>
            document.elementFromPoint(Number(x), Number(y))?.closest(`[aria-label="${label}"]`) != null,
        ),
      [
        [from.x + from.width / 2, from.y + from.height / 2, fromLabel],
        [to.x + to.width / 2, to.y + to.height / 2, toLabel],
      ],
    )
    if (!reachable) {
      if (++fits > 3)
        assert.fail(`handles ${fromLabel} and ${toLabel} stay out of reach after fitting the view`)
      await page.getByRole('button', { name: 'Fit View' }).click()
      continue
    }
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2)
    await page.mouse.down()
    await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 12 })
    await page.mouse.up()
    try {
      await edge.waitFor({ state: 'attached', timeout: 5_000 })
      return
    } catch (error) {
      // Say what the drop met, so a miss can be told from a refused connection.
      const seen = await page.evaluate(
        ([x, y]) => {
          const hit = document.elementFromPoint(x!, y!)
          const edges = [...document.querySelectorAll('[data-testid^="rf__edge-"]')].map((e) =>
            e.getAttribute('data-testid'),
          )
          return `drop met <${hit?.tagName.toLowerCase()} class="${hit?.getAttribute('class') ?? ''}" aria-label="${hit?.getAttribute('aria-label') ?? ''}">; edges: ${edges.join(', ')}`
        },
        [to.x + to.width / 2, to.y + to.height / 2],
      )
      console.log(`drag ${fromLabel} -> ${toLabel}, attempt ${attempt}: ${seen}`)
      if (attempt === 3) throw error
      attempt++
    }
  }
}

test('designer: three tasks by click and drag, save, run, every node completes live', { skip }, async () => {
  const { page, foreign } = await openPage(browser, server)
  await page.goto(`${server.url}/#/workflows`)
  await page.getByRole('button', { name: 'New workflow' }).click()

  await page.getByLabel('Workflow name').fill('ui-three-tasks')
  await page.getByRole('button', { name: 'Add core.echo' }).click()
  await page.getByRole('button', { name: 'Add core.echo' }).click()
  await page.getByRole('button', { name: 'Add core.delay' }).click()
  for (const name of ['echo_1', 'echo_2', 'delay_1'])
    await page.getByRole('group', { name: `Task ${name}` }).waitFor()

  // Undo and redo (buttons and keyboard) an added task.
  await page.getByRole('button', { name: 'Add core.log' }).click()
  const extra = page.getByRole('group', { name: 'Task log_1' })
  await extra.waitFor()
  await page.getByRole('button', { name: 'Undo' }).click()
  await extra.waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'Redo' }).click()
  await extra.waitFor()
  await page.getByRole('button', { name: 'Redo' }).focus()
  await page.keyboard.press('Control+z')
  await extra.waitFor({ state: 'detached' })
  await page.getByRole('group', { name: 'Task delay_1' }).click()

  // The delay task waits 1.5 s, so the run is seen in progress first.
  const editor = page.getByRole('complementary', { name: 'Task editor' })
  await editor.getByRole('textbox', { name: /^ms/ }).fill('1500')
  assert.deepEqual(JSON.parse(await editor.getByLabel('Input (JSON)').inputValue()), { ms: 1500 })
  await page.getByRole('group', { name: 'Task echo_2' }).click()
  await editor.getByLabel('Input (JSON)').fill('{"greeting": "${tasks.echo_1.output}"}')

  // Validation as you edit: the server's problem shows on the field and on the node it concerns.
  await editor.getByLabel('Depends on').fill('ghost')
  await editor.getByRole('alert').filter({ hasText: "unknown task 'ghost'" }).waitFor()
  await page.getByRole('group', { name: 'Task echo_2' }).getByText("unknown task 'ghost'").waitFor()
  await editor.getByLabel('Depends on').fill('')
  await editor.getByRole('alert').filter({ hasText: 'ghost' }).waitFor({ state: 'detached' })

  await drag(page, 'Connect from echo_1', 'Dependency input of echo_2', 'echo_1->echo_2')
  await drag(page, 'Connect from echo_2', 'Dependency input of delay_1', 'echo_2->delay_1')
  // Reference completion offers the outputs of upstream tasks only.
  const references = async (): Promise<string[]> =>
    editor.getByRole('group', { name: 'Insert a reference' }).getByRole('button').allTextContents()
  await page.getByRole('group', { name: 'Task delay_1' }).click()
  await until('delay_1 to offer both upstream outputs', async () =>
    (await references()).length === 2 ? true : undefined,
  )
  assert.deepEqual(await references(), ['${tasks.echo_1.output}', '${tasks.echo_2.output}'])
  await page.getByRole('group', { name: 'Task echo_2' }).click()
  await until('echo_2 to offer only echo_1', async () =>
    (await references()).length === 1 ? true : undefined,
  )
  assert.deepEqual(await references(), ['${tasks.echo_1.output}'])

  await page.getByRole('button', { name: 'Auto layout' }).click()
  await page.getByRole('button', { name: 'Save', exact: true }).click()
  await page.getByRole('status').filter({ hasText: 'Saved and published' }).waitFor()
  await screenshot(page, 'ui-designer.png')

  const workflows = await apiCall<{
    items: {
      workflow_id: string
      name: string
      tasks: Record<string, { depends_on: string[]; input: unknown }>
    }[]
  }>(server, 'GET', '/workflows')
  const saved = workflows.items.find((w) => w.name === 'ui-three-tasks')
  assert.ok(saved !== undefined, 'the workflow was saved')
  assert.deepEqual(saved.tasks.echo_2?.depends_on, ['echo_1'])
  assert.deepEqual(saved.tasks.delay_1?.depends_on, ['echo_2'])
  assert.deepEqual(saved.tasks.delay_1?.input, { ms: 1500 })

  await page.getByRole('button', { name: 'Run', exact: true }).click()
  await page.getByRole('dialog', { name: 'Run workflow' }).getByRole('button', { name: 'Start run' }).click()
  await page.waitForURL(/#\/executions\/exec-/)
  const executionId = decodeURIComponent(page.url().split('#/executions/')[1] ?? '')

  // Live: the delay task is seen not yet completed, then completed, without a reload.
  const delayNode = page.getByRole('group', { name: 'Task delay_1' })
  await delayNode.waitFor()
  assert.notEqual(await delayNode.getAttribute('data-status'), 'completed', 'the run is watched in progress')
  const navigations: string[] = []
  page.on('framenavigated', (frame) => navigations.push(frame.url()))
  for (const name of ['echo_1', 'echo_2', 'delay_1'])
    await page.locator(`[aria-label="Task ${name}"][data-status="completed"]`).waitFor({ timeout: 20_000 })
  assert.deepEqual(navigations, [], 'statuses arrived without reloading the page')
  await page.getByLabel('Execution status').filter({ hasText: 'completed' }).waitFor()
  await screenshot(page, 'ui-execution-monitor.png')

  const execution = await until('the execution to complete', async () => {
    const e = await apiCall<{ status: string; task_status: Record<string, { output: unknown }> }>(
      server,
      'GET',
      `/executions/${executionId}`,
    )
    return e.status === 'completed' ? e : undefined
  })
  assert.deepEqual(execution.task_status.echo_2?.output, { greeting: {} })
  assert.deepEqual(foreign, [], 'the UI asks no host but the Harmonia server')
})
