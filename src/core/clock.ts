/** Time, injectable so tests can control backoffs, timeouts and schedules. */
export interface Clock {
  now(): number
  setTimeout(callback: () => void, delayMs: number): { cancel(): void }
}

/** Node's timers can wait at most 2^31-1 ms; longer waits re-arm. */
const MAX_TIMER_MS = 2_147_483_647

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, delayMs) {
    let handle: ReturnType<typeof setTimeout>
    const arm = (remainingMs: number): void => {
      const step = Math.min(Math.max(0, remainingMs), MAX_TIMER_MS)
      handle = setTimeout(
        () => (remainingMs > MAX_TIMER_MS ? arm(remainingMs - MAX_TIMER_MS) : callback()),
        step,
      )
      handle.unref?.()
    }
    arm(delayMs)
    return { cancel: () => clearTimeout(handle) }
  },
}

export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString()
}
