import type { WorkerMetrics } from '../protocol/index.ts';

export interface MetricsSnapshot {
  endpoints: number;
  bridges: number;
  portsAvailable: number;
  portsTotal: number;
  counters: { endpointsCreated: number; bridgesCreated: number; workerRestarts: number; mediaTimeouts: number };
  workers: WorkerMetrics[];
  eventSeq: number;
  /** The TTS and decode pool and its cache of prepared audio. */
  prep?: { threads: number; jobs: number; hits: number; misses: number; coalesced: number; evictions: number; bytes: number; entries: number };
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Prometheus text exposition (format 0.0.4) of the control plane and every worker. Worker
 * counters are cumulative since the worker started; a restarted worker restarts them, which
 * Prometheus' rate() handles as a counter reset.
 */
export function renderMetrics(s: MetricsSnapshot): { contentType: string; body: string } {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 0}`);
  };
  const perWorker = (f: (w: WorkerMetrics) => number): Array<[string, number]> =>
    s.workers.map((w) => [`{worker="${w.workerIndex}"}`, f(w)]);

  metric('msc_endpoints', 'gauge', 'Endpoints allocated.', [['', s.endpoints]]);
  metric('msc_bridges', 'gauge', 'Active bridges.', [['', s.bridges]]);
  metric('msc_rtp_ports_available', 'gauge', 'RTP port pairs free in the pool.', [['', s.portsAvailable]]);
  metric('msc_rtp_ports_total', 'gauge', 'RTP port pairs in the pool.', [['', s.portsTotal]]);
  metric('msc_endpoints_created_total', 'counter', 'Endpoints created.', [['', s.counters.endpointsCreated]]);
  metric('msc_bridges_created_total', 'counter', 'Bridges created.', [['', s.counters.bridgesCreated]]);
  metric('msc_worker_restarts_total', 'counter', 'Media workers restarted after dying.', [['', s.counters.workerRestarts]]);
  metric('msc_media_timeouts_total', 'counter', 'Endpoints that stopped receiving RTP.', [['', s.counters.mediaTimeouts]]);
  metric('msc_events_total', 'counter', 'Events emitted on the event bus.', [['', s.eventSeq]]);
  metric('msc_worker_endpoints', 'gauge', 'Endpoints per media worker.', perWorker((w) => w.endpoints));
  metric('msc_rtp_packets_received_total', 'counter', 'RTP packets accepted.', perWorker((w) => w.packetsReceived));
  metric('msc_rtp_packets_sent_total', 'counter', 'RTP packets sent.', perWorker((w) => w.packetsSent));
  metric('msc_rtp_packets_relayed_total', 'counter', 'RTP packets forwarded by bridges.', perWorker((w) => w.packetsRelayed));
  metric('msc_rtp_packets_lost_total', 'counter', 'RTP packets lost by the peers (RFC 3550 A.3).', perWorker((w) => w.packetsLost));
  const dropped: Array<[string, number]> = [];
  for (const w of s.workers) {
    for (const [reason, n] of Object.entries(w.dropped)) dropped.push([`{worker="${w.workerIndex}",reason="${reason}"}`, n]);
  }
  metric('msc_rtp_packets_dropped_total', 'counter', 'Received packets dropped, by reason.', dropped);
  metric('msc_worker_event_loop_lag_p99_seconds', 'gauge', 'Event loop delay p99 per media worker since the last scrape.', perWorker((w) => w.eventLoopLagMs.p99 / 1000));
  metric('msc_worker_event_loop_lag_max_seconds', 'gauge', 'Event loop delay max per media worker since the last scrape.', perWorker((w) => w.eventLoopLagMs.max / 1000));
  // Engine counters and gauges (playbacks, prompt cache, recordings, DTMF, conferences), one
  // family per engine and name: msc_<engine>_<name>{worker}.
  const families = new Map<string, Array<[string, number]>>();
  for (const w of s.workers) {
    for (const [engine, values] of Object.entries(w.engines ?? {})) {
      for (const [name, value] of Object.entries(values)) {
        const family = `msc_${engine}_${name}`.replace(/[^a-zA-Z0-9_]/g, '_');
        if (!families.has(family)) families.set(family, []);
        families.get(family)!.push([`{worker="${w.workerIndex}"}`, value]);
      }
    }
  }
  for (const [family, samples] of families) {
    lines.push(`# TYPE ${family} untyped`);
    for (const [labels, value] of samples) lines.push(`${family}${labels} ${Number.isFinite(value) ? value : 0}`);
  }
  if (s.prep !== undefined) {
    const p = s.prep;
    metric('msc_prep_threads', 'gauge', 'Threads of the TTS and decode pool.', [['', p.threads]]);
    metric('msc_prep_jobs', 'gauge', 'Syntheses and decodes running or queued in the pool.', [['', p.jobs]]);
    metric('msc_prep_cache_hits_total', 'counter', 'Prepared audio (speech, prompts, HTTP media) served from the cache.', [['', p.hits]]);
    metric('msc_prep_cache_misses_total', 'counter', 'Requests that needed a synthesis or decode (or joined one in flight).', [['', p.misses]]);
    metric('msc_prep_cache_coalesced_total', 'counter', 'Requests that joined a synthesis or decode already in flight.', [['', p.coalesced]]);
    metric('msc_prep_cache_evictions_total', 'counter', 'Entries evicted to keep the cache within TTS_CACHE_BYTES.', [['', p.evictions]]);
    metric('msc_prep_cache_bytes', 'gauge', 'PCM bytes held by the cache.', [['', p.bytes]]);
    metric('msc_prep_cache_entries', 'gauge', 'Entries in the cache.', [['', p.entries]]);
  }
  metric('msc_media_clock_late_max_seconds', 'gauge', 'Largest media clock tick lateness per worker since the last scrape.', perWorker((w) => (w.clock?.lateMaxMs ?? 0) / 1000));
  return { contentType: CONTENT_TYPE, body: lines.join('\n') + '\n' };
}
