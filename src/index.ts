/**
 * Harmonia as a library: embed the engine in a program, or start the HTTP server from code.
 *
 *   const harmonia = await createHarmonia(resolveConfig({}))
 *   await harmonia.start()
 *   const execution = await harmonia.engine.startExecution({ workflow: definition })
 */
export * from './core/index.ts'
export { resolveConfig, type HarmoniaConfig } from './core/config.ts'
export { HarmoniaError } from './core/errors.ts'
export type { Engine } from './core/engine-api.ts'
export { createHarmonia, type CreateHarmoniaOptions, type Harmonia } from './harmonia.ts'
export {
  createStore,
  createMemoryStore,
  createSqliteStore,
  type CreateStoreOptions,
} from './storage/index.ts'
export type { Store } from './core/store.ts'
export { startServer, type RunningServer, type StartServerOptions } from './api/server.ts'
