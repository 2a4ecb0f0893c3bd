/**
 * Keeps `http.request` away from private networks when the server is configured so (against SSRF: a
 * workflow author reaching the cloud metadata service, the database, or the admin port of a sidecar).
 * Every hop is checked: the host's addresses are resolved and each must be public. A host whose DNS answer
 * changes between this check and the connection (DNS rebinding) is not caught; deployments that need that
 * guarantee should also filter egress at the network level.
 */
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { TaskFailure } from '../core/errors.ts'

const IPV4_RANGES: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
]

const IPV6_RANGES: Array<[string, number]> = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  // IPv4-mapped addresses (::ffff:a.b.c.d) need no rule: BlockList checks them against the IPv4 rules.
  ['64:ff9b::', 96], // NAT64, may translate to a private IPv4 address
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
]

let blockList: BlockList | undefined

function privateRanges(): BlockList {
  if (blockList !== undefined) return blockList
  blockList = new BlockList()
  for (const [network, prefix] of IPV4_RANGES) blockList.addSubnet(network, prefix, 'ipv4')
  for (const [network, prefix] of IPV6_RANGES) blockList.addSubnet(network, prefix, 'ipv6')
  return blockList
}

/** True for loopback, private, link-local, multicast and reserved addresses. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 0) return false
  return privateRanges().check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * Throws TaskFailure `PRIVATE_NETWORK` (not retriable) when the URL's host is or resolves to a private
 * address, and `CONNECTION_ERROR` (retriable) when its name cannot be resolved.
 */
export async function assertPublicHost(url: URL, where: string): Promise<void> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  let addresses: string[]
  if (isIP(host) !== 0) {
    addresses = [host]
  } else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address)
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'lookup failed'
      throw new TaskFailure(
        'CONNECTION_ERROR',
        `${where}: cannot resolve host '${host}' (${code}) (retriable)`,
        {
          retriable: true,
          details: { host, cause: code },
          cause: error,
        },
      )
    }
  }
  const blocked = addresses.find(isPrivateAddress)
  if (blocked !== undefined) {
    throw new TaskFailure(
      'PRIVATE_NETWORK',
      `${where}: ${blocked === host ? `host '${host}' is a private address` : `host '${host}' resolves to the private address ${blocked}`}; calls to private networks are disabled for http.request (allowPrivateNetworks) (not retriable)`,
      { retriable: false, details: { host, address: blocked } },
    )
  }
}
