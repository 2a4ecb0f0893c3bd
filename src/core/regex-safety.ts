/**
 * A guard against regular expressions that can backtrack for ever (ReDoS) on JavaScript's backtracking
 * engine: patterns written by users (CEL's `matches`, JSON Schema's `pattern`) are checked before use.
 * It rejects nested quantifiers (`(a+)+`, `(\w*)*`, `(x{2,})+`), the classic cause of exponential
 * backtracking, and very long patterns. It is a heuristic in the spirit of `safe-regex` (star height
 * above one), not a proof: it keeps ordinary patterns working and stops the well-known bombs.
 */

export const MAX_PATTERN_LENGTH = 1000

/** A sentence naming what is wrong with the pattern, or undefined when it may be used. */
export function regexProblem(pattern: string, flags = ''): string | undefined {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return `regular expression is longer than ${MAX_PATTERN_LENGTH} characters`
  }
  try {
    new RegExp(pattern, flags)
  } catch (error) {
    return `invalid regular expression: ${(error as Error).message}`
  }
  if (hasNestedQuantifier(pattern)) {
    return 'regular expression repeats a group that itself repeats (like (a+)+), which can take exponential time; rewrite it without the nested repetition'
  }
  return undefined
}

interface GroupFrame {
  /** The group holds a repeated element somewhere inside. */
  repeats: boolean
}

function hasNestedQuantifier(pattern: string): boolean {
  const stack: GroupFrame[] = [{ repeats: false }]
  let index = 0
  while (index < pattern.length) {
    const char = pattern[index]!
    if (char === '\\') {
      index += 2
      continue
    }
    if (char === '[') {
      index = skipCharacterClass(pattern, index)
      continue
    }
    if (char === '(') {
      stack.push({ repeats: false })
      index++
      if (pattern[index] === '?') index = skipGroupPrefix(pattern, index)
      continue
    }
    if (char === ')') {
      const group = stack.length > 1 ? stack.pop()! : { repeats: false }
      index++
      const quantifierEnd = quantifierAt(pattern, index)
      const parent = stack[stack.length - 1]!
      if (quantifierEnd !== undefined) {
        if (group.repeats) return true
        parent.repeats = true
        index = quantifierEnd
      } else if (group.repeats) {
        parent.repeats = true
      }
      continue
    }
    const quantifierEnd = quantifierAt(pattern, index)
    if (quantifierEnd !== undefined) {
      stack[stack.length - 1]!.repeats = true
      index = quantifierEnd
      continue
    }
    index++
  }
  return false
}

/** End of a repeating quantifier (`*`, `+`, `{n,}`, `{n,m}`, with a lazy `?`) starting at `index`. */
function quantifierAt(pattern: string, index: number): number | undefined {
  const char = pattern[index]
  let end: number | undefined
  if (char === '*' || char === '+') end = index + 1
  else if (char === '{') {
    const match = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(index, index + 24))
    if (match !== null) {
      const min = Number(match[1])
      const max = match[2] === undefined ? min : match[3] === '' ? Infinity : Number(match[3])
      if (max > 1) end = index + match[0].length
    }
  }
  if (end !== undefined && pattern[end] === '?') end++
  return end
}

function skipCharacterClass(pattern: string, open: number): number {
  let index = open + 1
  while (index < pattern.length) {
    if (pattern[index] === '\\') index += 2
    else if (pattern[index] === ']') return index + 1
    else index++
  }
  return index
}

/** Skips `?:`, `?=`, `?!`, `?<=`, `?<!` and `?<name>` after an opening parenthesis. */
function skipGroupPrefix(pattern: string, question: number): number {
  const next = pattern[question + 1]
  if (next === ':' || next === '=' || next === '!') return question + 2
  if (next === '<') {
    const after = pattern[question + 2]
    if (after === '=' || after === '!') return question + 3
    const close = pattern.indexOf('>', question)
    return close === -1 ? question + 2 : close + 1
  }
  return question + 1
}
