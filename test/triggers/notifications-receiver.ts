/**
 * A real HTTP receiver on 127.0.0.1:0 for notification tests: records every request (headers and raw
 * body), answers with the next planned status (then 200), and verifies Harmonia's signatures.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  path: string
  headers: http.IncomingHttpHeaders
  body: string
  status: number
}

export class Receiver {
  readonly received: Received[] = []
  /** Statuses to answer, in order; 200 once they are used up. */
  plan: number[] = []
  url = ''
  readonly #server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const status = this.plan.shift() ?? 200
      this.received.push({
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status,
      })
      response
        .writeHead(status, { 'content-type': 'text/plain' })
        .end(status === 200 ? 'ok' : `no (${status})`)
    })
  })

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  /** Requests answered 2xx. */
  get accepted(): Received[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300)
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }
}

/** Whether the request's X-Harmonia-Signature is `sha256=<hex HMAC of "<timestamp>.<body>">` with `secret`. */
export function verifies(request: Received, secret: string): boolean {
  const timestamp = String(request.headers['x-harmonia-timestamp'] ?? '')
  const signature = String(request.headers['x-harmonia-signature'] ?? '')
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${request.body}`).digest('hex')}`
  return (
    signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  )
}
