/**
 * `npm run bench`: prints one JSON line per figure. `npm run bench -- engine` runs one group.
 */
import { engineFigures } from './engine.ts'

const groups: Record<string, () => Promise<unknown>> = {
  engine: engineFigures,
}

const wanted = process.argv.slice(2)
for (const [name, run] of Object.entries(groups)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  await run()
}
