/**
 * The relay offload's shared memory: what the native addon (native/udp_batch.c, which mirrors
 * these numbers and reports them from `offloadLayout()` so a test can compare) and the
 * JavaScript side both read and write.
 *
 * A bridged leg whose packets need nothing but a header rewrite (same codec both ways, nobody
 * listening to its audio, the source latched) is relayed inside the addon: the datagram is
 * received, checked against the leg's ROUTE, rewritten into the destination's outbound stream
 * (its SENDER block, the very state RtpSender keeps) and sent on the destination's socket, with
 * no JavaScript call. Anything else (events, comfort noise, another source, a packet the route
 * does not describe) goes to JavaScript as before, which keeps the same stream in the same block.
 *
 * SENDER block: one per endpoint, a SharedArrayBuffer of SENDER_BYTES, owned by the
 * destination endpoint's worker (which writes the destination fields: FD, DST_*, PT_OUT,
 * CODEC_KEY, RELAY_OK) and shared with the worker that relays into it (a cross-worker bridge).
 * Every access holds LOCK (0 free, 1 held: Atomics.compareExchange in JS, __atomic in C).
 * Times are milliseconds of the process-wide monotonic clock (uv_hrtime / 1e6, the clock of
 * `process.hrtime`), not `performance.now()`, whose origin differs per thread.
 *
 * ROUTE: one per source endpoint with an offloadable link, an Int32Array written by that
 * endpoint's worker only (the thread whose loop polls the socket, so no lock).
 *
 * LOG: per thread, the packets relayed natively, for JavaScript to account for (receive
 * statistics, counters, media timeout) in batches: records of LOG_INTS int32 (+ one float64
 * arrival time each); the count lives in LOG_COUNT of the log's int32 array header.
 */

/** Int32 words of the SENDER block (Int32Array over bytes [0, 128)). */
export const S = {
  LOCK: 0,
  /** 1: the addon may relay into this endpoint (it can send, nothing generated owns its stream, IPv4). */
  RELAY_OK: 1,
  /** The destination's RTP socket descriptor (-1: none). */
  FD: 2,
  /** Destination IPv4 address, host order, as int32. */
  DST_IP: 3,
  DST_PORT: 4,
  /** Our SSRC (uint32 as int32). */
  SSRC: 5,
  /** Last sequence number sent (0..65535). */
  SEQ: 6,
  /** Last timestamp sent (uint32 as int32). */
  TS: 7,
  /** Token of the source whose offsets are current (-1: none). */
  SOURCE: 8,
  /** Offsets from the current source's sequence numbers and timestamps to ours. */
  SEQ_OFFSET: 9,
  TS_OFFSET: 10,
  /** 1: the next packet sent carries the marker bit (a new talkspurt). */
  MARKER: 11,
  CLOCK_RATE: 12,
  /** Samples per packet at CLOCK_RATE: the least a timestamp advances across a source switch. */
  FRAME_SAMPLES: 13,
  /** Packets sent (wraps at 2^32, read as uint32). */
  PACKETS: 14,
  /** The destination's audio payload type, written into relayed packets. */
  PT_OUT: 15,
  /** The destination codec's key (codecKey()): a route relays only between equal keys. */
  CODEC_KEY: 16,
} as const;

/** Float64 words of the SENDER block (Float64Array over bytes [128, 256)). */
export const SF = {
  /** When the last packet was sent (monotonic ms; < 0: never). */
  LAST_SEND_MS: 0,
  /** Payload octets sent (RTCP SR). */
  OCTETS: 1,
} as const;

export const SENDER_BYTES = 256;
export const SENDER_INTS = 32;
export const SENDER_FLOAT_OFFSET = 128;
export const SENDER_FLOATS = 16;

/** Int32 words of a ROUTE. */
export const R = {
  /** 1: packets matching this route are relayed natively. */
  ARMED: 0,
  /** The latched source: IPv4 host order as int32, and port. */
  FROM_IP: 1,
  FROM_PORT: 2,
  /** The source's audio payload type (telephone-event, CN and anything else go to JavaScript). */
  PT_IN: 3,
  /** The source's SSRC (another SSRC goes to JavaScript first). */
  SSRC_IN: 4,
  /** The link's source token (BridgeLink: serial ^ ssrc ^ salt), as RtpSender.rewrite() takes it. */
  SOURCE_TOKEN: 5,
  /** The source codec's key: relayed only while the destination's CODEC_KEY equals it. */
  CODEC_KEY: 6,
} as const;

export const ROUTE_INTS = 8;

/** Log records: int32 words per record (the arrival time is in the float64 array, same index). */
export const L = {
  SOCKET: 0,
  SEQ: 1,
  TS: 2,
  SSRC: 3,
  PAYLOAD_BYTES: 4,
} as const;

export const LOG_INTS = 5;
export const LOG_RECORDS = 4096;

/** A stable 31-bit key of what BridgeLink's sameCodec() compares: name, clock rate, channels. */
export function codecKey(codec: { name: string; clockRate: number; channels: number }): number {
  let h = 0x811c9dc5;
  const s = `${codec.name}/${codec.clockRate}/${codec.channels}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 1) | 1;
}

/**
 * This thread's `performance.now()` origin on the process-wide monotonic clock (the one of
 * `process.hrtime` and the addon's uv_hrtime): shared times are kept on that clock, since the
 * addon may relay from another worker whose `performance.now()` starts elsewhere.
 */
export const HR_OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();
