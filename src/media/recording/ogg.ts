/**
 * Ogg encapsulation, RFC 3533. Page header (section 6):
 *
 *   0 'OggS' | 4 version 0 | 5 flags (1 continued, 2 BOS, 4 EOS) | 6 granule position (int64 LE)
 *  14 serial (u32 LE) | 18 page sequence (u32 LE) | 22 CRC32 (u32 LE) | 26 segments | 27 lacing ...
 *
 * Runs on the encoder side (worker thread), not on the media clock.
 */

export const OGG_FLAG_CONTINUED = 0x01;
export const OGG_FLAG_BOS = 0x02;
export const OGG_FLAG_EOS = 0x04;

/** CRC32 of RFC 3533 section 6: polynomial 0x04c11db7, initial 0, not reflected, no final xor. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

export function oggCrc32(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return crc;
}

/**
 * One logical bitstream. Packets are gathered into the current page and never split across pages
 * (our packets are at most a few KiB, well under 255 lacing values); a page is emitted by
 * `flushPage()` or when the next packet would not fit.
 */
export class OggStream {
  readonly serial: number;
  #sequence = 0;
  #packets: Uint8Array[] = [];
  #segments = 0;
  #bodyBytes = 0;
  /** Granule position of the last packet completed on the pending page (-1 when none). */
  #granule = -1;
  #bos = true;
  #eosWritten = false;

  constructor(serial: number) {
    this.serial = serial >>> 0;
  }

  get pagesWritten(): number {
    return this.#sequence;
  }

  get pendingPackets(): number {
    return this.#packets.length;
  }

  /**
   * Add a packet whose last sample ends at `granule` (RFC 7845 4: 48 kHz samples, pre-skip
   * included). Returns a page flushed to make room, or null.
   */
  addPacket(packet: Uint8Array, granule: number): Uint8Array | null {
    const segs = Math.floor(packet.length / 255) + 1;
    if (segs > 255) throw new RangeError(`Ogg packet of ${packet.length} bytes needs continued pages`);
    let out: Uint8Array | null = null;
    if (this.#segments + segs > 255) out = this.flushPage(false);
    this.#packets.push(packet);
    this.#segments += segs;
    this.#bodyBytes += packet.length;
    this.#granule = granule;
    return out;
  }

  /** Emit the pending packets as one page (null if there are none and `eos` is false). */
  flushPage(eos: boolean): Uint8Array | null {
    if (this.#eosWritten) throw new Error('Ogg stream already ended');
    if (this.#packets.length === 0 && !eos) return null;
    const headerLen = 27 + this.#segments;
    const page = new Uint8Array(headerLen + this.#bodyBytes);
    const v = new DataView(page.buffer);
    v.setUint32(0, 0x4f676753, false); // 'OggS'
    page[4] = 0;
    page[5] = (this.#bos ? OGG_FLAG_BOS : 0) | (eos ? OGG_FLAG_EOS : 0);
    // Granule -1 (all ones) when no packet ends on this page (RFC 3533 6).
    const g = this.#granule;
    if (g < 0) {
      v.setUint32(6, 0xffffffff, true);
      v.setUint32(10, 0xffffffff, true);
    } else {
      v.setUint32(6, g % 0x100000000, true);
      v.setUint32(10, Math.floor(g / 0x100000000), true);
    }
    v.setUint32(14, this.serial, true);
    v.setUint32(18, this.#sequence, true);
    v.setUint32(22, 0, true);
    page[26] = this.#segments;
    let lace = 27;
    let body = headerLen;
    for (const p of this.#packets) {
      let n = p.length;
      while (n >= 255) {
        page[lace++] = 255;
        n -= 255;
      }
      page[lace++] = n; // a final value below 255 ends the packet (0 when length % 255 == 0)
      page.set(p, body);
      body += p.length;
    }
    v.setUint32(22, oggCrc32(page), true);
    this.#sequence++;
    this.#bos = false;
    if (eos) this.#eosWritten = true;
    this.#packets = [];
    this.#segments = 0;
    this.#bodyBytes = 0;
    this.#granule = -1;
    return page;
  }
}
