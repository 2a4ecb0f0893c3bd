/**
 * `where` on generic documents: equality on top-level fields, strictly typed — `{done: false}` matches a
 * document whose `done` is `false`, not one without `done` nor one where it is `0`; `{x: null}` matches a
 * document whose `x` is present and null. Documents list in id order.
 */
import { InvalidRequestError } from '../core/errors.ts'
import type { JsonObject } from '../core/model.ts'
import type { DocumentQuery } from '../core/store.ts'
import { compareText, describe } from './list-query.ts'

export type WhereValue = string | number | boolean | null

/** The `where` of a query as checked entries; refuses values that are not scalars. */
export function checkWhere(operation: string, where: DocumentQuery['where']): Array<[string, WhereValue]> {
  if (where === undefined) return []
  if (typeof where !== 'object' || where === null || Array.isArray(where)) {
    throw new InvalidRequestError(
      `${operation}: where must be an object of field values, got ${describe(where)}`,
    )
  }
  const entries = Object.entries(where)
  for (const [field, value] of entries) {
    const scalar =
      value === null ||
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value))
    if (!scalar) {
      throw new InvalidRequestError(
        `${operation}: where.${field} must be a string, a finite number, a boolean or null, got ${describe(value)}`,
      )
    }
  }
  return entries
}

export function matchesWhere(doc: JsonObject, where: ReadonlyArray<[string, WhereValue]>): boolean {
  for (const [field, value] of where) {
    if (!Object.hasOwn(doc, field) || doc[field] !== value) return false
  }
  return true
}

export function sortDocuments(entries: Array<[string, JsonObject]>, descending: boolean): void {
  const sign = descending ? -1 : 1
  entries.sort(([a], [b]) => sign * compareText(a, b))
}
