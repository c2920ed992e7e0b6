import dns from 'node:dns';
import { isIPv4 } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

let lastLiteral = '';

/**
 * The `lookup` of our RTP/RTCP sockets. Node's dgram resolves the destination of every send()
 * through dns.lookup, which for an IP literal still answers on the next tick: a closure, a tick
 * queue entry and a deferred send per packet. Remote addresses here are IPv4 literals (from SDP or
 * latched from a received packet), so they are answered at once and the datagram goes out inside
 * send(); anything else still goes through dns.lookup. The last literal validated is remembered,
 * so the check is one string comparison per packet. Note that bind() to a literal then reports
 * 'listening' inside the call: pass bind() its callback (as DgramTransport.bind does) or listen first.
 */
export function literalLookup(address: string, _family: unknown, callback: LookupCallback): void {
  if (address === lastLiteral || isIPv4(address)) {
    lastLiteral = address;
    callback(null, address, 4);
    return;
  }
  dns.lookup(address, { family: 4 }, callback);
}
