/**
 * `npm run bench`: prints one JSON line per figure. `npm run bench -- engine` (SQLite) or
 * `npm run bench -- postgres` or `npm run bench -- http` runs one group.
 */
import { engineFigures } from './engine.ts'
import { httpFigures } from './http.ts'
import { postgresFigures } from './postgres-engine.ts'

const groups: Record<string, () => Promise<unknown>> = {
  engine: engineFigures,
  postgres: postgresFigures,
  http: httpFigures,
}

const wanted = process.argv.slice(2)
for (const [name, run] of Object.entries(groups)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  await run()
}
