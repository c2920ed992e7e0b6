/**
 * A lock-free single-producer / single-consumer ring of packets in a SharedArrayBuffer: one
 * thread pushes, one other thread reads, and neither ever blocks. One direction of a
 * cross-worker bridge is one ring (each side builds its own `SpscRing` over the same buffer).
 *
 * Layout (32-bit words; the byte counters run freely and wrap at 2^32, the capacity being a
 * power of two):
 *
 *   control  [0] head  bytes ever written (producer stores, consumer loads)
 *            [1] tail  bytes ever read    (consumer stores, producer loads)
 *            [2] dropped: pushes refused because the ring was full
 *   data     records, 4-byte aligned:
 *            +0 payload length (WRAP: nothing more before the end, continue at 0)
 *            +4 source  +8 seq  +12 ts   (the three words a bridge hands on with a packet)
 *            +16 payload, padded to 4 bytes
 *
 * `Atomics.store` of head (tail) publishes everything written before it (release) and the other
 * side's `Atomics.load` acquires it, so the record body itself needs no atomics. A full ring
 * refuses the push and counts it (real-time media: a late packet is worth less than a lost one).
 * Pure: no timers, no sockets, no waking; the caller decides how the consumer learns of data.
 */
export class SpscRing {
  /** Bytes of a ring header before the data area. */
  static readonly CONTROL_BYTES = 16;
  /** Record header bytes before each payload. */
  static readonly RECORD_BYTES = 16;

  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly #mask: number;
  readonly #control: Int32Array;
  readonly #words: Uint32Array;
  readonly #bytes: Uint8Array;
  /** Own end's counter, kept locally (only this side writes it). */
  #head = 0;
  #tail = 0;
  /**
   * The other end's counter as last loaded: reloaded only when it would refuse (full / empty),
   * so a busy pair does not pull each other's cache line on every packet.
   */
  #tailSeen = 0;
  #headSeen = 0;
  /** Metadata of the record returned by the last read(). */
  source = 0;
  seq = 0;
  ts = 0;

  /** A new ring whose data area holds `capacity` bytes (a power of two, at least 256). */
  static create(capacity: number): SharedArrayBuffer {
    if (!Number.isInteger(capacity) || capacity < 256 || (capacity & (capacity - 1)) !== 0 || capacity > 2 ** 30) {
      throw new RangeError(`ring capacity must be a power of two between 256 and 2^30 bytes, got ${capacity}`);
    }
    return new SharedArrayBuffer(SpscRing.CONTROL_BYTES + capacity);
  }

  /** One end of the ring in `buffer` (made by `SpscRing.create`). */
  constructor(buffer: SharedArrayBuffer) {
    const capacity = buffer.byteLength - SpscRing.CONTROL_BYTES;
    if (capacity < 256 || (capacity & (capacity - 1)) !== 0)
      throw new RangeError('not a ring buffer (use SpscRing.create)');
    this.buffer = buffer;
    this.capacity = capacity;
    this.#mask = capacity - 1;
    this.#control = new Int32Array(buffer, 0, 4);
    this.#words = new Uint32Array(buffer, SpscRing.CONTROL_BYTES);
    this.#bytes = new Uint8Array(buffer, SpscRing.CONTROL_BYTES);
    this.#head = Atomics.load(this.#control, 0) >>> 0;
    this.#tail = Atomics.load(this.#control, 1) >>> 0;
    this.#headSeen = this.#head;
    this.#tailSeen = this.#tail;
  }

  /** The largest payload one record may carry (a quarter of the ring, so a few always fit). */
  static maxPayloadOf(capacity: number): number {
    return (capacity >>> 2) - SpscRing.RECORD_BYTES;
  }

  get maxPayload(): number {
    return SpscRing.maxPayloadOf(this.capacity);
  }

  /** Pushes refused because the ring was full (or the payload too large); either side may read it. */
  get dropped(): number {
    return Atomics.load(this.#control, 2) >>> 0;
  }

  /** Bytes written and not yet read (either side; a snapshot). */
  get used(): number {
    return (Atomics.load(this.#control, 0) - Atomics.load(this.#control, 1)) >>> 0;
  }

  /**
   * Producer: appends `data[0..length)` with its three words. False (and counted in `dropped`)
   * when it does not fit; nothing is written then.
   */
  push(data: Uint8Array, length: number, source: number, seq: number, ts: number): boolean {
    const control = this.#control;
    if (length < 0 || length > this.maxPayload || length > data.length) {
      Atomics.add(control, 2, 1);
      return false;
    }
    const need = SpscRing.RECORD_BYTES + ((length + 3) & ~3);
    let head = this.#head;
    let pos = head & this.#mask;
    // A record never straddles the end: the rest of the area is skipped with a WRAP marker.
    const skip = this.capacity - pos < need ? this.capacity - pos : 0;
    if (((head - this.#tailSeen) >>> 0) + skip + need > this.capacity) {
      this.#tailSeen = Atomics.load(control, 1) >>> 0;
      if (((head - this.#tailSeen) >>> 0) + skip + need > this.capacity) {
        Atomics.add(control, 2, 1);
        return false;
      }
    }
    const words = this.#words;
    if (skip !== 0) {
      words[pos >>> 2] = WRAP;
      head = (head + skip) >>> 0;
      pos = 0;
    }
    const w = pos >>> 2;
    words[w] = length;
    words[w + 1] = source >>> 0;
    words[w + 2] = seq >>> 0;
    words[w + 3] = ts >>> 0;
    const bytes = this.#bytes;
    const at = pos + SpscRing.RECORD_BYTES;
    if (length === data.length) {
      bytes.set(data, at);
    } else {
      for (let i = 0; i < length; i++) bytes[at + i] = data[i]!;
    }
    head = (head + need) >>> 0;
    this.#head = head;
    Atomics.store(control, 0, head | 0);
    return true;
  }

  /** Consumer: whether a record is waiting (one atomic load). */
  get readable(): boolean {
    if (this.#headSeen !== this.#tail) return true;
    this.#headSeen = Atomics.load(this.#control, 0) >>> 0;
    return this.#headSeen !== this.#tail;
  }

  /**
   * Consumer: copies the oldest record's payload into `out` and frees its space; returns its
   * length (its words in `source`, `seq`, `ts`), or -1 when the ring is empty. `out` is a word
   * view (the copy moves whole words; read the bytes through a Uint8Array over the same memory)
   * and must hold `maxPayload` bytes.
   */
  read(out: Uint32Array): number {
    const control = this.#control;
    let tail = this.#tail;
    if (this.#headSeen === tail) {
      this.#headSeen = Atomics.load(control, 0) >>> 0;
      if (this.#headSeen === tail) return -1;
    }
    const words = this.#words;
    let pos = tail & this.#mask;
    let length = words[pos >>> 2]!;
    if (length === WRAP) {
      tail = (tail + (this.capacity - pos)) >>> 0;
      pos = 0;
      length = words[0]!;
    }
    const w = pos >>> 2;
    this.source = words[w + 1]!;
    this.seq = words[w + 2]!;
    this.ts = words[w + 3]!;
    const n = (length + 3) >>> 2;
    const from = w + 4;
    for (let i = 0; i < n; i++) out[i] = words[from + i]!;
    tail = (tail + SpscRing.RECORD_BYTES + (n << 2)) >>> 0;
    this.#tail = tail;
    Atomics.store(control, 1, tail | 0);
    return length;
  }
}

/** A length no record has: the record area ends here, the next record starts at offset 0. */
const WRAP = 0xffffffff;
