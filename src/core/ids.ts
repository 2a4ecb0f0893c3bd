/** Identifiers: a readable prefix and a random UUID (`exec-6f1c…`, `wf-…`, `ckpt-…`). */
export function newId(prefix: string): string {
  return `${prefix}-${globalThis.crypto.randomUUID()}`
}

let lastMs = -1
let sequence = 0

/**
 * An id that sorts by creation time as text (`whc-000001733587200123-000004-1a2b3c4d`): the time in ms, then
 * a counter for ids made in the same millisecond by this process, then random characters so that nodes
 * never collide. Listings sorted by id are then in creation order, ties included.
 */
export function timeOrderedId(prefix: string, nowMs: number): string {
  if (nowMs === lastMs) sequence++
  else {
    lastMs = nowMs
    sequence = 0
  }
  const random = globalThis.crypto.randomUUID().slice(0, 8)
  return `${prefix}-${String(nowMs).padStart(15, '0')}-${String(sequence).padStart(6, '0')}-${random}`
}
