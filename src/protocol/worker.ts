/** `worker.*`: the media worker thread itself (metrics, shutdown) and what it is started with. */

/** Plain settings every media worker gets at start (engines read what they need). */
export interface WorkerSettings {
  /** Directory of `prompt:NAME` files. */
  promptsDir?: string;
  recordingsDir?: string;
  flowsDir?: string;
  /** Bytes of decoded prompts a worker keeps cached (default in playbackResources). */
  promptCacheBytes?: number;
  /** In-band DTMF detection default: 'auto' (only for peers without telephone-event), 'on', 'off'. */
  dtmfInband?: 'auto' | 'on' | 'off';
}

export interface WorkerMetrics {
  workerIndex: number;
  endpoints: number;
  bridges: number;
  packetsReceived: number;
  packetsSent: number;
  packetsRelayed: number;
  packetsLost: number;
  dropped: Record<string, number>;
  eventLoopLagMs: { p50: number; p99: number; max: number };
  /** Per-engine counters (playback, recording, dtmf, conference). */
  engines?: Record<string, Record<string, number>>;
  clock?: { ticks: number; lateMaxMs: number };
}

export interface WorkerAdminRequests {
  'worker.metrics': { params: Record<string, never>; result: WorkerMetrics };
  /** Lets the engines finish (recordings finalised) before the worker is terminated. */
  'worker.shutdown': { params: Record<string, never>; result: { ok: true } };
  /** Test hook: makes the worker throw from its event loop (worker death handling). */
  'worker.crash': { params: Record<string, never>; result: { ok: true } };
}

export interface WorkerAdminNotifications {
  'worker.error': { message: string };
}
