import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread running the module at `tsUrl` (a `.ts` URL next to the caller), or its
 * compiled `.js` sibling once built. Under tsx the loader hooks of the parent do not reach worker
 * threads on Node 20, so a TypeScript module is loaded through a tiny bootstrap that registers tsx
 * first.
 */
export function startThread(tsUrl: URL, opts: WorkerOptions = {}): Worker {
  if (!tsUrl.href.endsWith('.ts')) throw new Error(`startThread expects a .ts module URL, got ${tsUrl.href}`);
  const runningTs = import.meta.url.endsWith('.ts');
  if (!runningTs) return new Worker(new URL(tsUrl.href.replace(/\.ts$/, '.js')), opts);
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const target = JSON.stringify(tsUrl.href);
  return new Worker(`import(${api}).then((m) => { m.register(); return import(${target}); })`, { ...opts, eval: true });
}
