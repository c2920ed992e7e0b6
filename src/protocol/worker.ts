/** `worker.*`: the media worker thread itself (metrics, shutdown) and what it is started with. */
import type { MessagePort } from 'node:worker_threads';

/** Plain settings every media worker gets at start (engines read what they need). */
export interface WorkerSettings {
  /** Directory of `prompt:NAME` files. */
  promptsDir?: string;
  recordingsDir?: string;
  flowsDir?: string;
  /**
   * In-band DTMF detection default: 'auto' (peers without telephone-event, while their digits are
   * consumed), 'plain' (peers without telephone-event, always), 'on' (every endpoint), 'off'.
   */
  dtmfInband?: 'auto' | 'plain' | 'on' | 'off';
  /** What an endpoint sends when it has nothing to say (SILENCE_FILL). */
  silenceFill?: 'cn' | 'silence' | 'off';
  /** UDP I/O of the RTP/RTCP sockets, as the control plane resolved UDP_IO (unset: UDP_IO of the environment, else auto). */
  udpIo?: 'native' | 'dgram';
  /** false: no relay offload (every relayed packet through JavaScript). */
  relayOffload?: boolean;
  /** RELAY_THREADS: native relay threads of the process (0 or unset: the workers' loops relay). */
  relayThreads?: number;
  /** Destinations `http(s)://` media items may (not) be fetched from. */
  mediaFetchAllow?: string[];
  mediaFetchDeny?: string[];
  /** The line to the control plane's TTS and decode pool; without it a worker runs a pool of its own. */
  prepPort?: MessagePort;
  /** That own pool's threads and cache (tests, tools). */
  ttsThreads?: number;
  ttsCacheBytes?: number;
  /** false: do not start the encoder threads ahead of the first mp3/opus recording (tests, tools). */
  warmEncoders?: boolean;
}

export interface WorkerMetrics {
  workerIndex: number;
  endpoints: number;
  bridges: number;
  packetsReceived: number;
  packetsSent: number;
  packetsRelayed: number;
  /** Of packetsRelayed, those the native addon relayed itself (the relay offload). */
  packetsOffloaded: number;
  /** Of packetsOffloaded, those the native relay thread relayed (RELAY_THREADS). */
  packetsOffloadedByThread: number;
  packetsLost: number;
  dropped: Record<string, number>;
  eventLoopLagMs: { p50: number; p99: number; max: number };
  /** Per-engine counters (playback, recording, dtmf, conference). */
  engines?: Record<string, Record<string, number>>;
  /**
   * Media clock tick lateness: max and percentiles since the previous metrics request, and a
   * histogram cumulative since the worker started (counts[i]: ticks at most boundsMs[i] late).
   */
  clock?: {
    ticks: number;
    lateMaxMs: number;
    lateP50Ms?: number;
    lateP99Ms?: number;
    lateHistogram?: { boundsMs: number[]; counts: number[]; sumMs: number; count: number };
  };
  /** The worker's V8 heap (v8.getHeapStatistics() inside the worker). */
  heap?: { usedBytes: number; totalBytes: number; limitBytes: number; externalBytes: number };
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
