import { Inject, Injectable, Optional } from '@nestjs/common';
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { BadRequestError } from '../common/app-error';

/** Resolves a host name to its addresses; replaceable in tests (DNS_RESOLVER provider). */
export type DnsResolver = (hostname: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;
export const DNS_RESOLVER = Symbol('DNS_RESOLVER');

const systemResolver: DnsResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => ({
    address: entry.address,
    family: entry.family === 6 ? 6 : 4,
  }));

/** Where a request may go: the checked address, which is the one to connect to (no second lookup). */
export interface ResolvedTarget {
  readonly host: string;
  readonly address: string;
  readonly family: 4 | 6;
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

export function targetForbidden(message: string): BadRequestError {
  return new BadRequestError('ADAPTER_TARGET_FORBIDDEN', message);
}

/**
 * Parses `allowedCidrs` entries (`10.0.0.0/8`, `::1/128`, or a single address). Throws a 400 naming
 * the bad entries, so an adapter cannot be saved with a range that would never match.
 */
export function parseCidrs(cidrs: readonly string[]): Array<[Address, number]> {
  const bad: string[] = [];
  const parsed: Array<[Address, number]> = [];
  for (const cidr of cidrs) {
    try {
      parsed.push(
        cidr.includes('/')
          ? ipaddr.parseCIDR(cidr)
          : [ipaddr.parse(cidr), ipaddr.parse(cidr).kind() === 'ipv4' ? 32 : 128],
      );
    } catch {
      bad.push(cidr);
    }
  }
  if (bad.length > 0) {
    throw new BadRequestError('VALIDATION_FAILED', 'The request is invalid.', [
      { field: 'config.allowedCidrs', issue: `not a CIDR range: ${bad.join(', ')}` },
    ]);
  }
  return parsed;
}

/**
 * Host names are normalised the way a URL parser does, so numeric spellings (`2130706433`,
 * `0x7f000001`, `017700000001`, `127.1`) become the dotted address they mean.
 */
export function normalizeHost(host: string): string {
  const trimmed = host.trim();
  if (trimmed === '' || /[\s/\\?#@]/.test(trimmed)) throw targetForbidden(`'${host}' is not a host name.`);
  const bracketed = trimmed.includes(':') && !trimmed.startsWith('[') ? `[${trimmed}]` : trimmed;
  try {
    return new URL(`http://${bracketed}/`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    throw targetForbidden(`'${host}' is not a host name.`);
  }
}

/** Only public unicast addresses are reachable without an explicit allowance. */
function isPublic(address: Address): boolean {
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return isPublic(v6.toIPv4Address());
    return v6.range() === 'unicast';
  }
  return address.range() === 'unicast';
}

function allowedBy(address: Address, cidrs: Array<[Address, number]>): boolean {
  const candidates: Address[] = [address];
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    candidates.push((address as ipaddr.IPv6).toIPv4Address());
  }
  return candidates.some((candidate) =>
    cidrs.some(([range, bits]) => range.kind() === candidate.kind() && candidate.match(range, bits)),
  );
}

/**
 * The SSRF guard for adapter targets (REST base URLs, redirects, PostgreSQL hosts): a target must
 * resolve only to public unicast addresses, unless the adapter's `allowedCidrs` admits the address.
 * Loopback, unspecified, private, link-local (cloud metadata), CGNAT, multicast, reserved, and
 * IPv4-mapped forms of any of these are refused. Callers connect to the address returned.
 */
@Injectable()
export class SsrfGuard {
  private readonly resolver: DnsResolver;

  constructor(@Optional() @Inject(DNS_RESOLVER) resolver?: DnsResolver) {
    this.resolver = resolver ?? systemResolver;
  }

  /** At create/update time: a literal address must already be allowed (names are checked per call). */
  assertLiteralAllowed(host: string, allowedCidrs: readonly string[]): void {
    const normalized = normalizeHost(host);
    if (!ipaddr.isValid(normalized)) return;
    this.check(ipaddr.parse(normalized), host, parseCidrs(allowedCidrs));
  }

  async resolve(host: string, allowedCidrs: readonly string[]): Promise<ResolvedTarget> {
    const normalized = normalizeHost(host);
    const cidrs = parseCidrs(allowedCidrs);
    if (ipaddr.isValid(normalized)) {
      const address = ipaddr.parse(normalized);
      this.check(address, host, cidrs);
      return { host: normalized, address: address.toString(), family: address.kind() === 'ipv6' ? 6 : 4 };
    }
    let addresses: Array<{ address: string; family: 4 | 6 }>;
    try {
      addresses = await this.resolver(normalized);
    } catch {
      throw new BadRequestError(
        'ADAPTER_TARGET_UNRESOLVABLE',
        `The host '${normalized}' could not be resolved.`,
      );
    }
    if (addresses.length === 0) {
      throw new BadRequestError(
        'ADAPTER_TARGET_UNRESOLVABLE',
        `The host '${normalized}' could not be resolved.`,
      );
    }
    // Every address the name has must be allowed: otherwise a name with one public and one
    // internal address would reach the internal one on a later connection.
    for (const entry of addresses) this.check(ipaddr.parse(entry.address), normalized, cidrs);
    const [first] = addresses;
    return { host: normalized, address: ipaddr.parse(first.address).toString(), family: first.family };
  }

  private check(address: Address, shownHost: string, cidrs: Array<[Address, number]>): void {
    if (isPublic(address) || allowedBy(address, cidrs)) return;
    throw targetForbidden(
      `The target '${shownHost}' is not a public address; an administrator with adapters:network can allow its range through config.allowedCidrs.`,
    );
  }
}
