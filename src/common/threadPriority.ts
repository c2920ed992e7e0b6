import { readlinkSync } from 'node:fs';
import os from 'node:os';

/**
 * Lower the scheduling priority of the calling thread only (Linux: nice values are per thread,
 * and /proc/thread-self names the thread's id). Threads doing bulk work (TTS, decoding, encoding)
 * call it so that, when cores are short, the kernel runs the media clocks first. Nice 5 (about a
 * third of a nice-0 thread's share under contention) rather than more: speech must still arrive
 * in time when the box is busy with other work. Elsewhere, or without /proc, it does nothing.
 * Returns whether it applied.
 */
export function lowerThreadPriority(nice = 5): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    os.setPriority(tid, Math.max(os.getPriority(tid), nice));
    return true;
  } catch {
    return false;
  }
}
