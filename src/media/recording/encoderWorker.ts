/**
 * Encoder worker thread: runs EncoderSessions for the EncoderPool. Messages in order per session:
 * open, data*, close. Chunks come in transferred and go back transferred once encoded.
 */
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../../common/errors.ts';
import { lowerThreadPriority } from '../../common/threadPriority.ts';
import { EncoderSession } from './EncoderSession.ts';
import { Mp3StreamEncoder } from './Mp3StreamEncoder.ts';
import { OggOpusEncoder } from './OggOpusEncoder.ts';
import type { PoolReply, PoolRequest } from './EncoderPool.ts';

const port = parentPort;
if (port === null) throw new Error('encoderWorker.ts must run in a worker thread');

// Encoding has seconds of slack (chunks queue); the media clock has none.
lowerThreadPriority();

const sessions = new Map<number, EncoderSession>();
// Sessions still opening: data arriving meanwhile waits for the open to finish.
const opening = new Map<number, Promise<unknown>>();

function reply(msg: PoolReply, transfer?: ArrayBuffer[]): void {
  port!.postMessage(msg, transfer);
}

function onData(id: number, buf: ArrayBuffer, len: number): void {
  sessions.get(id)?.encode(new Int16Array(buf), 0, len);
  reply({ t: 'free', id, buf }, [buf]);
}

port.on('message', (msg: PoolRequest) => {
  const id = msg.id;
  const pending = opening.get(id);
  if (pending !== undefined) {
    void pending.then(() => handle(msg));
    return;
  }
  handle(msg);
});

/** One frame through each encoder: compiles and JITs what the first recording would otherwise wait for. */
function warm(): void {
  const silence = new Int16Array(960);
  const out: Uint8Array[] = [];
  try {
    for (const sampleRate of [8000, 16000, 48000]) {
      new Mp3StreamEncoder({ sampleRate, channels: 1 }).encode(silence, 0, sampleRate / 50, out);
      const opus = new OggOpusEncoder({ sampleRate, channels: 1 });
      opus.headers(out);
      opus.encode(silence, 0, sampleRate / 50, out);
      opus.close();
    }
  } catch {
    // a failing encoder reports itself when a recording opens
  }
  reply({ t: 'warmed', id: 0 });
}

function handle(msg: PoolRequest): void {
  const id = msg.id;
  switch (msg.t) {
    case 'warm':
      warm();
      break;
    case 'open': {
      const p = EncoderSession.open(msg.cfg, (err) => reply({ t: 'error', id, err: serializeError(err) })).then(
        (s) => {
          sessions.set(id, s);
          reply({ t: 'opened', id });
        },
        (err: unknown) => reply({ t: 'open_failed', id, err: serializeError(err) }),
      );
      opening.set(
        id,
        p.finally(() => opening.delete(id)),
      );
      break;
    }
    case 'data':
      onData(id, msg.buf, msg.len);
      break;
    case 'flush': {
      const s = sessions.get(id);
      void (s === undefined ? Promise.resolve() : s.flush()).then(() => reply({ t: 'flushed', id }));
      break;
    }
    case 'close': {
      const s = sessions.get(id);
      sessions.delete(id);
      if (s === undefined) {
        reply({ t: 'closed', id, result: { bytes: 0, samples: 0 } });
        break;
      }
      s.close().then(
        (result) => reply({ t: 'closed', id, result }),
        (err: unknown) => reply({ t: 'close_failed', id, err: serializeError(err) }),
      );
      break;
    }
  }
}
