/**
 * Browser-test support: builds the UI if stale, starts a real `harmonia serve` child on port 0 with a temp
 * data dir, and launches Debian's chromium headless through playwright-core. Without chromium the tests
 * skip (and fail under CI=true, where .ci/run installs it).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { buildUi } from '../../scripts/build-ui.ts'
import { BIN, REPO_ROOT, cliEnv } from '../cli/cli-harness.ts'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const DOCS_DIR = path.join(REPO_ROOT, 'docs')

/** The reason to skip browser tests here, or undefined; throws under CI, where chromium must be present. */
export function skipReason(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined
  const reason = `chromium not found at ${CHROMIUM}: install it with 'apt-get install -y chromium' (or set CHROMIUM_PATH)`
  if (process.env.CI === 'true') throw new Error(`browser tests need chromium in CI: ${reason}`)
  return reason
}

export interface UiServer {
  url: string
  dataDir: string
  close(): Promise<void>
}

export async function startServer(env: Record<string, string> = {}): Promise<UiServer> {
  await buildUi()
  const dataDir = await mkdtemp(path.join(tmpdir(), 'harmonia-ui-'))
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
    { cwd: dataDir, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`harmonia serve did not start in 30 s:\n${output}`)),
      30_000,
    )
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /Harmonia listening on (http:\/\/\S+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`harmonia serve exited (${code}) before listening:\n${output}`))
    })
  })
  return {
    url,
    dataDir,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
}

/** A page at 1280×800 that records every request to a host other than the server's. */
export async function openPage(
  browser: Browser,
  server: UiServer,
): Promise<{ page: Page; foreign: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  const foreign: string[] = []
  const origin = new URL(server.url).host
  page.on('request', (request) => {
    const url = new URL(request.url())
    if (url.protocol !== 'data:' && url.protocol !== 'blob:' && url.host !== origin)
      foreign.push(request.url())
  })
  page.setDefaultTimeout(20_000)
  return { page, foreign }
}

/**
 * Saves a screenshot: into docs/ with HARMONIA_UI_SCREENSHOTS=docs (to refresh the README's pictures), else under
 * the temporary directory, so a test run leaves the working tree as it was.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir =
    process.env.HARMONIA_UI_SCREENSHOTS === 'docs' ? DOCS_DIR : path.join(tmpdir(), 'harmonia-ui-screenshots')
  await mkdir(dir, { recursive: true })
  await page.screenshot({ path: path.join(dir, name) })
}

/** JSON API call against the server (for setup and for checking what the UI did). */
export async function apiCall<T>(server: UiServer, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`)
  return JSON.parse(text) as T
}

/** Polls until `check` returns a value other than undefined, or fails with the last seen state. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
