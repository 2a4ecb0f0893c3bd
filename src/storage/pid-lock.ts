/**
 * A lock file holding the pid of the process that owns something on disk (a data dir, an engine's right to
 * run the executions of an embedded store). A lock whose process is dead, or that this very process left,
 * is taken over; a live other process keeps it.
 */
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'

/** Takes the lock for this process; answers the pid of the live process that holds it instead. */
export function takePidLock(file: string): { taken: true } | { taken: false; pid: number | undefined } {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx')
      writeSync(fd, `${process.pid}\n`)
      fsyncSync(fd)
      closeSync(fd)
      return { taken: true }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const pid = Number.parseInt(readText(file) ?? '', 10)
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) return { taken: false, pid }
    // Stale (dead pid, unreadable, or left by this process without a release): take it over.
    rmSync(file, { force: true })
  }
  return { taken: false, pid: undefined }
}

/** Removes the lock when this process holds it. */
export function releasePidLock(file: string): void {
  if (Number.parseInt(readText(file) ?? '', 10) === process.pid) rmSync(file, { force: true })
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}
