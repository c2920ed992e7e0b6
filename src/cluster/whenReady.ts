import type { Redis } from 'ioredis';

/**
 * Resolves when `redis` is ready again, after `maxMs` at most, or when `signal` aborts. Not
 * events.once(): that rejects on the 'error' every failed reconnect emits.
 */
export function whenReady(redis: Redis, maxMs: number, signal: AbortSignal): Promise<void> {
  if (redis.status === 'ready' || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, maxMs);
    redis.on('ready', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
