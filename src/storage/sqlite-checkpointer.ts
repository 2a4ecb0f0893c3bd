/**
 * WAL checkpoints off the engine's thread. With SQLite's automatic checkpoints, the commit that crosses
 * the WAL threshold copies pages back into the database file while the engine waits for it (a third of
 * a step's cost on a long chain). The store turns them off on its own connection and this worker runs
 * `wal_checkpoint(PASSIVE)` on a second connection at an interval: passive checkpoints never block the
 * writer, and a second core does the copying. If the worker cannot start, the store keeps SQLite's
 * automatic checkpoints.
 */
import { Worker } from 'node:worker_threads'

/** The worker's source: plain JavaScript, evaluated as a worker so it needs no file of its own. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { DatabaseSync } = require('node:sqlite')
const db = new DatabaseSync(workerData.path)
db.exec('PRAGMA busy_timeout = 0')
const checkpoint = () => {
  try {
    db.exec('PRAGMA wal_checkpoint(PASSIVE)')
  } catch {
    // Busy or locked: the next tick tries again.
  }
}
const timer = setInterval(checkpoint, workerData.intervalMs)
parentPort.on('message', (message) => {
  if (message === 'stop') {
    clearInterval(timer)
    checkpoint()
    db.close()
    parentPort.postMessage('stopped')
  }
})
parentPort.postMessage('ready')
`

export interface Checkpointer {
  stop(): Promise<void>
}

/**
 * Starts the worker; resolves once it has opened the database, or rejects if it could not. `onLost` is
 * called if the worker ends without being asked to (the store then turns automatic checkpoints back on).
 */
export function startCheckpointer(
  dbPath: string,
  intervalMs: number,
  onLost: () => void,
): Promise<Checkpointer> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: dbPath, intervalMs } })
  return new Promise((resolve, reject) => {
    const failed = (error: Error): void => {
      void worker.terminate()
      reject(error)
    }
    worker.once('error', failed)
    worker.once('message', () => {
      worker.off('error', failed)
      let stopping = false
      worker.on('error', () => {})
      worker.once('exit', () => {
        if (!stopping) onLost()
      })
      worker.unref()
      resolve({
        stop: () =>
          new Promise<void>((done) => {
            stopping = true
            const finish = (): void => {
              void worker.terminate().then(() => done())
            }
            worker.once('message', finish)
            worker.once('exit', () => done())
            worker.postMessage('stop')
          }),
      })
    })
  })
}
