/**
 * The syntax of placeholders: names and paths (`x.y[0]["k"]`), Tekton filters and literals, bare
 * parameter references in CEL source, and JSON values written as CEL literals.
 */
import type { JsonValue } from '../core/model.ts'

export type PathSegment = string | number

export const NAME = '[A-Za-z_][A-Za-z0-9_]*'
export const PATH = String.raw`(?:\s*\.\s*${NAME}|\s*\[\s*(?:\d+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\])*`
export const PARAM_PLACEHOLDER = new RegExp(
  String.raw`^\s*(?:param|parameters)\s*\.\s*(${NAME})(${PATH})\s*$`,
)
export const REFERENCE = new RegExp(String.raw`^(${NAME})(${PATH})$`)
export const PATH_SEGMENT = new RegExp(
  String.raw`\s*\.\s*(${NAME})|\s*\[\s*(\d+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\]`,
  'y',
)
export const TASK_REFERENCE = new RegExp(`^tasks\\.(${NAME})(${PATH})$`)
export const INPUT_REFERENCE = new RegExp(`^workflow\\.input\\.(${NAME})(${PATH})$`)

/**
 * Rewrites bare `param.x...` / `parameters.x...` references in CEL source (not inside string literals, not
 * after a `.`); `replace` gets the parameter name and the path that follows (a method call ends the path).
 */
export function rewriteCelParameters(
  source: string,
  replace: (name: string, path: PathSegment[]) => string,
): string {
  let out = ''
  let index = 0
  let copied = 0
  while (index < source.length) {
    const char = source[index]!
    if (char === '"' || char === "'") {
      index = skipCelString(source, index)
      continue
    }
    if (!/[A-Za-z_]/.test(char)) {
      index++
      continue
    }
    const identifier = /[A-Za-z_][A-Za-z0-9_]*/y
    identifier.lastIndex = index
    const word = identifier.exec(source)![0]
    const start = index
    index += word.length
    if ((word !== 'param' && word !== 'parameters') || precededByDot(source, start)) continue
    const member = new RegExp(String.raw`\s*\.\s*(${NAME})`, 'y')
    member.lastIndex = index
    const first = member.exec(source)
    if (first === null) continue
    let end = member.lastIndex
    const path: PathSegment[] = []
    for (;;) {
      PATH_SEGMENT.lastIndex = end
      const segment = PATH_SEGMENT.exec(source)
      if (segment === null) break
      // `.name(` is a method call on the value, not a field of it.
      if (segment[1] !== undefined && /^\s*\(/.test(source.slice(PATH_SEGMENT.lastIndex))) break
      path.push(segment[1] ?? parseIndex(segment[2]!))
      end = PATH_SEGMENT.lastIndex
    }
    out += source.slice(copied, start) + replace(first[1]!, path)
    copied = end
    index = end
  }
  return copied === 0 ? source : out + source.slice(copied)
}

function precededByDot(source: string, at: number): boolean {
  let index = at - 1
  while (index >= 0 && /\s/.test(source[index]!)) index--
  return index >= 0 && source[index] === '.'
}

/** Offset just after the CEL string literal that opens at `quoteAt` (triple quotes and raw strings too). */
function skipCelString(source: string, quoteAt: number): number {
  const quote = source[quoteAt]!
  const raw =
    quoteAt > 0 &&
    /[rR]/.test(source[quoteAt - 1]!) &&
    (quoteAt < 2 || !/[A-Za-z0-9_]/.test(source[quoteAt - 2]!) || /[bB]/.test(source[quoteAt - 2]!))
  const closing = source.startsWith(quote.repeat(3), quoteAt) ? quote.repeat(3) : quote
  let index = quoteAt + closing.length
  while (index < source.length) {
    if (source[index] === '\\' && !raw) {
      index += 2
      continue
    }
    if (source.startsWith(closing, index)) return index + closing.length
    index++
  }
  return source.length
}

/** A JSON value as CEL source: strings quoted, integers as ints, lists and maps as literals. */
export function celLiteral(value: JsonValue): string {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return String(value)
    const text = String(value)
    return /[.eE]/.test(text) ? text : value.toExponential()
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(celLiteral).join(', ')}]`
  return `{${Object.entries(value)
    .map(([key, item]) => `${JSON.stringify(key)}: ${celLiteral(item)}`)
    .join(', ')}}`
}

/** Splits `x | default(1) | d('a|b')` at the pipes outside quotes and parentheses. */
export function splitFilters(inner: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quote: string | undefined
  let start = 0
  for (let index = 0; index < inner.length; index++) {
    const char = inner[index]!
    if (quote !== undefined) {
      if (char === '\\') index++
      else if (char === quote) quote = undefined
    } else if (char === '"' || char === "'") quote = char
    else if (char === '(' || char === '[' || char === '{') depth++
    else if (char === ')' || char === ']' || char === '}') depth--
    else if (char === '|' && depth === 0) {
      parts.push(inner.slice(start, index))
      start = index + 1
    }
  }
  parts.push(inner.slice(start))
  return parts
}

/** A Jinja or JSON literal: numbers, 'single' or "double" quoted strings, true/True, false/False, null/None, JSON lists and objects. */
export function parseLiteral(text: string): { value: JsonValue } | undefined {
  const words: Record<string, JsonValue> = {
    True: true,
    False: false,
    None: null,
    true: true,
    false: false,
    null: null,
  }
  if (Object.hasOwn(words, text)) return { value: words[text]! }
  const single = /^'((?:[^'\\]|\\.)*)'$/s.exec(text)
  if (single !== null) return { value: single[1]!.replace(/\\(.)/gs, '$1') }
  if (!/^[-"[{0-9]/.test(text)) return undefined
  try {
    return { value: JSON.parse(text) as JsonValue }
  } catch {
    return undefined
  }
}

export function parsePath(text: string): PathSegment[] {
  const path: PathSegment[] = []
  let index = 0
  while (index < text.length) {
    PATH_SEGMENT.lastIndex = index
    const segment = PATH_SEGMENT.exec(text)
    if (segment === null) break
    path.push(segment[1] ?? parseIndex(segment[2]!))
    index = PATH_SEGMENT.lastIndex
  }
  return path
}

function parseIndex(text: string): PathSegment {
  if (/^\d+$/.test(text)) return Number(text)
  if (text.startsWith("'")) return text.slice(1, -1).replace(/\\(.)/gs, '$1')
  return JSON.parse(text) as string
}

export function formatPath(path: readonly PathSegment[]): string {
  return path
    .map((segment) =>
      typeof segment === 'number'
        ? `[${segment}]`
        : new RegExp(`^${NAME}$`).test(segment)
          ? `.${segment}`
          : `[${JSON.stringify(segment)}]`,
    )
    .join('')
}
