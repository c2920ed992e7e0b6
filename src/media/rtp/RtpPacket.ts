/**
 * RTP fixed header (RFC 3550 section 5.1) as a view over a received buffer: nothing is copied,
 * fields are read and written in place, and one view is rebound per packet with `wrap()`.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      defined by profile       |           length              |  (X=1, section 5.3.1)
 * |                        header extension                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     payload ...   | padding ... | pad count   |  (P=1)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Reads go byte by byte on the Uint8Array instead of through a DataView: rebinding a view then
 * costs three field writes and no allocation.
 */

/** Length of the fixed header. */
export const RTP_HEADER_LENGTH = 12;

/**
 * Why `RtpPacket.validate()` rejected a packet. Plain numbers so that the receive path can count
 * drops in a `Uint32Array` indexed by code; `RTP_PARSE_ERROR_NAMES[code]` names them for metrics.
 */
export const RtpParseError = {
  /** offset/length do not lie inside the buffer (a caller bug, never thrown). */
  BAD_BOUNDS: 1,
  /** fewer than 12 bytes. */
  TOO_SHORT: 2,
  /** version field is not 2. */
  BAD_VERSION: 3,
  /** CC says more CSRC identifiers than the packet holds. */
  CSRC_OVERFLOW: 4,
  /** X is set but the 4-byte extension header does not fit. */
  EXTENSION_HEADER_OVERFLOW: 5,
  /** the extension length (in 32-bit words) runs past the end of the packet. */
  EXTENSION_OVERFLOW: 6,
  /** P is set and the last octet (padding count) is 0, which RFC 3550 5.1 rules out. */
  PADDING_ZERO: 7,
  /** the padding count is larger than everything after the fixed header. */
  PADDING_OVERFLOW: 8,
  /** header + CSRCs + extension + padding is longer than the packet: payload length < 0. */
  NEGATIVE_PAYLOAD: 9,
} as const;

export type RtpParseErrorCode = (typeof RtpParseError)[keyof typeof RtpParseError];

/** `RTP_PARSE_ERROR_NAMES[code]`; index 0 is 'ok'. Size a counter array with `.length`. */
export const RTP_PARSE_ERROR_NAMES: readonly string[] = [
  'ok',
  'bad_bounds',
  'too_short',
  'bad_version',
  'csrc_overflow',
  'extension_header_overflow',
  'extension_overflow',
  'padding_zero',
  'padding_overflow',
  'negative_payload',
];

/** Fields of the fixed header we write for our own packets. */
export interface RtpHeaderInit {
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  marker?: boolean;
}

/**
 * Write a 12-byte RTP header (V=2, no padding, no extension, no CSRC) at `offset`; returns 12.
 * Reuse one `RtpHeaderInit` object per stream on the send path to stay allocation-free.
 */
export function serializeRtpHeader(out: Uint8Array, offset: number, h: RtpHeaderInit): number {
  if (offset < 0 || offset + RTP_HEADER_LENGTH > out.length) {
    throw new RangeError(`RTP header needs ${RTP_HEADER_LENGTH} bytes at offset ${offset}, buffer has ${out.length}`);
  }
  out[offset] = 0x80;
  out[offset + 1] = (h.marker === true ? 0x80 : 0) | (h.pt & 0x7f);
  out[offset + 2] = (h.seq >>> 8) & 0xff;
  out[offset + 3] = h.seq & 0xff;
  writeU32(out, offset + 4, h.ts);
  writeU32(out, offset + 8, h.ssrc);
  return RTP_HEADER_LENGTH;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

const EMPTY = new Uint8Array(0);

export class RtpPacket {
  #buf: Uint8Array = EMPTY;
  #off = 0;
  #len = 0;

  /**
   * Check that `length` bytes at `offset` form a well-formed RTP packet (RFC 3550 5.1, 5.3.1 and
   * the receiver checks of A.1); 0 when they do, else an `RtpParseError` code. Never throws and
   * allocates nothing.
   */
  static validate(buf: Uint8Array, offset = 0, length: number = buf.length - offset): RtpParseErrorCode | 0 {
    if (!(offset >= 0 && length >= 0 && offset + length <= buf.length)) return RtpParseError.BAD_BOUNDS;
    if (length < RTP_HEADER_LENGTH) return RtpParseError.TOO_SHORT;
    const b0 = buf[offset]!;
    if (b0 >>> 6 !== 2) return RtpParseError.BAD_VERSION;
    let header = RTP_HEADER_LENGTH + (b0 & 0x0f) * 4;
    if (header > length) return RtpParseError.CSRC_OVERFLOW;
    if ((b0 & 0x10) !== 0) {
      if (header + 4 > length) return RtpParseError.EXTENSION_HEADER_OVERFLOW;
      const words = (buf[offset + header + 2]! << 8) | buf[offset + header + 3]!;
      header += 4 + words * 4;
      if (header > length) return RtpParseError.EXTENSION_OVERFLOW;
    }
    if ((b0 & 0x20) !== 0) {
      const pad = buf[offset + length - 1]!;
      if (pad === 0) return RtpParseError.PADDING_ZERO;
      if (pad > length - RTP_HEADER_LENGTH) return RtpParseError.PADDING_OVERFLOW;
      if (header + pad > length) return RtpParseError.NEGATIVE_PAYLOAD;
    }
    return 0;
  }

  /** A view over `buf` (validated by the caller), or an unbound view to `wrap()` later. */
  constructor(buf?: Uint8Array, offset = 0, length?: number) {
    if (buf !== undefined) this.wrap(buf, offset, length ?? buf.length - offset);
  }

  /**
   * Rebind this view to another packet. The bytes must have passed `validate()`: the getters
   * trust the layout. Returns `this` so `view.wrap(b, o, l).payloadType` reads naturally.
   */
  wrap(buf: Uint8Array, offset: number, length: number): this {
    this.#buf = buf;
    this.#off = offset;
    this.#len = length;
    return this;
  }

  /** The buffer this view reads (not a copy). */
  get buffer(): Uint8Array {
    return this.#buf;
  }

  /** Offset of the packet inside `buffer`. */
  get byteOffset(): number {
    return this.#off;
  }

  /** Length of the whole packet, padding included. */
  get byteLength(): number {
    return this.#len;
  }

  get version(): number {
    return this.#buf[this.#off]! >>> 6;
  }

  set version(v: number) {
    const o = this.#off;
    this.#buf[o] = (this.#buf[o]! & 0x3f) | ((v & 0x03) << 6);
  }

  /**
   * P bit. Setting it in place re-interprets the last octet as the padding count; the caller is
   * the one who knows whether it holds one.
   */
  get padding(): boolean {
    return (this.#buf[this.#off]! & 0x20) !== 0;
  }

  set padding(v: boolean) {
    const o = this.#off;
    this.#buf[o] = v ? this.#buf[o]! | 0x20 : this.#buf[o]! & ~0x20;
  }

  /** X bit; as with `padding`, setting it re-interprets the bytes after the CSRC list. */
  get extension(): boolean {
    return (this.#buf[this.#off]! & 0x10) !== 0;
  }

  set extension(v: boolean) {
    const o = this.#off;
    this.#buf[o] = v ? this.#buf[o]! | 0x10 : this.#buf[o]! & ~0x10;
  }

  get csrcCount(): number {
    return this.#buf[this.#off]! & 0x0f;
  }

  get marker(): boolean {
    return (this.#buf[this.#off + 1]! & 0x80) !== 0;
  }

  set marker(v: boolean) {
    const o = this.#off + 1;
    this.#buf[o] = v ? this.#buf[o]! | 0x80 : this.#buf[o]! & 0x7f;
  }

  get payloadType(): number {
    return this.#buf[this.#off + 1]! & 0x7f;
  }

  set payloadType(v: number) {
    const o = this.#off + 1;
    this.#buf[o] = (this.#buf[o]! & 0x80) | (v & 0x7f);
  }

  get sequenceNumber(): number {
    const o = this.#off;
    return (this.#buf[o + 2]! << 8) | this.#buf[o + 3]!;
  }

  set sequenceNumber(v: number) {
    const o = this.#off;
    this.#buf[o + 2] = (v >>> 8) & 0xff;
    this.#buf[o + 3] = v & 0xff;
  }

  get timestamp(): number {
    return readU32(this.#buf, this.#off + 4);
  }

  set timestamp(v: number) {
    writeU32(this.#buf, this.#off + 4, v);
  }

  get ssrc(): number {
    return readU32(this.#buf, this.#off + 8);
  }

  set ssrc(v: number) {
    writeU32(this.#buf, this.#off + 8, v);
  }

  /** CSRC identifier `i` (0-based, below `csrcCount`). */
  getCsrc(i: number): number {
    if (!(i >= 0 && i < this.csrcCount)) throw new RangeError(`CSRC index ${i} out of range 0..${this.csrcCount - 1}`);
    return readU32(this.#buf, this.#off + RTP_HEADER_LENGTH + i * 4);
  }

  /** "defined by profile" field of the header extension (0xBEDE: RFC 8285 one-byte form), or -1. */
  get extensionProfile(): number {
    if (!this.extension) return -1;
    const o = this.#off + RTP_HEADER_LENGTH + this.csrcCount * 4;
    return (this.#buf[o]! << 8) | this.#buf[o + 1]!;
  }

  /** Offset (in `buffer`) of the extension data after its 4-byte header; -1 without extension. */
  get extensionOffset(): number {
    if (!this.extension) return -1;
    return this.#off + RTP_HEADER_LENGTH + this.csrcCount * 4 + 4;
  }

  /** Length in bytes of the extension data (4 x the length field); 0 without extension. */
  get extensionLength(): number {
    if (!this.extension) return 0;
    const o = this.#off + RTP_HEADER_LENGTH + this.csrcCount * 4;
    return ((this.#buf[o + 2]! << 8) | this.#buf[o + 3]!) * 4;
  }

  /** Fixed header + CSRCs + extension (header and data). */
  get headerLength(): number {
    const b0 = this.#buf[this.#off]!;
    let h = RTP_HEADER_LENGTH + (b0 & 0x0f) * 4;
    if ((b0 & 0x10) !== 0) {
      const o = this.#off + h;
      h += 4 + ((this.#buf[o + 2]! << 8) | this.#buf[o + 3]!) * 4;
    }
    return h;
  }

  /** Number of padding octets at the end, count octet included; 0 when P is clear. */
  get paddingLength(): number {
    return this.padding ? this.#buf[this.#off + this.#len - 1]! : 0;
  }

  /** Offset of the payload in `buffer` (absolute, ready for `buffer.subarray()`). */
  get payloadOffset(): number {
    return this.#off + this.headerLength;
  }

  get payloadLength(): number {
    return this.#len - this.headerLength - this.paddingLength;
  }

  /** The payload as a subarray (allocates a view object: not for the per-packet path). */
  payload(): Uint8Array {
    const start = this.payloadOffset;
    return this.#buf.subarray(start, start + this.payloadLength);
  }
}
