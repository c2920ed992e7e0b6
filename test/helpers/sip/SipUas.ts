import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import type { FastifyInstance } from 'fastify';
import type { EndpointInfo, ServerEvent } from '../../../src/control/types.ts';
import {
  buildSip,
  header,
  headerParam,
  nameAddrUri,
  parseSip,
  token,
  uriHostPort,
  type SipRequest,
  type SipResponse,
} from './SipMessage.ts';

/**
 * A minimal SIP UAS over UDP on 127.0.0.1 that plays the B2BUA in front of the media server, so a
 * real softphone can call the product through its REST API (README, "B2BUA integration"):
 *
 *   INVITE (offer)        → POST /endpoints {remote_sdp, affinity: Call-ID} → 200 OK with our answer
 *   ACK                   → the call is established (then startFlow() or bridge() routes it)
 *   re-INVITE (hold ...)  → PATCH /endpoints/:id {remote_sdp}                → 200 OK with our answer
 *   BYE                   → DELETE /endpoints/:id                             → 200 OK
 *   endpoint deleted by the server (a flow's hangup step) → BYE to the caller
 *
 * RFC 3261 as far as a UAS on a loss-free loopback needs it: Via/From/To/Call-ID/CSeq copied
 * into responses, a To tag of our own, Contact, 100 Trying, the 2xx retransmitted until the ACK
 * (§13.3.1.4), retransmitted requests answered from the transaction. Responses go to the
 * request's source address, as RFC 3581 (rport) has it. A test helper, not product code.
 */

const T1 = 500;
const T2 = 4000;

export interface SipCall {
  readonly callId: string;
  /** The endpoint the INVITE created. */
  readonly endpointId: string;
  /** Our answers, one per 2xx: the INVITE's first, then each re-INVITE's. */
  readonly answers: string[];
  /** Offers received, the INVITE's first, then each re-INVITE's. */
  readonly offers: string[];
  /** Resolves when the ACK for the 2xx of the INVITE arrives. */
  readonly established: Promise<void>;
  /** Resolves when the dialog ends: by the caller's BYE or by ours. */
  readonly ended: Promise<'caller-bye' | 'our-bye'>;
}

export interface SipUasOptions {
  /** The product's fastify app (driven with app.inject; no listening socket needed). */
  app: FastifyInstance;
  /** Server events, to send BYE when the server deletes a call's endpoint (a flow hung up). */
  events?: { subscribe(listener: (e: ServerEvent) => void): () => void };
}

interface Dialog {
  call: SipCall;
  localTag: string;
  /** The INVITE's From (their identity and tag) and To (ours, tag added). */
  remote: string;
  local: string;
  remoteTarget: { host: string; port: number; uri: string };
  localCSeq: number;
  /** The 2xx to the (re-)INVITE being retransmitted until its ACK, if any. */
  pending2xx: { message: Buffer; timer: NodeJS.Timeout; cseq: number } | null;
  /** An offerless re-INVITE: its ACK carries the answer. */
  answerInAck: boolean;
  resolveEstablished: () => void;
  resolveEnded: (how: 'caller-bye' | 'our-bye') => void;
  ended: boolean;
}

interface ServerTransaction {
  response: Buffer | null;
}

export class SipUas extends EventEmitter<{
  call: [SipCall];
  reinvite: [SipCall, EndpointInfo];
  bye: [SipCall];
  request: [SipRequest];
}> {
  readonly #socket = dgram.createSocket('udp4');
  readonly #opts: SipUasOptions;
  readonly #dialogs = new Map<string, Dialog>();
  /** Server transactions by top Via branch + method (§17.2.3), to answer retransmissions. */
  readonly #transactions = new Map<string, ServerTransaction>();
  /** Our client transactions (BYE) waiting for a final response, by branch. */
  readonly #clientWaits = new Map<string, (r: SipResponse) => void>();
  readonly #unsubscribe: (() => void) | null;
  #closed = false;

  private constructor(opts: SipUasOptions) {
    super();
    this.#opts = opts;
    this.#socket.on('message', (msg, rinfo) => this.#onDatagram(msg, rinfo));
    this.#unsubscribe = opts.events?.subscribe((e) => this.#onServerEvent(e)) ?? null;
  }

  static async listen(opts: SipUasOptions): Promise<SipUas> {
    const uas = new SipUas(opts);
    uas.#socket.bind(0, '127.0.0.1');
    await once(uas.#socket, 'listening');
    return uas;
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /** The address a softphone dials. */
  uri(user = 'ivr'): string {
    return `sip:${user}@127.0.0.1:${this.port}`;
  }

  /** Resolves with the next call answered with 200 OK (not yet established: see call.established). */
  nextCall(timeoutMs = 10_000): Promise<SipCall> {
    return withTimeout(
      once(this, 'call').then(([c]) => c),
      timeoutMs,
      'no INVITE answered',
    );
  }

  /** Resolves with the endpoint as the next re-INVITE of `call` left it. */
  nextReinvite(call: SipCall, timeoutMs = 10_000): Promise<EndpointInfo> {
    return withTimeout(
      new Promise<EndpointInfo>((resolve) => {
        const on = (c: SipCall, ep: EndpointInfo) => {
          if (c !== call) return;
          this.off('reinvite', on);
          resolve(ep);
        };
        this.on('reinvite', on);
      }),
      timeoutMs,
      `no re-INVITE on ${call.callId}`,
    );
  }

  /** POST /endpoints/:id/flow: hands the call to a named flow; resolves with the session id. */
  async startFlow(call: SipCall, flow: string, variables: Record<string, unknown> = {}): Promise<string> {
    const res = await this.#opts.app.inject({
      method: 'POST',
      url: `/endpoints/${call.endpointId}/flow`,
      payload: { flow, variables },
    });
    if (res.statusCode !== 201)
      throw new Error(`POST /endpoints/${call.endpointId}/flow: ${res.statusCode} ${res.body}`);
    return res.json<{ session_id: string }>().session_id;
  }

  /** POST /bridges: connects two calls' endpoints; resolves with the bridge id. */
  async bridge(a: SipCall, b: SipCall): Promise<string> {
    const res = await this.#opts.app.inject({
      method: 'POST',
      url: '/bridges',
      payload: { endpoint_a: a.endpointId, endpoint_b: b.endpointId },
    });
    if (res.statusCode !== 201) throw new Error(`POST /bridges: ${res.statusCode} ${res.body}`);
    return res.json<{ id: string }>().id;
  }

  /** Hangs up from our side: DELETE /endpoints/:id, then BYE to the caller. */
  async hangup(call: SipCall): Promise<void> {
    const d = this.#dialogs.get(call.callId);
    if (!d || d.ended) return;
    this.#end(d, 'our-bye');
    await this.#opts.app.inject({ method: 'DELETE', url: `/endpoints/${call.endpointId}` });
    await this.#sendBye(d);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    for (const d of this.#dialogs.values()) if (d.pending2xx) clearTimeout(d.pending2xx.timer);
    this.#socket.close();
  }

  #send(message: Buffer, port: number, host: string): void {
    if (!this.#closed) this.#socket.send(message, port, host);
  }

  #onDatagram(datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    let msg: ReturnType<typeof parseSip>;
    try {
      msg = parseSip(datagram);
    } catch {
      return; // not SIP (a keep-alive CRLF, garbage): dropped, as a UA does
    }
    if (msg.kind === 'response') {
      const branch = headerParam(header(msg, 'via'), 'branch');
      if (branch && msg.status >= 200) this.#clientWaits.get(branch)?.(msg);
      return;
    }
    this.emit('request', msg);
    void this.#onRequest(msg, rinfo).catch((err: unknown) => {
      // a failing API call must still answer the transaction
      this.#respond(msg, rinfo, 500, 'Server Internal Error', [], '', (err as Error).message);
    });
  }

  async #onRequest(req: SipRequest, rinfo: dgram.RemoteInfo): Promise<void> {
    const callId = header(req, 'call-id');
    if (req.method === 'ACK') return this.#onAck(req, callId);
    const key = `${headerParam(header(req, 'via'), 'branch') ?? ''} ${req.method}`;
    const existing = this.#transactions.get(key);
    if (existing) {
      // a retransmission: repeat the final response, or 100 Trying while the API call runs
      if (existing.response) this.#send(existing.response, rinfo.port, rinfo.address);
      else if (req.method === 'INVITE') this.#respond(req, rinfo, 100, 'Trying');
      return;
    }
    const tx: ServerTransaction = { response: null };
    this.#transactions.set(key, tx);
    const dialog = this.#dialogs.get(callId);
    const toTag = headerParam(header(req, 'to'), 'tag');
    switch (req.method) {
      case 'INVITE':
        if (toTag === null) return this.#onInvite(req, rinfo, tx);
        if (!dialog || dialog.localTag !== toTag || dialog.ended)
          return void (tx.response = this.#respond(req, rinfo, 481, 'Call/Transaction Does Not Exist'));
        return this.#onReinvite(req, rinfo, tx, dialog);
      case 'BYE':
        if (!dialog || dialog.ended)
          return void (tx.response = this.#respond(req, rinfo, 481, 'Call/Transaction Does Not Exist'));
        return this.#onBye(req, rinfo, tx, dialog);
      case 'CANCEL':
        // §9.2: a CANCEL matching our INVITE transaction is answered 200 but changes nothing, as
        // the INVITE is answered 200 as soon as the endpoint exists (the caller then sends BYE)
        tx.response = this.#transactions.has(`${headerParam(header(req, 'via'), 'branch') ?? ''} INVITE`)
          ? this.#respond(req, rinfo, 200, 'OK')
          : this.#respond(req, rinfo, 481, 'Call/Transaction Does Not Exist');
        return;
      case 'OPTIONS':
        tx.response = this.#respond(req, rinfo, 200, 'OK', [['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS']]);
        return;
      default:
        tx.response = this.#respond(req, rinfo, 501, 'Not Implemented', [
          ['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS'],
        ]);
    }
  }

  async #onInvite(req: SipRequest, rinfo: dgram.RemoteInfo, tx: ServerTransaction): Promise<void> {
    this.#respond(req, rinfo, 100, 'Trying');
    const callId = header(req, 'call-id');
    if (req.body === '') {
      tx.response = this.#respond(
        req,
        rinfo,
        488,
        'Not Acceptable Here',
        [],
        '',
        'an INVITE without an offer is not supported by this shim',
      );
      return;
    }
    const res = await this.#opts.app.inject({
      method: 'POST',
      url: '/endpoints',
      payload: { remote_sdp: req.body, affinity: callId },
    });
    if (res.statusCode !== 201) {
      const [status, reason] =
        res.statusCode === 503
          ? [503, 'Service Unavailable']
          : res.statusCode < 500
            ? [488, 'Not Acceptable Here']
            : [500, 'Server Internal Error'];
      tx.response = this.#respond(req, rinfo, status, reason, [], '', res.body);
      return;
    }
    const endpoint = res.json<EndpointInfo>();
    const localTag = token('uas');
    const contactUri = nameAddrUri(header(req, 'contact'));
    let resolveEstablished!: () => void;
    let resolveEnded!: (how: 'caller-bye' | 'our-bye') => void;
    const call = {
      callId,
      endpointId: endpoint.id,
      answers: [endpoint.sdp],
      offers: [req.body],
      established: new Promise<void>((r) => {
        resolveEstablished = r;
      }),
      ended: new Promise<'caller-bye' | 'our-bye'>((r) => {
        resolveEnded = r;
      }),
    };
    const dialog: Dialog = {
      call,
      localTag,
      remote: header(req, 'from'),
      local: `${header(req, 'to')};tag=${localTag}`,
      remoteTarget: { ...uriHostPort(contactUri), uri: contactUri },
      localCSeq: 1,
      pending2xx: null,
      answerInAck: false,
      resolveEstablished,
      resolveEnded,
      ended: false,
    };
    this.#dialogs.set(callId, dialog);
    tx.response = this.#send2xx(req, rinfo, dialog, endpoint.sdp);
    this.emit('call', call);
  }

  async #onReinvite(req: SipRequest, rinfo: dgram.RemoteInfo, tx: ServerTransaction, d: Dialog): Promise<void> {
    let endpoint: EndpointInfo;
    if (req.body === '') {
      // offerless re-INVITE (§14.1): our offer goes in the 2xx, the answer comes in the ACK
      const res = await this.#opts.app.inject({ method: 'GET', url: `/endpoints/${d.call.endpointId}` });
      endpoint = res.json<EndpointInfo>();
      d.answerInAck = true;
    } else {
      const res = await this.#opts.app.inject({
        method: 'PATCH',
        url: `/endpoints/${d.call.endpointId}`,
        payload: { remote_sdp: req.body },
      });
      if (res.statusCode !== 200) {
        // the session stays as it was (RFC 3261 §14.2)
        tx.response = this.#respond(req, rinfo, 488, 'Not Acceptable Here', [], '', res.body);
        return;
      }
      endpoint = res.json<EndpointInfo>();
      d.call.offers.push(req.body);
    }
    d.call.answers.push(endpoint.sdp);
    tx.response = this.#send2xx(req, rinfo, d, endpoint.sdp);
    this.emit('reinvite', d.call, endpoint);
  }

  async #onBye(req: SipRequest, rinfo: dgram.RemoteInfo, tx: ServerTransaction, d: Dialog): Promise<void> {
    this.#end(d, 'caller-bye');
    await this.#opts.app.inject({ method: 'DELETE', url: `/endpoints/${d.call.endpointId}` });
    tx.response = this.#respond(req, rinfo, 200, 'OK');
    this.emit('bye', d.call);
  }

  async #onAck(req: SipRequest, callId: string): Promise<void> {
    const d = this.#dialogs.get(callId);
    const cseq = Number.parseInt(header(req, 'cseq'), 10);
    // an ACK for a non-2xx was absorbed by its transaction; one for no pending 2xx is a duplicate
    if (!d || !d.pending2xx || d.pending2xx.cseq !== cseq) return;
    clearTimeout(d.pending2xx.timer);
    d.pending2xx = null;
    if (d.answerInAck && req.body !== '') {
      d.answerInAck = false;
      await this.#opts.app.inject({
        method: 'PATCH',
        url: `/endpoints/${d.call.endpointId}`,
        payload: { remote_sdp: req.body },
      });
    }
    d.resolveEstablished();
  }

  /** Sends the 2xx of a (re-)INVITE and retransmits it (T1, doubling to T2) until its ACK (§13.3.1.4). */
  #send2xx(req: SipRequest, rinfo: dgram.RemoteInfo, d: Dialog, sdp: string): Buffer {
    const message = this.#response(
      req,
      200,
      'OK',
      [
        ['Contact', `<sip:ivr@127.0.0.1:${this.port}>`],
        ['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS'],
      ],
      sdp,
      d.localTag,
    );
    this.#send(message, rinfo.port, rinfo.address);
    if (d.pending2xx) clearTimeout(d.pending2xx.timer);
    let interval = T1;
    let elapsed = 0;
    const retransmit = () => {
      elapsed += interval;
      if (elapsed >= 64 * T1) {
        // no ACK: the dialog is confirmed dead (§13.3.1.4), hang up
        d.pending2xx = null;
        void this.hangup(d.call);
        return;
      }
      this.#send(message, rinfo.port, rinfo.address);
      interval = Math.min(2 * interval, T2);
      if (d.pending2xx) d.pending2xx.timer = setTimeout(retransmit, interval);
    };
    d.pending2xx = { message, timer: setTimeout(retransmit, interval), cseq: Number.parseInt(header(req, 'cseq'), 10) };
    return message;
  }

  #respond(
    req: SipRequest,
    rinfo: dgram.RemoteInfo,
    status: number,
    reason: string,
    extra: Array<[string, string]> = [],
    body = '',
    warning = '',
  ): Buffer {
    const tag = this.#dialogs.get(header(req, 'call-id'))?.localTag ?? (status > 100 ? token('uas') : null);
    const headers = warning
      ? [
          ...extra,
          ['Warning', `399 media-server-test-shim "${warning.replace(/["\r\n]/g, ' ').slice(0, 200)}"`] as [
            string,
            string,
          ],
        ]
      : extra;
    const message = this.#response(req, status, reason, headers, body, tag);
    this.#send(message, rinfo.port, rinfo.address);
    return message;
  }

  /** A response (§8.2.6): Via, From, Call-ID, CSeq copied; To copied with our tag when it had none. */
  #response(
    req: SipRequest,
    status: number,
    reason: string,
    extra: Array<[string, string]>,
    body: string,
    tag: string | null,
  ): Buffer {
    const to = header(req, 'to');
    const headers: Array<[string, string]> = [
      ...(req.headers.get('via') ?? []).map((v): [string, string] => ['Via', v]),
      ['From', header(req, 'from')],
      ['To', tag !== null && headerParam(to, 'tag') === null ? `${to};tag=${tag}` : to],
      ['Call-ID', header(req, 'call-id')],
      ['CSeq', header(req, 'cseq')],
      ...extra,
    ];
    return buildSip(`SIP/2.0 ${status} ${reason}`, headers, body);
  }

  /** BYE within the dialog (§15.1.1), retransmitted (T1 doubling) until a final response. */
  async #sendBye(d: Dialog): Promise<void> {
    const branch = token('z9hG4bK');
    const message = buildSip(`BYE ${d.remoteTarget.uri} SIP/2.0`, [
      ['Via', `SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`],
      ['Max-Forwards', '70'],
      ['From', d.local],
      ['To', d.remote],
      ['Call-ID', d.call.callId],
      ['CSeq', `${++d.localCSeq} BYE`],
    ]);
    const answered = new Promise<void>((resolve) => this.#clientWaits.set(branch, () => resolve()));
    let interval = T1;
    for (let sent = 0; sent < 7 && !this.#closed; sent++) {
      this.#send(message, d.remoteTarget.port, d.remoteTarget.host);
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), interval));
      if ((await Promise.race([answered, timer])) !== 'timeout') break;
      interval = Math.min(2 * interval, T2);
    }
    this.#clientWaits.delete(branch);
  }

  #end(d: Dialog, how: 'caller-bye' | 'our-bye'): void {
    if (d.ended) return;
    d.ended = true;
    if (d.pending2xx) clearTimeout(d.pending2xx.timer);
    d.pending2xx = null;
    d.resolveEnded(how);
  }

  #onServerEvent(e: ServerEvent): void {
    if (e.type !== 'endpoint.deleted') return;
    for (const d of this.#dialogs.values()) {
      if (d.call.endpointId !== e.endpoint_id || d.ended) continue;
      this.#end(d, 'our-bye');
      void this.#sendBye(d);
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]);
}
