/**
 * Splits a string that may hold `${...}` expressions into text and expression segments.
 *
 * - `${expr}` marks an expression; the closing brace is found by counting braces outside CEL string
 *   literals, so `${ {"a": 1}.a }` and `${"}"}` work.
 * - `$${` is an escaped, literal `${`.
 * The scan is one pass over the text and never recurses, whatever the input.
 */

export type TemplateSegment =
  | { kind: 'text'; text: string }
  /** `offset` is where the expression source starts in the text (just after `${`). */
  | { kind: 'expression'; source: string; offset: number }

export interface TemplateScanError {
  /** Zero-based offset in the text where the problem is. */
  offset: number
  message: string
}

export type TemplateScan = { ok: true; segments: TemplateSegment[] } | { ok: false; error: TemplateScanError }

/** True when the text holds `${` (escaped or not): only then can it differ from a plain string. */
export function mayHoldExpression(text: string): boolean {
  return text.includes('${')
}

export function scanTemplate(text: string): TemplateScan {
  const segments: TemplateSegment[] = []
  let literal = ''
  let index = 0
  while (index < text.length) {
    const dollar = text.indexOf('$', index)
    if (dollar === -1) {
      literal += text.slice(index)
      break
    }
    literal += text.slice(index, dollar)
    if (text.startsWith('$${', dollar)) {
      literal += '${'
      index = dollar + 3
      continue
    }
    if (text[dollar + 1] !== '{') {
      literal += '$'
      index = dollar + 1
      continue
    }
    const start = dollar + 2
    const end = findClosingBrace(text, start)
    if (typeof end !== 'number') return { ok: false, error: end }
    const source = text.slice(start, end)
    if (source.trim() === '') {
      return { ok: false, error: { offset: dollar, message: 'empty expression ${}' } }
    }
    if (literal !== '') segments.push({ kind: 'text', text: literal })
    literal = ''
    segments.push({ kind: 'expression', source, offset: start })
    index = end + 1
  }
  if (literal !== '' || segments.length === 0) segments.push({ kind: 'text', text: literal })
  return { ok: true, segments }
}

/** Offset of the `}` that closes an expression starting at `start`, or the problem found. */
function findClosingBrace(text: string, start: number): number | TemplateScanError {
  let depth = 0
  let index = start
  while (index < text.length) {
    const char = text[index]!
    if (char === '"' || char === "'") {
      const end = skipStringLiteral(text, index)
      if (end === -1) {
        return { offset: index, message: 'unterminated string literal in expression' }
      }
      index = end
      continue
    }
    if (char === '{') depth++
    else if (char === '}') {
      if (depth === 0) return index
      depth--
    }
    index++
  }
  return { offset: start - 2, message: "unterminated expression: '${' has no closing '}'" }
}

/** Offset just after the CEL string literal whose opening quote is at `quoteAt`, or -1. */
function skipStringLiteral(text: string, quoteAt: number): number {
  const quote = text[quoteAt]!
  const raw = isRawPrefix(text, quoteAt)
  const triple = text.startsWith(quote.repeat(3), quoteAt)
  const closing = triple ? quote.repeat(3) : quote
  let index = quoteAt + closing.length
  while (index < text.length) {
    const char = text[index]!
    if (char === '\\' && !raw) {
      index += 2
      continue
    }
    if (!triple && (char === '\n' || char === '\r')) return -1
    if (text.startsWith(closing, index)) return index + closing.length
    index++
  }
  return -1
}

/** CEL raw strings start with r or R, possibly combined with a bytes prefix: r"", R'', br"", rb''. */
function isRawPrefix(text: string, quoteAt: number): boolean {
  let index = quoteAt - 1
  let raw = false
  let letters = 0
  while (index >= 0 && letters < 2 && /[rRbB]/.test(text[index]!)) {
    if (text[index] === 'r' || text[index] === 'R') raw = true
    index--
    letters++
  }
  if (!raw) return false
  // The prefix must not be the tail of a longer identifier (e.g. `bar"x"` is not a raw string).
  return index < 0 || !/[A-Za-z0-9_]/.test(text[index]!)
}
