/** Reading a workflow definition file (JSON or YAML) for `run` and `validate`. */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseDefinition, type DefinitionFormat } from '../core/definition.ts'
import { InvalidRequestError } from '../core/errors.ts'
import { describeFsError } from './input-args.ts'

/** The format a file name implies: `.json` JSON, `.yaml`/`.yml` YAML, otherwise guessed from the text. */
export function formatOfFile(file: string): DefinitionFormat | undefined {
  const extension = path.extname(file).toLowerCase()
  if (extension === '.json') return 'json'
  if (extension === '.yaml' || extension === '.yml') return 'yaml'
  return undefined
}

/**
 * Reads and parses a definition file. Throws InvalidRequestError naming the file: when it cannot be read,
 * or with the line and column of a syntax error.
 */
export async function readDefinitionFile(file: string, cwd: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path.resolve(cwd, file), 'utf8')
  } catch (error) {
    throw new InvalidRequestError(`cannot read workflow file '${file}': ${describeFsError(error)}`)
  }
  try {
    return parseDefinition(text, formatOfFile(file))
  } catch (error) {
    if (error instanceof InvalidRequestError) {
      throw new InvalidRequestError(`${file}: ${error.message}`, error.details)
    }
    throw error
  }
}
