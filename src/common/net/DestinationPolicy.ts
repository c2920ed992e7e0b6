import { BlockList, isIP } from 'node:net';
import os from 'node:os';
import { ValidationError } from '../errors.ts';

/**
 * Refused unless allowed: addresses no outgoing request has a reason to reach. Link-local holds
 * the cloud metadata endpoint 169.254.169.254, whose credentials must not leak to a URL's author.
 */
export const DEFAULT_DENIED_RANGES: readonly string[] = [
  '0.0.0.0/8', // "this network", unspecified
  '169.254.0.0/16', // link-local, cloud metadata (AWS, GCP, Azure, OpenStack)
  '100.100.100.200/32', // Alibaba Cloud metadata
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, limited broadcast 255.255.255.255
  '::/128', // unspecified
  'fe80::/10', // link-local
  'ff00::/8', // multicast
  'fd00:ec2::254/128', // AWS metadata over IPv6
];

/**
 * Loopback, refused by default with the addresses of this host's interfaces unless `allowLocal`:
 * the server's own admin API, /metrics and every other local service listen there.
 */
export const LOOPBACK_RANGES: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** Metadata services reached by name (the address check covers them too; this refuses before DNS). */
export const DEFAULT_DENIED_NAMES: readonly string[] = ['metadata.google.internal', 'metadata.goog'];

interface NameRule {
  /** Lower-case name without the trailing dot. */
  readonly name: string;
  /** `*.name`: any name below it, not the name itself. */
  readonly subdomains: boolean;
}

interface Rules {
  readonly ranges: BlockList;
  readonly names: readonly NameRule[];
}

const NAME = /^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/;

/** `[::1]` and `Example.COM.` as they are compared: bare, lower case, no trailing dot. */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** `::ffff:a.b.c.d` is the IPv4 host a.b.c.d: checked as such. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

function addEntry(rules: { ranges: BlockList; names: NameRule[] }, entry: string, setting: string): void {
  const e = entry.trim();
  if (e === '') return;
  const slash = e.indexOf('/');
  if (slash >= 0) {
    const addr = unmapped(normalizeHost(e.slice(0, slash)));
    const bits = e.slice(slash + 1);
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      throw new ValidationError('INVALID_CONFIG', `${setting}: "${e}" is not a CIDR range (address/prefix)`);
    }
    rules.ranges.addSubnet(addr, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
    return;
  }
  const host = normalizeHost(e);
  const family = isIP(unmapped(host));
  if (family !== 0) {
    rules.ranges.addAddress(unmapped(host), family === 4 ? 'ipv4' : 'ipv6');
    return;
  }
  if (!NAME.test(host) || host.length > 253) {
    throw new ValidationError(
      'INVALID_CONFIG',
      `${setting}: "${e}" is neither an address, a CIDR range nor a host name`,
    );
  }
  const subdomains = host.startsWith('*.');
  rules.names.push({ name: subdomains ? host.slice(2) : host, subdomains });
}

function buildRules(entries: readonly string[], setting: string): Rules {
  const rules = { ranges: new BlockList(), names: [] as NameRule[] };
  for (const e of entries) addEntry(rules, e, setting);
  return rules;
}

function matchesName(rules: Rules, host: string): boolean {
  for (const r of rules.names) {
    if (r.subdomains ? host.endsWith(`.${r.name}`) : host === r.name) return true;
  }
  return false;
}

function matchesAddress(rules: Rules, address: string): boolean {
  const a = unmapped(address);
  const family = isIP(a);
  return family !== 0 && rules.ranges.check(a, family === 4 ? 'ipv4' : 'ipv6');
}

/** Splits a comma-separated setting and validates every entry (throws INVALID_CONFIG naming it). */
export function parseDestinationList(raw: string | undefined, setting: string): string[] {
  if (raw === undefined) return [];
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  buildRules(entries, setting);
  return entries;
}

/** Addresses of this host's interfaces (a service bound to 0.0.0.0 answers on each). */
function ownAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) out.push(i.address.replace(/%.*$/, ''));
  }
  return out;
}

export interface DestinationPolicyOptions {
  /** Addresses, CIDR ranges and host names (`*.example.com`: names below it) always allowed. */
  allow?: readonly string[];
  /** Refused in addition to the defaults. */
  deny?: readonly string[];
  /**
   * Do not refuse loopback and this host's own addresses by default (flow `http` steps, which
   * commonly call an application on the same host). Link-local and metadata stay refused.
   */
  allowLocal?: boolean;
  /** Name of the settings in error texts. */
  settings?: { allow: string; deny: string };
}

/**
 * Where outgoing requests may go (media items, TTS engines). A destination is the URL's host name
 * and the address the connection goes to, checked at every hop: an entry of `allow` matching
 * either lets it through; otherwise an entry of `deny`, a default denied range
 * (DEFAULT_DENIED_RANGES), a default name, or (unless `allowLocal`) loopback or an address of this
 * host refuses it.
 */
export class DestinationPolicy {
  readonly #allow: Rules;
  readonly #deny: Rules;

  constructor(opts: DestinationPolicyOptions = {}) {
    const names = opts.settings ?? { allow: 'MEDIA_FETCH_ALLOW', deny: 'MEDIA_FETCH_DENY' };
    this.#allow = buildRules(opts.allow ?? [], names.allow);
    const local = opts.allowLocal === true ? [] : [...LOOPBACK_RANGES, ...ownAddresses()];
    this.#deny = buildRules(
      [...DEFAULT_DENIED_RANGES, ...DEFAULT_DENIED_NAMES, ...local, ...(opts.deny ?? [])],
      names.deny,
    );
  }

  /**
   * Before resolving: false when the name alone is refused (a denied name not allowed, or an
   * address literal that is refused). A name that passes still has each address checked.
   */
  allowsHost(host: string): boolean {
    const h = normalizeHost(host);
    if (isIP(unmapped(h)) !== 0) return this.allows(h, h);
    if (matchesName(this.#allow, h)) return true;
    return !matchesName(this.#deny, h);
  }

  /** Whether a connection to `address`, reached through the URL host `host`, may be made. */
  allows(host: string, address: string): boolean {
    const h = normalizeHost(host);
    if (matchesName(this.#allow, h) || matchesAddress(this.#allow, address)) return true;
    return !matchesName(this.#deny, h) && !matchesAddress(this.#deny, address);
  }
}
