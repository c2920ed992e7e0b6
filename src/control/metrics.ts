import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Registry,
  type Metric,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';
import type { WorkerMetrics } from '../protocol/index.ts';
import type { EventBus } from './EventBus.ts';
import type { ServerEvent } from './types.ts';

export interface MetricsSnapshot {
  endpoints: number;
  bridges: number;
  portsAvailable: number;
  portsTotal: number;
  counters: { endpointsCreated: number; bridgesCreated: number; workerRestarts: number; mediaTimeouts: number };
  workers: WorkerMetrics[];
  eventSeq: number;
  /** The TTS and decode pool and its cache of prepared audio. */
  prep?: {
    threads: number;
    jobs: number;
    hits: number;
    misses: number;
    coalesced: number;
    evictions: number;
    bytes: number;
    entries: number;
  };
}

type Labels = Record<string, string>;
type Sink = (labels: Labels, value: number) => void;
type Read = (s: MetricsSnapshot, out: Sink) => void;

const NO_LABELS: Labels = {};

/** Figures of one worker as `(labels, value)` pairs labelled by its index. */
const perWorker =
  (f: (w: WorkerMetrics) => number | undefined): Read =>
  (s, out) => {
    for (const w of s.workers) {
      const v = f(w);
      if (v !== undefined) out({ worker: String(w.workerIndex) }, v);
    }
  };
const single =
  (f: (s: MetricsSnapshot) => number | undefined): Read =>
  (s, out) => {
    const v = f(s);
    if (v !== undefined) out(NO_LABELS, v);
  };

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  labels?: readonly string[];
  read: Read;
}

/**
 * Engine figures: the media engines answer `worker.metrics` with `engines.<engine>.<key>`; each
 * key becomes a sample of one family here (with fixed extra labels and a unit scale), or is
 * left out (null) when another family already says it. worker.metrics stays plain numbers so
 * the media threads never touch prom-client.
 */
interface EngineSample {
  family: string;
  labels?: Labels;
  /** Multiplier to the family's base unit (ms → s). */
  scale?: number;
}
export const ENGINE_SAMPLES: Record<string, Record<string, EngineSample | null>> = {
  playback: {
    active: { family: 'msc_playbacks' },
    started: { family: 'msc_playbacks_started_total' },
    finished_done: { family: 'msc_playbacks_finished_total', labels: { reason: 'done' } },
    finished_stopped: { family: 'msc_playbacks_finished_total', labels: { reason: 'stopped' } },
    finished_barge_in: { family: 'msc_playbacks_finished_total', labels: { reason: 'barge_in' } },
    finished_error: { family: 'msc_playbacks_finished_total', labels: { reason: 'error' } },
    failed_to_start: { family: 'msc_playbacks_failed_to_start_total' },
  },
  recording: {
    active: { family: 'msc_recordings' },
    started: { family: 'msc_recordings_started_total' },
    finished: { family: 'msc_recordings_finished_total' },
    errors: { family: 'msc_recording_errors_total' },
    silentFrames: { family: 'msc_recording_silent_frames_total' },
    droppedSamples: { family: 'msc_recording_dropped_samples_total' },
  },
  amd: {
    active: { family: 'msc_amd_detections' },
    started: { family: 'msc_amd_detections_started_total' },
    human: { family: 'msc_amd_results_total', labels: { result: 'human' } },
    machine: { family: 'msc_amd_results_total', labels: { result: 'machine' } },
    notsure: { family: 'msc_amd_results_total', labels: { result: 'notsure' } },
    stopped: { family: 'msc_amd_results_total', labels: { result: 'stopped' } },
  },
  dtmf: {
    endpoints: { family: 'msc_dtmf_endpoints' },
    inbandEndpoints: { family: 'msc_dtmf_inband_endpoints' },
    rfc4733Digits: { family: 'msc_dtmf_digits_received_total', labels: { method: 'rfc4733' } },
    inbandDigits: { family: 'msc_dtmf_digits_received_total', labels: { method: 'inband' } },
    suppressed: { family: 'msc_dtmf_digits_suppressed_total' },
    sentRfc4733: { family: 'msc_dtmf_digits_sent_total', labels: { method: 'rfc4733' } },
    sentInband: { family: 'msc_dtmf_digits_sent_total', labels: { method: 'inband' } },
    eventPacketsSent: { family: 'msc_dtmf_event_packets_sent_total' },
    converted: { family: 'msc_dtmf_digits_converted_total' },
    inbandWindows: { family: 'msc_dtmf_inband_windows_total', labels: { stage: 'seen' } },
    inbandAnalysed: { family: 'msc_dtmf_inband_windows_total', labels: { stage: 'analysed' } },
    inbandMeasured: { family: 'msc_dtmf_inband_windows_total', labels: { stage: 'measured' } },
  },
  conference: {
    conferences: { family: 'msc_conferences' },
    participants: { family: 'msc_conference_participants' },
    created: { family: 'msc_conferences_created_total' },
    ended: { family: 'msc_conferences_ended_total' },
    joined: { family: 'msc_conference_joins_total' },
    left: { family: 'msc_conference_leaves_total' },
    mixes: { family: 'msc_conference_mixes_total' },
    mixCpuMs: { family: 'msc_conference_mix_cpu_seconds_total', scale: 1 / 1000 },
    // the rooms tick on the worker's media clock: msc_worker_tick_lateness_seconds says it
    tickLateP99Ms: null,
  },
  talk: {
    endpoints: { family: 'msc_talk_detect_endpoints' },
    started: { family: 'msc_talk_detect_events_total', labels: { event: 'started' } },
    stopped: { family: 'msc_talk_detect_events_total', labels: { event: 'stopped' } },
  },
  speech: {
    active: { family: 'msc_speech_recognitions' },
    started: { family: 'msc_speech_recognitions_started_total' },
    recognized: { family: 'msc_speech_recognitions_finished_total', labels: { status: 'recognized' } },
    no_input: { family: 'msc_speech_recognitions_finished_total', labels: { status: 'no_input' } },
    no_match: { family: 'msc_speech_recognitions_finished_total', labels: { status: 'no_match' } },
    error: { family: 'msc_speech_recognitions_finished_total', labels: { status: 'error' } },
    stopped: { family: 'msc_speech_recognitions_finished_total', labels: { status: 'stopped' } },
  },
  stream: {
    active: { family: 'msc_streams' },
    started: { family: 'msc_streams_started_total' },
    stopped: null,
    framesSent: { family: 'msc_stream_frames_total', labels: { direction: 'to_bot' } },
    framesReceived: { family: 'msc_stream_frames_total', labels: { direction: 'from_bot' } },
    framesDropped: { family: 'msc_stream_frames_dropped_total' },
    queueOverruns: { family: 'msc_stream_queue_overruns_total' },
    overrunSamples: null,
    connectFailures: { family: 'msc_stream_connect_failures_total' },
  },
};

/** A figure of the TTS and decode pool (`prep` in the snapshot), one sample without labels. */
const prepFamily = (
  name: string,
  type: 'gauge' | 'counter',
  help: string,
  key: keyof NonNullable<MetricsSnapshot['prep']>,
): Family => ({ name, type, help, read: single((s) => s.prep?.[key]) });

const engineFamily = (
  name: string,
  type: 'gauge' | 'counter',
  help: string,
  extraLabels: readonly string[] = [],
): Family => ({
  name,
  type,
  help,
  labels: ['worker', ...extraLabels],
  read: (s, out) => {
    for (const w of s.workers) {
      const worker = String(w.workerIndex);
      for (const [engine, values] of Object.entries(w.engines ?? {})) {
        const table = ENGINE_SAMPLES[engine];
        if (table === undefined) continue;
        for (const [key, value] of Object.entries(values)) {
          const spec = table[key];
          if (spec == null || spec.family !== name) continue;
          out(spec.labels === undefined ? { worker } : { worker, ...spec.labels }, value * (spec.scale ?? 1));
        }
      }
    }
  },
});

const ms = (v: number | undefined): number | undefined => (v === undefined ? undefined : v / 1000);

const FAMILIES: readonly Family[] = [
  { name: 'msc_endpoints', type: 'gauge', help: 'Endpoints allocated.', read: single((s) => s.endpoints) },
  { name: 'msc_bridges', type: 'gauge', help: 'Active bridges.', read: single((s) => s.bridges) },
  {
    name: 'msc_rtp_ports_available',
    type: 'gauge',
    help: 'RTP port pairs free in the pool.',
    read: single((s) => s.portsAvailable),
  },
  {
    name: 'msc_rtp_ports_capacity',
    type: 'gauge',
    help: 'RTP port pairs in the pool (RTP_PORT_START..RTP_PORT_END).',
    read: single((s) => s.portsTotal),
  },
  {
    name: 'msc_endpoints_created_total',
    type: 'counter',
    help: 'Endpoints created.',
    read: single((s) => s.counters.endpointsCreated),
  },
  {
    name: 'msc_bridges_created_total',
    type: 'counter',
    help: 'Bridges created.',
    read: single((s) => s.counters.bridgesCreated),
  },
  {
    name: 'msc_worker_restarts_total',
    type: 'counter',
    help: 'Media workers restarted after dying.',
    read: single((s) => s.counters.workerRestarts),
  },
  {
    name: 'msc_media_timeouts_total',
    type: 'counter',
    help: 'Endpoints that stopped receiving RTP.',
    read: single((s) => s.counters.mediaTimeouts),
  },
  {
    name: 'msc_events_total',
    type: 'counter',
    help: 'Events emitted on the event bus.',
    read: single((s) => s.eventSeq),
  },
  {
    name: 'msc_worker_endpoints',
    type: 'gauge',
    help: 'Endpoints per media worker.',
    labels: ['worker'],
    read: perWorker((w) => w.endpoints),
  },
  {
    name: 'msc_worker_bridges',
    type: 'gauge',
    help: 'Bridges per media worker.',
    labels: ['worker'],
    read: perWorker((w) => w.bridges),
  },
  {
    name: 'msc_rtp_packets_received_total',
    type: 'counter',
    help: 'RTP packets accepted.',
    labels: ['worker'],
    read: perWorker((w) => w.packetsReceived),
  },
  {
    name: 'msc_rtp_packets_sent_total',
    type: 'counter',
    help: 'RTP packets sent.',
    labels: ['worker'],
    read: perWorker((w) => w.packetsSent),
  },
  {
    name: 'msc_rtp_packets_relayed_total',
    type: 'counter',
    help: 'RTP packets forwarded by bridges.',
    labels: ['worker'],
    read: perWorker((w) => w.packetsRelayed),
  },
  {
    name: 'msc_rtp_packets_offloaded_total',
    type: 'counter',
    help: 'RTP packets forwarded by bridges that the native addon relayed without JavaScript (the relay offload).',
    labels: ['worker'],
    read: perWorker((w) => w.packetsOffloaded),
  },
  {
    name: 'msc_rtp_packets_offloaded_thread_total',
    type: 'counter',
    help: 'Of the offloaded RTP packets, those the native relay threads relayed (RELAY_THREADS).',
    labels: ['worker'],
    read: perWorker((w) => w.packetsOffloadedByThread),
  },
  {
    name: 'msc_rtp_packets_lost_total',
    type: 'counter',
    help: 'RTP packets lost on the way from the peers (RFC 3550 A.3).',
    labels: ['worker'],
    read: perWorker((w) => w.packetsLost),
  },
  {
    name: 'msc_rtp_packets_dropped_total',
    type: 'counter',
    help: 'Received packets dropped, by reason.',
    labels: ['worker', 'reason'],
    read: (s, out) => {
      for (const w of s.workers)
        for (const [reason, n] of Object.entries(w.dropped)) out({ worker: String(w.workerIndex), reason }, n);
    },
  },
  {
    name: 'msc_worker_event_loop_lag_p50_seconds',
    type: 'gauge',
    help: 'Event loop delay median per media worker since the previous scrape.',
    labels: ['worker'],
    read: perWorker((w) => w.eventLoopLagMs.p50 / 1000),
  },
  {
    name: 'msc_worker_event_loop_lag_p99_seconds',
    type: 'gauge',
    help: 'Event loop delay p99 per media worker since the previous scrape.',
    labels: ['worker'],
    read: perWorker((w) => w.eventLoopLagMs.p99 / 1000),
  },
  {
    name: 'msc_worker_event_loop_lag_max_seconds',
    type: 'gauge',
    help: 'Event loop delay max per media worker since the previous scrape.',
    labels: ['worker'],
    read: perWorker((w) => w.eventLoopLagMs.max / 1000),
  },
  {
    name: 'msc_worker_tick_lateness_max_seconds',
    type: 'gauge',
    help: 'Largest media clock tick lateness per worker since the previous scrape.',
    labels: ['worker'],
    read: perWorker((w) => ms(w.clock?.lateMaxMs)),
  },
  {
    name: 'msc_worker_heap_used_bytes',
    type: 'gauge',
    help: 'V8 heap in use per media worker.',
    labels: ['worker'],
    read: perWorker((w) => w.heap?.usedBytes),
  },
  {
    name: 'msc_worker_heap_total_bytes',
    type: 'gauge',
    help: 'V8 heap allocated per media worker.',
    labels: ['worker'],
    read: perWorker((w) => w.heap?.totalBytes),
  },
  {
    name: 'msc_worker_heap_limit_bytes',
    type: 'gauge',
    help: 'V8 heap size limit per media worker (its resourceLimits).',
    labels: ['worker'],
    read: perWorker((w) => w.heap?.limitBytes),
  },
  {
    name: 'msc_worker_external_memory_bytes',
    type: 'gauge',
    help: 'Memory outside the V8 heap (buffers, typed arrays) per media worker.',
    labels: ['worker'],
    read: perWorker((w) => w.heap?.externalBytes),
  },
  engineFamily('msc_streams', 'gauge', 'Media streams to bots running.'),
  engineFamily('msc_streams_started_total', 'counter', 'Media streams whose bot connected.'),
  engineFamily('msc_stream_frames_total', 'counter', 'Audio frames of media streams, to and from the bots.', [
    'direction',
  ]),
  engineFamily(
    'msc_stream_frames_dropped_total',
    'counter',
    'Call audio frames not sent to a bot because its socket was backed up.',
  ),
  engineFamily('msc_stream_queue_overruns_total', 'counter', 'Bot audio messages that did not fit the bounded queue.'),
  engineFamily('msc_stream_connect_failures_total', 'counter', 'Failed or lost bot connections.'),
  engineFamily('msc_playbacks', 'gauge', 'Playbacks running.'),
  engineFamily('msc_playbacks_started_total', 'counter', 'Playbacks started.'),
  engineFamily(
    'msc_playbacks_finished_total',
    'counter',
    'Playbacks finished, by reason (done, stopped, barge_in, error).',
    ['reason'],
  ),
  engineFamily('msc_playbacks_failed_to_start_total', 'counter', 'Playbacks whose media could not be prepared.'),
  engineFamily('msc_recordings', 'gauge', 'Recordings running.'),
  engineFamily('msc_recordings_started_total', 'counter', 'Recordings started.'),
  engineFamily('msc_recordings_finished_total', 'counter', 'Recordings finalised.'),
  engineFamily('msc_recording_errors_total', 'counter', 'Recordings that failed (encoder or disk errors).'),
  engineFamily(
    'msc_recording_silent_frames_total',
    'counter',
    'Frames recorded as silence because no audio arrived in time.',
  ),
  engineFamily('msc_recording_dropped_samples_total', 'counter', 'Samples dropped because the recorder fell behind.'),
  engineFamily('msc_amd_detections', 'gauge', 'Answering-machine detections running.'),
  engineFamily('msc_amd_detections_started_total', 'counter', 'Answering-machine detections started.'),
  engineFamily(
    'msc_amd_results_total',
    'counter',
    'Answering-machine detections ended, by result (human, machine, notsure; stopped: cancelled before a decision).',
    ['result'],
  ),
  engineFamily('msc_dtmf_endpoints', 'gauge', 'Endpoints with DTMF detection or generation.'),
  engineFamily(
    'msc_dtmf_inband_endpoints',
    'gauge',
    'Endpoints whose received audio is decoded for in-band DTMF detection now (DTMF_INBAND).',
  ),
  engineFamily(
    'msc_talk_detect_endpoints',
    'gauge',
    'Endpoints with talk detection on (enabled or used by barge-in or speech input).',
  ),
  engineFamily(
    'msc_talk_detect_events_total',
    'counter',
    'Talking started/stopped reported on endpoints with talk detection enabled.',
    ['event'],
  ),
  engineFamily('msc_speech_recognitions', 'gauge', 'Speech recognitions in progress.'),
  engineFamily('msc_speech_recognitions_started_total', 'counter', 'Speech recognitions started.'),
  engineFamily('msc_speech_recognitions_finished_total', 'counter', 'Speech recognitions ended, by status.', [
    'status',
  ]),
  engineFamily('msc_dtmf_digits_received_total', 'counter', 'DTMF digits detected, by method (rfc4733, inband).', [
    'method',
  ]),
  engineFamily(
    'msc_dtmf_digits_suppressed_total',
    'counter',
    'DTMF detections dropped as duplicates of a digit already reported.',
  ),
  engineFamily('msc_dtmf_digits_sent_total', 'counter', 'DTMF digits sent, by method (rfc4733, inband).', ['method']),
  engineFamily('msc_dtmf_event_packets_sent_total', 'counter', 'RFC 4733 event packets sent.'),
  engineFamily(
    'msc_dtmf_digits_converted_total',
    'counter',
    'DTMF digits carried across a bridge from one method to the other.',
  ),
  engineFamily(
    'msc_dtmf_inband_windows_total',
    'counter',
    'In-band DTMF analysis windows (6.4 ms) of received audio, by stage: seen, analysed (loud enough for the DFTs), measured (tone-like: full measurement).',
    ['stage'],
  ),
  engineFamily('msc_conferences', 'gauge', 'Conferences running.'),
  engineFamily('msc_conference_participants', 'gauge', 'Conference participants.'),
  engineFamily('msc_conferences_created_total', 'counter', 'Conferences created.'),
  engineFamily('msc_conferences_ended_total', 'counter', 'Conferences ended.'),
  engineFamily('msc_conference_joins_total', 'counter', 'Participants that joined a conference.'),
  engineFamily('msc_conference_leaves_total', 'counter', 'Participants that left a conference.'),
  engineFamily('msc_conference_mixes_total', 'counter', 'Conference mix cycles (one per room per 20 ms frame).'),
  engineFamily('msc_conference_mix_cpu_seconds_total', 'counter', 'CPU time spent mixing conferences.'),
  prepFamily('msc_prep_threads', 'gauge', 'Threads of the TTS and decode pool.', 'threads'),
  prepFamily('msc_prep_jobs', 'gauge', 'Syntheses and decodes running or queued in the pool.', 'jobs'),
  prepFamily(
    'msc_prep_cache_hits_total',
    'counter',
    'Prepared audio (speech, prompts, HTTP media) served from the cache.',
    'hits',
  ),
  prepFamily(
    'msc_prep_cache_misses_total',
    'counter',
    'Requests that needed a synthesis or decode (or joined one in flight).',
    'misses',
  ),
  prepFamily(
    'msc_prep_cache_coalesced_total',
    'counter',
    'Requests that joined a synthesis or decode already in flight.',
    'coalesced',
  ),
  prepFamily(
    'msc_prep_cache_evictions_total',
    'counter',
    'Entries evicted to keep the cache within TTS_CACHE_BYTES.',
    'evictions',
  ),
  prepFamily('msc_prep_cache_bytes', 'gauge', 'PCM bytes held by the cache.', 'bytes'),
  prepFamily('msc_prep_cache_entries', 'gauge', 'Entries in the cache.', 'entries'),
];

/**
 * Media clock tick lateness per worker as a Prometheus histogram. The worker keeps cumulative
 * bucket counts (plain numbers); prom-client's Histogram can only observe one value at a time,
 * so this collector hands the registry the buckets as they come.
 */
class TickLatenessHistogram {
  readonly name = 'msc_worker_tick_lateness_seconds';
  readonly help = 'How late media clock ticks ran per worker (cumulative since the worker started).';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(readonly read: () => MetricsSnapshot | null) {}

  get(): Omit<MetricObjectWithValues<MetricValue<string>>, 'collect'> {
    const values: Array<MetricValue<string> & { metricName: string }> = [];
    for (const w of this.read()?.workers ?? []) {
      const h = w.clock?.lateHistogram;
      if (h === undefined) continue;
      const worker = String(w.workerIndex);
      h.boundsMs.forEach((bound, i) => {
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { worker, le: bound / 1000 },
          value: h.counts[i] ?? 0,
        });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { worker, le: '+Inf' }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels: { worker }, value: h.sumMs / 1000 });
      values.push({ metricName: `${this.name}_count`, labels: { worker }, value: h.count });
    }
    return { name: this.name, help: this.help, type: this.type as never, values, aggregator: this.aggregator };
  }

  reset(): void {}
}

/**
 * Flow sessions by flow and outcome, counted from the bus' flow.started / flow.completed /
 * flow.failed events into plain maps (no label strings built per event); turned into samples
 * at scrape time.
 */
class FlowSessionCounts {
  readonly active = new Map<string, number>();
  /** flow → outcome → sessions ended. */
  readonly ended = new Map<string, Map<string, number>>();

  readonly onEvent = (e: ServerEvent): void => {
    const flow = e.flow;
    if (typeof flow !== 'string') return;
    if (e.type === 'flow.started') {
      this.active.set(flow, (this.active.get(flow) ?? 0) + 1);
      return;
    }
    let outcome: string;
    if (e.type === 'flow.completed') {
      const action = (e.outcome as { action?: unknown } | null | undefined)?.action;
      outcome = typeof action === 'string' ? action : 'completed';
    } else if (e.type === 'flow.failed') outcome = 'failed';
    else return;
    this.active.set(flow, Math.max(0, (this.active.get(flow) ?? 0) - 1));
    let byOutcome = this.ended.get(flow);
    if (byOutcome === undefined) this.ended.set(flow, (byOutcome = new Map()));
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  };
}

let processRegistry: Registry | null = null;

/**
 * The main process' default metrics (CPU, memory, event loop lag, GC, handles), under the
 * standard names (`process_*`, `nodejs_*`) so stock Node.js dashboards work. One registry per
 * process: they describe the process, not one MediaServer.
 */
export function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * The control plane's Prometheus metrics, registered with prom-client. Worker figures are
 * gathered once per scrape (`gather`: each worker answers worker.metrics); the collect()
 * callbacks turn that snapshot into samples. Worker counters are cumulative since the worker
 * started; a restarted worker restarts them, which rate() handles as a counter reset.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #gather: () => Promise<MetricsSnapshot>;
  #current: MetricsSnapshot | null = null;
  readonly #flows = new FlowSessionCounts();
  readonly #unsubscribe: () => void;

  constructor(gather: () => Promise<MetricsSnapshot>, bus: EventBus) {
    this.#gather = gather;
    processMetrics(); // its CPU counters count from their registration: as early as we can

    const current = () => this.#current;
    for (const f of FAMILIES) {
      const labelNames = f.labels ?? [];
      if (f.type === 'counter') {
        new Counter({
          name: f.name,
          help: f.help,
          labelNames,
          registers: [this.registry],
          collect() {
            this.reset();
            const s = current();
            if (s !== null)
              f.read(s, (labels, v) => {
                if (Number.isFinite(v) && v >= 0) this.inc(labels, v);
              });
          },
        });
      } else {
        new Gauge({
          name: f.name,
          help: f.help,
          labelNames,
          registers: [this.registry],
          collect() {
            this.reset();
            const s = current();
            if (s !== null) f.read(s, (labels, v) => this.set(labels, Number.isFinite(v) ? v : 0));
          },
        });
      }
    }
    this.registry.registerMetric(new TickLatenessHistogram(current) as unknown as Metric);
    const flows = this.#flows;
    new Counter({
      name: 'msc_flow_sessions_total',
      help: 'Flow sessions ended, by flow and outcome (hangup, transfer, completed, stopped, failed).',
      labelNames: ['flow', 'outcome'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [flow, byOutcome] of flows.ended)
          for (const [outcome, n] of byOutcome) this.inc({ flow, outcome }, n);
      },
    });
    new Gauge({
      name: 'msc_flow_sessions_active',
      help: 'Flow sessions running, by flow.',
      labelNames: ['flow'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [flow, n] of flows.active) this.set({ flow }, n);
      },
    });
    this.#unsubscribe = bus.subscribe(flows.onEvent);
  }

  /** Prometheus text exposition (format 0.0.4): ours, then the process' default metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    const snapshot = await this.#gather();
    // collect() callbacks run synchronously inside metrics(), so this scrape reads its own snapshot
    this.#current = snapshot;
    const own = await this.registry.metrics();
    this.#current = null;
    return { contentType: CONTENT_TYPE, body: own + (await processMetrics().metrics()) };
  }

  close(): void {
    this.#unsubscribe();
  }
}
