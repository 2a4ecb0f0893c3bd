/** Identifiers: a readable prefix and a random UUID (`exec-6f1c…`, `wf-…`, `ckpt-…`). */
export function newId(prefix: string): string {
  return `${prefix}-${globalThis.crypto.randomUUID()}`
}
