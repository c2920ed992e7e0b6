import type { MessagePort } from 'node:worker_threads';
import { deserializeError, ValidationError } from '../../common/errors.ts';
import type { DecodedAudio } from '../playback/decodeAudio.ts';
import type { AudioPrep, PrepClientMessage, PrepRequest, PrepServerMessage } from './AudioPrep.ts';

interface Waiter {
  resolve(audio: DecodedAudio): void;
  reject(err: Error): void;
}

/**
 * A media worker's line to the control plane's AudioPrepPool: requests go out on a MessagePort of
 * their own (not the control channel), ready PCM comes back in shared memory. The port is unref'd
 * while nothing waits on it.
 */
export class PortAudioPrep implements AudioPrep {
  readonly #port: MessagePort;
  readonly #waiting = new Map<number, Waiter>();
  #nextId = 1;
  #closed = false;

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (m: PrepServerMessage) => this.#onMessage(m));
    port.on('close', () => this.#failAll(new ValidationError('PREP_UNAVAILABLE', 'the audio prep pool is gone')));
    port.unref();
  }

  prepare(req: PrepRequest, signal?: AbortSignal): Promise<DecodedAudio> {
    if (this.#closed) return Promise.reject(new ValidationError('PREP_UNAVAILABLE', 'the audio prep pool is gone'));
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const id = this.#nextId++;
    if (this.#waiting.size === 0) this.#port.ref();
    return new Promise<DecodedAudio>((resolve, reject) => {
      // An abandoned wait drops its waiter; the pool finishes the load and caches it for the next caller.
      const onAbort = (): void => {
        if (this.#forget(id)) reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.set(id, {
        resolve: (a) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(a);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      this.#port.postMessage({ t: 'prep', id, req } satisfies PrepClientMessage);
    });
  }

  #forget(id: number): boolean {
    if (!this.#waiting.delete(id)) return false;
    if (this.#waiting.size === 0) this.#port.unref();
    return true;
  }

  #onMessage(m: PrepServerMessage): void {
    const w = this.#waiting.get(m.id);
    if (w === undefined) return;
    this.#forget(m.id);
    if (m.t === 'done') w.resolve({ pcm: m.pcm, sampleRate: m.sampleRate });
    else w.reject(deserializeError(m.err));
  }

  #failAll(err: Error): void {
    this.#closed = true;
    const all = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of all) w.reject(err);
  }

  close(): void {
    if (this.#closed) return;
    this.#failAll(new ValidationError('PREP_UNAVAILABLE', 'the audio prep client is closed'));
    this.#port.close();
  }
}
