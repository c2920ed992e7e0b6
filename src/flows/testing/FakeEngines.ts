/**
 * FlowEngines without media: playback and TTS take a simulated duration on the clock, DTMF and
 * hangups are injected by the test (or a `flows test` script), recordings end on terminator,
 * silence, max duration or hangup, HTTP answers from a table or a real fetch. Every call is
 * logged so tests can assert what the caller would have heard, and counters show that stopping a
 * step really stopped its playback or recording.
 */
import { AMD_FRAME_MS, AmdDecision } from '../../common/AmdDecision.ts';
import type { AmdParameters } from '../../common/amdParameters.ts';
import type {
  AmdResult,
  ConferenceOptions,
  FlowClock,
  FlowEngines,
  HttpFetcher,
  HttpRequest,
  HttpResponse,
  LeaveResult,
  PlayOptions,
  PlayResult,
  RecognizeOptions,
  RecognizeResult,
  RecordOptions,
  RecordResult,
  SayOptions,
  StreamStepOptions,
  StreamStepResult,
} from '../FlowEngines.ts';
import { ManualClock } from './ManualClock.ts';

export interface FakeCall {
  kind: 'play' | 'say' | 'record' | 'amd' | 'conference' | 'bridge' | 'stream' | 'hangup' | 'recognize';
  endpointId: string;
  at: number;
  /** play: items; say: [text]; record: [path]; amd: [detail]; conference: [room]; bridge: [target]; stream: [url]; recognize: [transcript]. */
  args: string[];
  endedAt: number | null;
  /** Why it ended: finished/dtmf/speech/stopped/hangup, the record cause, the amd result, or the recognition status. */
  result: string | null;
}

export interface HttpRule {
  method?: string;
  /** Exact URL, or a prefix when it ends with '*'. */
  url: string;
  /** Answers in turn (the last repeats): status/body, or a failure kind. */
  responses: Array<{
    status?: number;
    body?: unknown;
    headers?: Record<string, string>;
    fail?: 'timeout' | 'error';
    delay_ms?: number;
  }>;
}

/**
 * A scripted voice bot for `stream` steps: the first rule whose url matches (exact, or a prefix
 * ending with '*') answers after `after_ms` (default 1000) of simulated conversation with its
 * `result` (reason result), or closes (reason bot_closed), or could not be reached (`fail`).
 */
export interface BotRule {
  url: string;
  after_ms?: number;
  result?: Record<string, unknown>;
  close?: boolean;
  fail?: boolean;
}

/** What a stream step sent to a scripted bot: its options and the digits forwarded to it. */
export interface FakeStream {
  endpointId: string;
  options: StreamStepOptions;
  digits: string;
}

export interface FakeEnginesOptions {
  clock?: FlowClock;
  /** Duration of one media item in ms (default: prompts 1500, tts 70/char, tone 500, digits 100/digit). */
  durationOf?: (item: string) => number;
  http?: HttpRule[] | HttpFetcher;
  /** Scripted bots of `stream` steps. */
  bots?: BotRule[];
}

interface Endpoint {
  dtmf: Set<(d: string) => void>;
  hangup: Set<(c: string) => void>;
  gone: boolean;
  /** Caller speaks until this time (for silence detection in recordings). */
  talkingUntil: number;
  /** Stops of active operations, run on hangup. */
  active: Set<(why: 'hangup') => void>;
  /** Playbacks with barge-in on speech and recognitions, told when the caller starts talking. */
  talkStart: Set<() => void>;
  /** What the caller says, until a recognition takes it. */
  utterance: { transcript: string; confidence: number; endsAt: number } | null;
}

/** Silence after talk that ends an utterance (the talk detector's default release). */
export const FAKE_END_OF_SPEECH_MS = 600;

export function defaultDuration(item: string): number {
  const [kind, ...rest] = item.split(':');
  const arg = rest.join(':');
  switch (kind) {
    case 'silence':
      return Number(arg) || 0;
    case 'tone':
      return Number(arg.split(':')[1]) || 500;
    case 'digits':
      return arg.length * 100;
    case 'tts':
      return Math.max(300, arg.length * 70);
    default:
      return 1500;
  }
}

export class FakeEngines implements FlowEngines {
  readonly clock: FlowClock;
  readonly calls: FakeCall[] = [];
  readonly requests: Array<{
    method: string;
    url: string;
    headers: Record<string, string>;
    body: string | undefined;
    at: number;
  }> = [];
  readonly http: HttpFetcher;
  readonly streams: FakeStream[] = [];
  readonly #bots: BotRule[];
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #durationOf: (item: string) => number;
  readonly #rules: HttpRule[];
  readonly #ruleHits = new Map<HttpRule, number>();
  #activePlaybacks = 0;
  #activeRecordings = 0;
  #activeMembership = 0;

  constructor(opts: FakeEnginesOptions = {}) {
    this.clock = opts.clock ?? new ManualClock();
    this.#durationOf = opts.durationOf ?? defaultDuration;
    this.#rules = Array.isArray(opts.http) ? opts.http : [];
    this.#bots = opts.bots ?? [];
    this.http = typeof opts.http === 'function' ? this.#logging(opts.http) : (req) => this.#answer(req);
  }

  get activePlaybacks(): number {
    return this.#activePlaybacks;
  }
  get activeRecordings(): number {
    return this.#activeRecordings;
  }
  get activeMemberships(): number {
    return this.#activeMembership;
  }
  get dtmfListeners(): number {
    let n = 0;
    for (const e of this.#endpoints.values()) n += e.dtmf.size;
    return n;
  }

  #ep(id: string): Endpoint {
    let e = this.#endpoints.get(id);
    if (!e) {
      e = {
        dtmf: new Set(),
        hangup: new Set(),
        gone: false,
        talkingUntil: 0,
        active: new Set(),
        talkStart: new Set(),
        utterance: null,
      };
      this.#endpoints.set(id, e);
    }
    return e;
  }

  // ---- driving the caller ----

  /** The caller presses keys (one event per digit, in order). */
  sendDtmf(endpointId: string, digits: string): void {
    const e = this.#ep(endpointId);
    if (e.gone) return;
    for (const d of digits) for (const cb of [...e.dtmf]) cb(d);
  }

  /** The caller talks for `ms` from now (recordings see no silence meanwhile). */
  talk(endpointId: string, ms: number): void {
    const e = this.#ep(endpointId);
    e.talkingUntil = Math.max(e.talkingUntil, this.clock.now() + ms);
  }

  /**
   * The caller says something that a recogniser would transcribe as `transcript` ('' for words
   * it cannot make out), talking for `ms` from now: barge-in on speech stops a prompt, a
   * recognition (now or starting while the talk goes on) gets it once the talk has ended.
   */
  speak(endpointId: string, transcript: string, ms = 1000, confidence = 0.9): void {
    const e = this.#ep(endpointId);
    if (e.gone) return;
    this.talk(endpointId, ms);
    e.utterance = { transcript, confidence, endsAt: this.clock.now() + ms };
    for (const cb of [...e.talkStart]) cb();
  }

  /** The caller hangs up: active operations end with cause hangup, then listeners hear it. */
  hangupCaller(endpointId: string, cause = 'caller_hangup'): void {
    const e = this.#ep(endpointId);
    if (e.gone) return;
    e.gone = true;
    for (const stop of [...e.active]) stop('hangup');
    for (const cb of [...e.hangup]) cb(cause);
  }

  // ---- FlowEngines ----

  play(endpointId: string, items: readonly string[], opts: PlayOptions): Promise<PlayResult> {
    return this.#playLike(
      'play',
      endpointId,
      [...items],
      items.reduce((a, i) => a + this.#durationOf(i), 0),
      opts,
    );
  }

  say(endpointId: string, text: string, opts: SayOptions): Promise<PlayResult> {
    return this.#playLike('say', endpointId, [text], this.#durationOf(`tts:${text}`), opts);
  }

  #playLike(
    kind: 'play' | 'say',
    endpointId: string,
    args: string[],
    ms: number,
    opts: PlayOptions,
  ): Promise<PlayResult> {
    const e = this.#ep(endpointId);
    if (e.gone) return Promise.reject(new Error(`endpoint ${endpointId} is gone`));
    const call: FakeCall = { kind, endpointId, at: this.clock.now(), args, endedAt: null, result: null };
    this.calls.push(call);
    this.#activePlaybacks++;
    return new Promise((resolve) => {
      const finish = (reason: PlayResult['reason'], digit?: string): void => {
        if (call.endedAt !== null) return;
        call.endedAt = this.clock.now();
        call.result = reason;
        this.#activePlaybacks--;
        this.clock.clearTimeout(timer);
        e.dtmf.delete(onDigit);
        e.talkStart.delete(onTalk);
        e.active.delete(finish as (w: 'hangup') => void);
        opts.signal.removeEventListener('abort', onAbort);
        resolve(digit === undefined ? { reason } : { reason, digit });
      };
      const onDigit = (d: string): void => {
        if (opts.bargeIn) finish('dtmf', d);
      };
      const onTalk = (): void => {
        if (opts.bargeInSpeech === true) finish('speech');
      };
      const onAbort = (): void => finish('stopped');
      const timer = this.clock.setTimeout(() => finish('finished'), ms);
      e.dtmf.add(onDigit);
      e.talkStart.add(onTalk);
      e.active.add(finish as (w: 'hangup') => void);
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Answering-machine detection over the scripted caller: every 20 ms of the clock is a voice
   * frame while the caller talks (talk()), else a silent one, decided by the same rules as the
   * media worker's detector (common/AmdDecision.ts). A hangup leaves it unsettled (the contract).
   */
  amd(endpointId: string, parameters: Partial<AmdParameters>, signal: AbortSignal): Promise<AmdResult> {
    const e = this.#ep(endpointId);
    if (e.gone) return Promise.reject(new Error(`endpoint ${endpointId} is gone`));
    const call: FakeCall = { kind: 'amd', endpointId, at: this.clock.now(), args: [], endedAt: null, result: null };
    this.calls.push(call);
    const decision = new AmdDecision(parameters);
    return new Promise((resolve, reject) => {
      let timer: unknown = null;
      const end = (result: string): void => {
        call.endedAt = this.clock.now();
        call.result = result;
        if (timer !== null) this.clock.clearTimeout(timer);
        e.active.delete(onHangup);
        signal.removeEventListener('abort', onAbort);
      };
      const onHangup = (): void => end('hangup');
      const onAbort = (): void => {
        end('stopped');
        reject(signal.reason);
      };
      const tick = (): void => {
        // the frame that just went by: voice when the caller was talking during it
        const r = decision.frame(e.talkingUntil < this.clock.now()) ? decision.result : null;
        if (r === null) {
          timer = this.clock.setTimeout(tick, AMD_FRAME_MS);
          return;
        }
        timer = null;
        call.args = [r.detail];
        end(r.status);
        resolve({
          result: r.status,
          cause: r.cause,
          detail: r.detail,
          analysedMs: r.analysedMs,
          voiceMs: r.voiceMs,
          words: r.words,
        });
      };
      timer = this.clock.setTimeout(tick, AMD_FRAME_MS);
      e.active.add(onHangup);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A recognition: the caller's utterance (said with speak(), still going on or starting within
   * noInputMs) ends FAKE_END_OF_SPEECH_MS after the talk; an empty transcript is a no_match.
   */
  recognize(endpointId: string, opts: RecognizeOptions, signal: AbortSignal): Promise<RecognizeResult> {
    const e = this.#ep(endpointId);
    if (e.gone) return Promise.reject(new Error(`endpoint ${endpointId} is gone`));
    const call: FakeCall = {
      kind: 'recognize',
      endpointId,
      at: this.clock.now(),
      args: [],
      endedAt: null,
      result: null,
    };
    this.calls.push(call);
    return new Promise((resolve) => {
      let timer: unknown = null;
      const finish = (r: RecognizeResult): void => {
        if (call.endedAt !== null) return;
        call.endedAt = this.clock.now();
        call.result = r.status;
        if (r.status !== 'no_input') call.args = [r.transcript];
        if (timer !== null) this.clock.clearTimeout(timer);
        e.talkStart.delete(onTalk);
        e.active.delete(onHangup);
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const heard = (): void => {
        const u = e.utterance;
        if (u === null) return;
        e.utterance = null;
        if (timer !== null) this.clock.clearTimeout(timer);
        const talk = Math.min(u.endsAt - this.clock.now(), opts.maxSpeechMs);
        timer = this.clock.setTimeout(
          () =>
            finish(
              u.transcript === ''
                ? { status: 'no_match', transcript: '', confidence: 0 }
                : { status: 'recognized', transcript: u.transcript, confidence: u.confidence },
            ),
          Math.max(0, talk) + FAKE_END_OF_SPEECH_MS,
        );
      };
      const onTalk = (): void => heard();
      const onHangup = (): void => finish({ status: 'no_input', transcript: '', confidence: 0 });
      const onAbort = (): void => finish({ status: 'no_input', transcript: '', confidence: 0 });
      e.talkStart.add(onTalk);
      e.active.add(onHangup);
      // Talk already under way (it barged in on the prompt) is this utterance.
      if (e.utterance !== null && e.utterance.endsAt > this.clock.now()) heard();
      else {
        e.utterance = null;
        timer = this.clock.setTimeout(
          () => finish({ status: 'no_input', transcript: '', confidence: 0 }),
          opts.noInputMs,
        );
      }
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  record(endpointId: string, opts: RecordOptions, signal: AbortSignal): Promise<RecordResult> {
    const e = this.#ep(endpointId);
    if (e.gone) return Promise.reject(new Error(`endpoint ${endpointId} is gone`));
    const path = opts.path ?? `recordings/${endpointId}-${this.calls.length}.${opts.format}`;
    const call: FakeCall = {
      kind: 'record',
      endpointId,
      at: this.clock.now(),
      args: [path],
      endedAt: null,
      result: null,
    };
    this.calls.push(call);
    this.#activeRecordings++;
    const beepMs = opts.beep ? 200 : 0;
    const startAt = this.clock.now() + beepMs;
    return new Promise((resolve) => {
      let silenceTimer: unknown = null;
      const finish = (cause: RecordResult['cause'], digit?: string): void => {
        if (call.endedAt !== null) return;
        call.endedAt = this.clock.now();
        call.result = cause;
        this.#activeRecordings--;
        this.clock.clearTimeout(maxTimer);
        if (silenceTimer !== null) this.clock.clearTimeout(silenceTimer);
        e.dtmf.delete(onDigit);
        e.active.delete(onHangup);
        signal.removeEventListener('abort', onAbort);
        const end = cause === 'silence' ? Math.min(this.clock.now(), quietFrom()) : this.clock.now();
        const r: RecordResult = { path, durationMs: Math.max(0, end - startAt), cause };
        if (digit !== undefined) r.digit = digit;
        resolve(r);
      };
      const onDigit = (d: string): void => {
        if (opts.terminators.includes(d)) finish('terminator', d);
      };
      const onHangup = (): void => finish('hangup');
      const onAbort = (): void => finish('stopped');
      const maxTimer = this.clock.setTimeout(() => finish('max_duration'), beepMs + opts.maxDurationMs);
      // Silence detection: re-armed while the caller is talking; the trailing silence is trimmed.
      const quietFrom = (): number => Math.max(e.talkingUntil, startAt);
      const armSilence = (): void => {
        if (opts.silenceTimeoutMs <= 0) return;
        silenceTimer = this.clock.setTimeout(
          () => {
            const quiet = quietFrom();
            if (quiet + opts.silenceTimeoutMs > this.clock.now()) armSilence();
            else finish('silence');
          },
          Math.max(1, quietFrom() + opts.silenceTimeoutMs - this.clock.now()),
        );
      };
      armSilence();
      e.dtmf.add(onDigit);
      e.active.add(onHangup);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  joinConference(
    endpointId: string,
    room: string,
    _opts: ConferenceOptions,
    signal: AbortSignal,
  ): Promise<LeaveResult> {
    return this.#membership('conference', endpointId, room, signal);
  }

  bridge(
    endpointId: string,
    target: string,
    _opts: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<LeaveResult> {
    return this.#membership('bridge', endpointId, target, signal);
  }

  #membership(
    kind: 'conference' | 'bridge',
    endpointId: string,
    arg: string,
    signal: AbortSignal,
  ): Promise<LeaveResult> {
    const e = this.#ep(endpointId);
    if (e.gone) return Promise.reject(new Error(`endpoint ${endpointId} is gone`));
    const call: FakeCall = { kind, endpointId, at: this.clock.now(), args: [arg], endedAt: null, result: null };
    this.calls.push(call);
    this.#activeMembership++;
    return new Promise((resolve) => {
      const finish = (reason: LeaveResult['reason']): void => {
        if (call.endedAt !== null) return;
        call.endedAt = this.clock.now();
        call.result = reason;
        this.#activeMembership--;
        e.active.delete(onHangup);
        signal.removeEventListener('abort', onAbort);
        resolve({ reason });
      };
      const onHangup = (): void => finish('hangup');
      const onAbort = (): void => finish('stopped');
      e.active.add(onHangup);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A `stream` step's bot (scripted by `bots`): counts as a membership while it talks; digits
   * pressed meanwhile are forwarded to it (FakeStream.digits), a hang-up ends it.
   */
  stream(endpointId: string, options: StreamStepOptions, signal: AbortSignal): Promise<StreamStepResult> {
    const e = this.#ep(endpointId);
    if (e.gone) return Promise.reject(new Error(`endpoint ${endpointId} is gone`));
    const rule = this.#bots.find((b) =>
      b.url.endsWith('*') ? options.url.startsWith(b.url.slice(0, -1)) : b.url === options.url,
    );
    const call: FakeCall = {
      kind: 'stream',
      endpointId,
      at: this.clock.now(),
      args: [options.url],
      endedAt: null,
      result: null,
    };
    this.calls.push(call);
    const record: FakeStream = { endpointId, options, digits: '' };
    this.streams.push(record);
    this.#activeMembership++;
    return new Promise((resolve) => {
      const onDigit = (d: string): void => {
        record.digits += d;
      };
      e.dtmf.add(onDigit);
      let timer: unknown = null;
      const finish = (r: StreamStepResult): void => {
        if (call.endedAt !== null) return;
        call.endedAt = this.clock.now();
        call.result = r.reason;
        this.#activeMembership--;
        e.active.delete(onHangup);
        e.dtmf.delete(onDigit);
        if (timer !== null) this.clock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const onHangup = (): void => finish({ reason: 'hangup' });
      const onAbort = (): void => finish({ reason: 'stopped' });
      e.active.add(onHangup);
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      // No rule: a bot nobody scripted cannot be reached.
      if (rule === undefined || rule.fail === true) {
        timer = this.clock.setTimeout(() => finish({ reason: 'error' }), rule?.after_ms ?? 0);
        return;
      }
      timer = this.clock.setTimeout(
        () =>
          finish(
            rule.result !== undefined && rule.close !== true
              ? { reason: 'result', result: rule.result }
              : { reason: 'bot_closed' },
          ),
        rule.after_ms ?? 1000,
      );
    });
  }

  /** Ends every membership (conference ended, bridge peer hung up) of an endpoint. */
  endMembership(endpointId: string): void {
    const e = this.#ep(endpointId);
    for (const stop of [...e.active]) stop('hangup');
  }

  async hangup(endpointId: string, cause: string): Promise<void> {
    const e = this.#ep(endpointId);
    this.calls.push({
      kind: 'hangup',
      endpointId,
      at: this.clock.now(),
      args: [cause],
      endedAt: this.clock.now(),
      result: cause,
    });
    if (e.gone) return;
    e.gone = true;
    for (const stop of [...e.active]) stop('hangup');
    for (const cb of [...e.hangup]) cb(cause);
  }

  onDtmf(endpointId: string, cb: (digit: string) => void): () => void {
    const e = this.#ep(endpointId);
    e.dtmf.add(cb);
    return () => {
      e.dtmf.delete(cb);
    };
  }

  onHangup(endpointId: string, cb: (cause: string) => void): () => void {
    const e = this.#ep(endpointId);
    e.hangup.add(cb);
    return () => {
      e.hangup.delete(cb);
    };
  }

  endpointExists(endpointId: string): boolean {
    return !this.#ep(endpointId).gone;
  }

  // ---- HTTP ----

  #logging(inner: HttpFetcher): HttpFetcher {
    return (req) => {
      this.requests.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: req.body,
        at: this.clock.now(),
      });
      return inner(req);
    };
  }

  #answer(req: HttpRequest): Promise<HttpResponse> {
    this.requests.push({
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: req.body,
      at: this.clock.now(),
    });
    const rule = this.#rules.find(
      (r) =>
        (r.method === undefined || r.method.toUpperCase() === req.method) &&
        (r.url.endsWith('*') ? req.url.startsWith(r.url.slice(0, -1)) : r.url === req.url),
    );
    if (!rule) return Promise.resolve({ status: 404, headers: {}, body: 'no rule in the test script' });
    const hit = this.#ruleHits.get(rule) ?? 0;
    this.#ruleHits.set(rule, hit + 1);
    const r = rule.responses[Math.min(hit, rule.responses.length - 1)] ?? { status: 200 };
    return new Promise((resolve, reject) => {
      const respond = (): void => {
        req.signal.removeEventListener('abort', onAbort);
        if (r.fail === 'error') {
          reject(new Error('connection refused'));
          return;
        }
        const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? {});
        resolve({
          status: r.status ?? 200,
          headers: { 'content-type': typeof r.body === 'string' ? 'text/plain' : 'application/json', ...r.headers },
          body,
        });
      };
      const onAbort = (): void => {
        this.clock.clearTimeout(t);
        reject(new Error('aborted'));
      };
      // A 'timeout' answer never comes: the step's timeout aborts it.
      const t = r.fail === 'timeout' ? null : this.clock.setTimeout(respond, r.delay_ms ?? 0);
      req.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
