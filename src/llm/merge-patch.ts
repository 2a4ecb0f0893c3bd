/**
 * JSON Merge Patch (RFC 7386): how suggested fixes to a workflow definition are expressed. A patch is an
 * object whose members replace the target's, recursively for objects; `null` removes a member; arrays and
 * other values replace the whole member.
 */
import type { JsonObject, JsonValue } from '../core/model.ts'

/** The target with the patch applied; neither argument is modified. */
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return structuredClone(patch)
  const result: JsonObject = isObject(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (key === '__proto__') continue
    if (value === null) delete result[key]
    else result[key] = applyMergePatch(result[key], value)
  }
  return result
}

/**
 * Merges several patches into one (later ones win), so findings about the same task combine. A `null`
 * (remove) is kept, so applying the result equals applying the patches in turn.
 */
export function combineMergePatches(patches: readonly JsonObject[]): JsonObject {
  let combined: JsonObject = {}
  for (const patch of patches) combined = mergeTwo(combined, patch)
  return combined
}

function mergeTwo(first: JsonObject, second: JsonObject): JsonObject {
  const result: JsonObject = { ...first }
  for (const [key, value] of Object.entries(second)) {
    if (key === '__proto__') continue
    const before = result[key]
    result[key] = isObject(value) && isObject(before) ? mergeTwo(before, value) : structuredClone(value)
  }
  return result
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
