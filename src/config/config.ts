import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ValidationError } from '../common/errors.ts';
import { MAX_LATCH_PACKETS } from '../protocol/endpoint.ts';
import { parseWebhookSecret } from '../common/WebhookSigner.ts';
import { parseDestinationList } from '../common/net/DestinationPolicy.ts';

/** Everything the server needs to start; every field has an embedded default. */
export interface Config {
  apiHost: string;
  apiPort: number;
  /** When set, every API request needs `Authorization: Bearer <token>`. */
  apiToken: string | null;
  /** Allows binding the API to a non-loopback address without a token (explicit opt-in). */
  allowInsecureApi: boolean;
  grpcPort: number | null;
  /** DRAIN_TIMEOUT_MS: how long a drain (SIGTERM) lets calls in progress go on before closing them. */
  drainTimeoutMs: number;
  /** METRICS_PORT: a listener serving /metrics, /ready and /health without the token; null: off. */
  metricsPort: number | null;
  /** METRICS_HOST: its address (default API_HOST). */
  metricsHost: string;
  rtpPortStart: number;
  rtpPortEnd: number;
  rtpBindIp: string;
  /**
   * PUBLIC_IP: the address written into SDP (c=) as it is (1:1 NAT). When null, SDP announces
   * RTP_BIND_IP, or for a wildcard bind the interface routing to the peer (control/LocalAddress).
   */
  publicIp: string | null;
  mediaWorkers: number;
  flowsDir: string;
  promptsDir: string;
  recordingsDir: string;
  logLevel: string;
  /** No RTP for this long on an active endpoint emits `endpoint.media_timeout`. 0 disables. */
  mediaTimeoutMs: number;
  /** Codec preference for offers and answers. */
  codecs: string[];
  eventBufferSize: number;
  webhookUrl: string | null;
  /** Media (and HTTP TTS) fetches: destinations allowed despite the default and listed denials. */
  mediaFetchAllow: string[];
  /** Media fetches: destinations refused on top of the defaults (loopback, link-local, metadata...). */
  mediaFetchDeny: string[];
  /** Flow `http` steps: destinations allowed despite the default and listed denials. */
  flowHttpAllow: string[];
  /** Flow `http` steps: refused on top of the defaults (link-local, metadata...; loopback is allowed). */
  flowHttpDeny: string[];
  /** Signs webhook requests (Standard Webhooks): `whsec_<base64>` or a raw secret of 16+ bytes. */
  webhookSecret: string | null;
  /** Accept RTP/RTCP only from the SDP's address (no symmetric-RTP latching). */
  strictSource: boolean;
  /** Consecutive in-sequence packets a source other than the SDP's address needs to latch (NAT). */
  latchPackets: number;
  /**
   * In-band DTMF detection default: 'auto' (peers without telephone-event, while something consumes
   * their digits), 'plain' (peers without telephone-event, always), 'on' (every endpoint), 'off'.
   */
  dtmfInband: 'auto' | 'plain' | 'on' | 'off';
  /**
   * What an idle endpoint (remote known, not on hold, not bridged, nothing playing) sends so RTP
   * inactivity timers never fire: 'cn' comfort noise where CN was negotiated, else encoded
   * silence; 'silence' encoded silence always; 'off' nothing.
   */
  silenceFill: 'cn' | 'silence' | 'off';
  /**
   * UDP I/O of the RTP/RTCP sockets: 'native' the batched addon (recvmmsg/sendmmsg, built at
   * install when a compiler is present), 'dgram' Node's dgram, 'auto' native when it was built.
   */
  udpIo: 'auto' | 'native' | 'dgram';
  /**
   * The relay offload (native I/O only): a same-codec bridge's packets are relayed inside the
   * addon without a JavaScript call while nothing listens to them. Off: every packet through
   * JavaScript, as with dgram.
   */
  relayOffload: boolean;
  /**
   * RELAY_THREADS (default: the CPU count, at most 16; 0 = none): what the relay offload relays
   * is read and sent by this many native threads of the process (shared by all media workers)
   * instead of the workers' event loops: no JavaScript, no garbage collection, no other socket of
   * the worker in its way. The counterpart of rtpengine's --num-threads.
   */
  relayThreads: number;
  /** Threads of the TTS and decode pool (speech, prompt and HTTP media decoding), shared by all media workers. */
  ttsThreads: number;
  /** Bound of the pool's cache of prepared audio (speech, decoded prompts, HTTP media), bytes. */
  ttsCacheBytes: number;
  /** ws:// or wss:// speech recogniser for flows' speech input (README, "Speech recognisers"); null: none. */
  speechRecognizerUrl: string | null;
  /** REDIS_URL and the cluster settings; null: this instance stands alone (the embedded default). */
  cluster: ClusterConfig | null;
}

/** A cluster of instances sharing one Redis (src/cluster/). */
export interface ClusterConfig {
  /** REDIS_URL, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS). */
  redisUrl: string;
  /** CLUSTER_NAME: the key prefix (`msc:<name>:`), so clusters can share one Redis. */
  name: string;
  /** INSTANCE_ID: this instance's id in the cluster (default: host name, pid and a random suffix). */
  instanceId: string;
  /** CLUSTER_HEARTBEAT_MS: how often the member record is refreshed. */
  heartbeatMs: number;
  /** CLUSTER_MEMBER_TTL_MS: a member silent for this long is lost (failover). */
  memberTtlMs: number;
  /**
   * ADVERTISE_API_URL: where the other instances reach this one's REST API (forwarding); default
   * http://<PUBLIC_IP or RTP_BIND_IP or API_HOST>:<API_PORT>.
   */
  advertiseApiUrl: string | null;
  /** ADVERTISE_GRPC_URL: host:port of this instance's gRPC for forwarded gRPC calls; default from the same host and GRPC_PORT. */
  advertiseGrpcUrl: string | null;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const DEFAULT_CODECS = ['pcmu', 'pcma', 'g722', 'opus', 'telephone-event'];

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim()))
    throw new ValidationError('INVALID_CONFIG', `${name} must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max)
    throw new ValidationError('INVALID_CONFIG', `${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], def: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!(values as readonly string[]).includes(raw)) {
    throw new ValidationError('INVALID_CONFIG', `${name} must be one of ${values.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function wsUrl(env: Env, name: string): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ValidationError('INVALID_CONFIG', `${name} must be a ws:// or wss:// URL, got "${raw}"`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
    throw new ValidationError('INVALID_CONFIG', `${name} must be a ws:// or wss:// URL, got "${raw}"`);
  return url.href;
}

function bool(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  return raw === '1' || raw === 'true' || raw === 'yes';
}

function ipv4(env: Env, name: string, def: string): string {
  const raw = env[name] ?? def;
  if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(raw) || raw.split('.').some((p) => Number(p) > 255)) {
    throw new ValidationError('INVALID_CONFIG', `${name} must be an IPv4 address, got "${raw}"`);
  }
  return raw;
}

function webhookSecret(env: Env): string | null {
  const raw = env.WEBHOOK_SECRET;
  if (raw === undefined || raw === '') return null;
  parseWebhookSecret(raw); // refuses a short or malformed secret at start, not at the first event
  return raw;
}

/** Builds the configuration from environment variables over the embedded defaults. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const rtpBindIp = ipv4(env, 'RTP_BIND_IP', '127.0.0.1');
  const rtpPortStart = int(env, 'RTP_PORT_START', 10000, 1024, 65534);
  const rtpPortEnd = int(env, 'RTP_PORT_END', 10999, 1025, 65535);
  if (rtpPortEnd <= rtpPortStart) {
    throw new ValidationError(
      'INVALID_CONFIG',
      `RTP_PORT_END (${rtpPortEnd}) must be above RTP_PORT_START (${rtpPortStart})`,
    );
  }
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ValidationError('INVALID_CONFIG', `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const codecs = env.CODECS
    ? env.CODECS.split(',')
        .map((c) => c.trim().toLowerCase())
        .filter(Boolean)
    : DEFAULT_CODECS;
  const grpcRaw = env.GRPC_PORT;
  return {
    apiHost: env.API_HOST ?? '127.0.0.1',
    apiPort: int(env, 'API_PORT', 8080, 0, 65535),
    apiToken: env.API_TOKEN ? env.API_TOKEN : null,
    allowInsecureApi: bool(env, 'ALLOW_INSECURE_API'),
    grpcPort: grpcRaw === undefined || grpcRaw === '' ? null : int(env, 'GRPC_PORT', 0, 0, 65535),
    drainTimeoutMs: int(env, 'DRAIN_TIMEOUT_MS', 120_000, 0, 86_400_000),
    metricsPort:
      env.METRICS_PORT === undefined || env.METRICS_PORT === '' ? null : int(env, 'METRICS_PORT', 0, 0, 65535),
    metricsHost: env.METRICS_HOST || (env.API_HOST ?? '127.0.0.1'),
    rtpPortStart,
    rtpPortEnd,
    rtpBindIp,
    publicIp: env.PUBLIC_IP ? ipv4(env, 'PUBLIC_IP', rtpBindIp) : null,
    mediaWorkers: int(env, 'MEDIA_WORKERS', Math.max(1, os.availableParallelism()), 1, 256),
    flowsDir: path.resolve(cwd, env.FLOWS_DIR ?? 'flows'),
    promptsDir: path.resolve(cwd, env.PROMPTS_DIR ?? 'prompts'),
    recordingsDir: path.resolve(cwd, env.RECORDINGS_DIR ?? 'recordings'),
    logLevel,
    mediaTimeoutMs: int(env, 'MEDIA_TIMEOUT_MS', 30_000, 0, 3_600_000),
    codecs,
    eventBufferSize: int(env, 'EVENT_BUFFER_SIZE', 10_000, 100, 10_000_000),
    webhookUrl: env.WEBHOOK_URL ? env.WEBHOOK_URL : null,
    webhookSecret: webhookSecret(env),
    mediaFetchAllow: parseDestinationList(env.MEDIA_FETCH_ALLOW, 'MEDIA_FETCH_ALLOW'),
    mediaFetchDeny: parseDestinationList(env.MEDIA_FETCH_DENY, 'MEDIA_FETCH_DENY'),
    flowHttpAllow: parseDestinationList(env.FLOW_HTTP_ALLOW, 'FLOW_HTTP_ALLOW'),
    flowHttpDeny: parseDestinationList(env.FLOW_HTTP_DENY, 'FLOW_HTTP_DENY'),
    strictSource: bool(env, 'RTP_STRICT_SOURCE'),
    latchPackets: int(env, 'RTP_LATCH_PACKETS', 4, 1, MAX_LATCH_PACKETS),
    dtmfInband: oneOf(env, 'DTMF_INBAND', ['auto', 'plain', 'on', 'off'] as const, 'auto'),
    silenceFill: oneOf(env, 'SILENCE_FILL', ['cn', 'silence', 'off'] as const, 'cn'),
    udpIo: oneOf(env, 'UDP_IO', ['auto', 'native', 'dgram'] as const, 'auto'),
    relayOffload: oneOf(env, 'RELAY_OFFLOAD', ['on', 'off'] as const, 'on') === 'on',
    relayThreads: int(env, 'RELAY_THREADS', Math.min(16, Math.max(1, os.availableParallelism())), 0, 16),
    ttsThreads: int(env, 'TTS_THREADS', os.availableParallelism() >= 4 ? 2 : 1, 1, 64),
    ttsCacheBytes: int(env, 'TTS_CACHE_BYTES', 64 * 1024 * 1024, 1024 * 1024, 2 ** 40),
    speechRecognizerUrl: wsUrl(env, 'SPEECH_RECOGNIZER_URL'),
    cluster: clusterConfig(env),
  };
}

function clusterConfig(env: Env): ClusterConfig | null {
  const redisUrl = env.REDIS_URL;
  if (redisUrl === undefined || redisUrl === '') return null;
  if (!/^rediss?:\/\//.test(redisUrl)) {
    throw new ValidationError('INVALID_CONFIG', `REDIS_URL must be a redis:// or rediss:// URL, got "${redisUrl}"`);
  }
  const name = env.CLUSTER_NAME || 'default';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    throw new ValidationError('INVALID_CONFIG', `CLUSTER_NAME must be 1-64 of A-Z a-z 0-9 _ . -, got "${name}"`);
  }
  const instanceId = env.INSTANCE_ID || `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(instanceId)) {
    throw new ValidationError('INVALID_CONFIG', `INSTANCE_ID must be 1-128 of A-Z a-z 0-9 _ . -, got "${instanceId}"`);
  }
  const heartbeatMs = int(env, 'CLUSTER_HEARTBEAT_MS', 1000, 50, 60_000);
  const memberTtlMs = int(env, 'CLUSTER_MEMBER_TTL_MS', 5000, 200, 600_000);
  if (memberTtlMs < 2 * heartbeatMs) {
    throw new ValidationError(
      'INVALID_CONFIG',
      `CLUSTER_MEMBER_TTL_MS (${memberTtlMs}) must be at least twice CLUSTER_HEARTBEAT_MS (${heartbeatMs})`,
    );
  }
  return {
    redisUrl,
    name,
    instanceId,
    heartbeatMs,
    memberTtlMs,
    advertiseApiUrl: env.ADVERTISE_API_URL || null,
    advertiseGrpcUrl: env.ADVERTISE_GRPC_URL || null,
  };
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

/** Refuses an API reachable from the network without a token, unless explicitly allowed. */
export function assertSafeApiBinding(config: Config): void {
  if (!config.apiToken && !LOOPBACK.test(config.apiHost) && !config.allowInsecureApi) {
    throw new ValidationError(
      'INSECURE_API',
      `API_HOST=${config.apiHost} is not a loopback address and API_TOKEN is not set; set API_TOKEN, or ALLOW_INSECURE_API=1 to run without one`,
    );
  }
}
