/**
 * Builds the web UI (ui/ → ui/dist) with Vite when the build is missing or older than its sources.
 * Runs before `npm start` (prestart) and before the browser tests, so `npm ci && npm start` serves it.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const uiDir = fileURLToPath(new URL('../ui/', import.meta.url))

function newest(path: string): number {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let latest = stat.mtimeMs
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)))
  return latest
}

function builtAt(): number | undefined {
  try {
    return statSync(join(uiDir, 'dist', 'index.html')).mtimeMs
  } catch {
    return undefined
  }
}

export async function buildUi(options: { force?: boolean } = {}): Promise<void> {
  const sources = Math.max(
    newest(join(uiDir, 'src')),
    newest(join(uiDir, 'index.html')),
    newest(join(uiDir, 'vite.config.ts')),
  )
  const built = builtAt()
  if (options.force !== true && built !== undefined && built >= sources) return
  let vite: typeof import('vite')
  try {
    vite = await import('vite')
  } catch {
    throw new Error('building the web UI needs the dev dependencies (vite): run `npm ci` without --omit=dev')
  }
  await vite.build({ root: uiDir, configFile: join(uiDir, 'vite.config.ts'), logLevel: 'warn' })
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const force = process.argv.includes('--force')
  try {
    await buildUi({ force })
  } catch (error) {
    // Before `npm start` a failed UI build must not keep the API from starting: say why and go on.
    if (force) throw error
    console.warn(`harmonia: the web UI was not built (${(error as Error).message}); the API still starts`)
  }
}
