/**
 * A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol (`POST /v1/chat/completions`)
 * with scripted answers: each request takes the next script entry (a text answer, or an HTTP status to fail
 * with). It records every request (headers and body) so tests can check prompts and the Authorization header.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export type ScriptEntry =
  | string
  | { status: number; body?: unknown }
  /** Answers `content` after `delayMs` (to exercise timeouts). */
  | { delayMs: number; content: string }
  | ((request: ChatRequestSeen) => string)

export interface ChatRequestSeen {
  authorization: string | undefined
  model: string
  messages: Array<{ role: string; content: string }>
}

export interface FakeChatServer {
  /** `http://127.0.0.1:<port>/v1` */
  baseUrl: string
  readonly requests: ChatRequestSeen[]
  /** Appends answers to the script. */
  script(...entries: ScriptEntry[]): void
  /** Script entries not consumed yet. */
  pending(): number
  close(): Promise<void>
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function startFakeChatServer(): Promise<FakeChatServer> {
  const queue: ScriptEntry[] = []
  const requests: ChatRequestSeen[] = []
  let counter = 0
  const server: Server = createServer((request, response) => {
    void (async () => {
      const text = await readBody(request)
      const send = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json' })
        response.end(JSON.stringify(body))
      }
      if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
        send(404, { error: { message: `no route ${request.method} ${request.url}` } })
        return
      }
      const body = JSON.parse(text) as { model: string; messages: ChatRequestSeen['messages'] }
      const seen = {
        authorization: request.headers.authorization,
        model: body.model,
        messages: body.messages,
      }
      requests.push(seen)
      const entry = queue.shift()
      if (entry === undefined) {
        send(500, { error: { message: 'the script has no more answers' } })
        return
      }
      if (typeof entry === 'object' && 'delayMs' in entry) {
        await new Promise((resolve) => setTimeout(resolve, entry.delayMs))
        if (response.destroyed) return
      }
      if (typeof entry === 'object' && 'status' in entry) {
        send(entry.status, entry.body ?? { error: { message: `scripted ${entry.status}` } })
        return
      }
      const content =
        typeof entry === 'function' ? entry(seen) : typeof entry === 'object' ? entry.content : entry
      counter += 1
      send(200, {
        id: `chatcmpl-${counter}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
      })
    })().catch((error: unknown) => {
      response.writeHead(500)
      response.end(String(error))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    script: (...entries) => void queue.push(...entries),
    pending: () => queue.length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
