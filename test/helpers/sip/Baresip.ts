import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A real softphone for the tests: baresip (Debian package) with a generated configuration, no
 * audio device and nothing but 127.0.0.1. Its microphone is a WAV file (aufile: the call ends
 * when the file does, as menu hangs up on the source's end), what it hears and what it sends are
 * dumped to WAV files by the sndfile filter, and it is driven over ctrl_tcp (netstring-framed
 * JSON commands and events).
 */

const MODULE_DIR = '/usr/lib/baresip/modules';

/** Codecs baresip offers, in the order of its default offer (m=audio ... 96 9 0 8 101). */
export const DEFAULT_CODECS = ['opus', 'g722', 'g711'] as const;

export interface BaresipOptions {
  /** S16 mono WAV at `sampleRate`, the microphone. The call ends when it ends. */
  source: string;
  /** The rate of the source and of the player (ausrc_srate/auplay_srate); baresip resamples to the codec's. */
  sampleRate: number;
  /** The account's audio_codecs, e.g. ['PCMU/8000/1']; default every codec module in DEFAULT_CODECS order. */
  codecs?: string[];
}

export interface BaresipEvent {
  type: string;
  class?: string;
  param?: string;
  peeruri?: string;
  [k: string]: unknown;
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export class Baresip {
  readonly dir: string;
  readonly #child: ChildProcess;
  #socket: net.Socket | null = null;
  #rx = Buffer.alloc(0);
  #output = '';
  #failed = false;
  readonly #exited: Promise<number | null>;
  readonly #replies: Array<(r: { ok: boolean; data: string }) => void> = [];
  readonly events: BaresipEvent[] = [];
  readonly #eventWaiters = new Set<(e: BaresipEvent) => void>();

  private constructor(dir: string, child: ChildProcess) {
    this.dir = dir;
    this.#child = child;
    const keep = (d: Buffer) => {
      this.#output = (this.#output + d.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.#exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    child.on('error', (err) => {
      this.#output += `\nbaresip could not run: ${err.message}`;
      this.#failed = true;
    });
  }

  /** Starts baresip with a configuration of its own in a temporary folder; closed after the test. */
  static async start(t: { after(fn: () => unknown): void }, opts: BaresipOptions): Promise<Baresip> {
    const dir = mkdtempSync(path.join(tmpdir(), 'msc-baresip-'));
    const dumps = path.join(dir, 'dumps');
    mkdirSync(dumps);
    const ctrlPort = await freeTcpPort();
    const config = [
      `module_path ${MODULE_DIR}`,
      'poll_method epoll',
      'sip_listen 127.0.0.1:0',
      'net_interface 127.0.0.1',
      // above Linux's ephemeral ports and the ranges test servers and peers take (libre picks at
      // random in the range and retries a port in use)
      'rtp_ports 61000-64999',
      `audio_source aufile,${opts.source}`,
      // aubridge's player pulls what was received without a sound card; sndfile writes it out
      'audio_player aubridge,nil',
      'audio_alert aubridge,nil',
      `ausrc_srate ${opts.sampleRate}`,
      `auplay_srate ${opts.sampleRate}`,
      'ausrc_channels 1',
      'auplay_channels 1',
      'statmode_default off',
      'ringback_disabled yes',
      ...DEFAULT_CODECS.map((m) => `module ${m}.so`),
      'module aufile.so',
      'module aubridge.so',
      'module sndfile.so',
      'module_tmp account.so',
      'module_app menu.so',
      'module_app ctrl_tcp.so',
      `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
      `snd_path ${dumps}`,
      '',
    ].join('\n');
    writeFileSync(path.join(dir, 'config'), config);
    const codecs = opts.codecs ? `;audio_codecs=${opts.codecs.join(',')}` : '';
    writeFileSync(path.join(dir, 'accounts'), `<sip:caller@127.0.0.1>;regint=0;answermode=manual${codecs}\n`);
    const child = spawn('baresip', ['-f', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const b = new Baresip(dir, child);
    t.after(async () => {
      await b.quit();
      rmSync(dir, { recursive: true, force: true });
    });
    await b.#connect(ctrlPort);
    return b;
  }

  /** What baresip printed (the last 20 kB), for failure messages. */
  get output(): string {
    return this.#output;
  }

  async #connect(port: number): Promise<void> {
    const until = Date.now() + 15_000;
    for (;;) {
      try {
        this.#socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (err) {
        if (this.#failed || this.#child.exitCode !== null || Date.now() > until)
          throw new Error(`baresip's ctrl_tcp did not open (${(err as Error).message}):\n${this.#output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.#socket.on('data', (d: Buffer) => this.#onData(d));
    this.#socket.on('error', () => {
      /* baresip quit: nothing more to read */
    });
  }

  /** Netstrings (`len:payload,`), each a JSON reply or event. */
  #onData(d: Buffer): void {
    this.#rx = Buffer.concat([this.#rx, d]);
    for (;;) {
      const colon = this.#rx.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.#rx.subarray(0, colon).toString());
      if (this.#rx.length < colon + 1 + len + 1) return;
      const msg = JSON.parse(this.#rx.subarray(colon + 1, colon + 1 + len).toString()) as Record<string, unknown>;
      this.#rx = this.#rx.subarray(colon + 2 + len);
      if (msg.event) {
        const e = msg as BaresipEvent;
        this.events.push(e);
        for (const w of [...this.#eventWaiters]) w(e);
      } else if (msg.response) {
        this.#replies.shift()?.({ ok: msg.ok === true, data: String(msg.data ?? '') });
      }
    }
  }

  /** Runs a command (those of the menu module: dial, hangup, hold, resume, sndcode...). */
  command(command: string, params?: string): Promise<{ ok: boolean; data: string }> {
    const json = JSON.stringify(params === undefined ? { command } : { command, params });
    const reply = new Promise<{ ok: boolean; data: string }>((resolve) => this.#replies.push(resolve));
    this.#socket!.write(`${Buffer.byteLength(json)}:${json},`);
    return reply;
  }

  /** Resolves with the first event of `type` (optionally matching `pred`) seen from index `from` of `events`. */
  waitEvent(
    type: string,
    opts: { from?: number; timeoutMs?: number; pred?: (e: BaresipEvent) => boolean } = {},
  ): Promise<BaresipEvent> {
    const match = (e: BaresipEvent) => e.type === type && (opts.pred?.(e) ?? true);
    const seen = this.events.slice(opts.from ?? 0).find(match);
    if (seen) return Promise.resolve(seen);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const waiter = (e: BaresipEvent) => {
        if (!match(e)) return;
        clearTimeout(timer);
        this.#eventWaiters.delete(waiter);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.#eventWaiters.delete(waiter);
        reject(
          new Error(
            `baresip: no ${type} within ${timeoutMs} ms (events: ${this.events.map((e) => e.type).join(', ')})\n${this.#output.slice(-3000)}`,
          ),
        );
      }, timeoutMs);
      this.#eventWaiters.add(waiter);
    });
  }

  /** Dials `uri` and resolves when the call is established (CALL_ESTABLISHED). */
  async dial(uri: string, timeoutMs = 10_000): Promise<void> {
    const from = this.events.length;
    const r = await this.command('dial', uri);
    if (!r.ok) throw new Error(`baresip dial ${uri}: ${r.data}\n${this.#output.slice(-3000)}`);
    const e = await Promise.race([
      this.waitEvent('CALL_ESTABLISHED', { from, timeoutMs }),
      this.waitEvent('CALL_CLOSED', { from, timeoutMs }),
    ]);
    if (e.type === 'CALL_CLOSED')
      throw new Error(`baresip: the call to ${uri} failed: ${e.param ?? ''}\n${this.#output.slice(-3000)}`);
  }

  /** Presses keys as RFC 4733 events, one at a time, `gapMs` apart (key down, then release). */
  async press(keys: string, gapMs = 250): Promise<void> {
    for (const k of keys) {
      const r = await this.command('sndcode', k);
      if (!r.ok) throw new Error(`baresip sndcode ${k}: ${r.data}`);
      await new Promise((res) => setTimeout(res, gapMs));
    }
  }

  /**
   * Quits baresip and waits for it to exit (closing the dump files), then returns the dumps of
   * the last call: what it heard (decoded) and what it sent (before encoding). Idempotent.
   */
  async quit(): Promise<{ heard: string | null; sent: string | null }> {
    if (!this.#failed && this.#child.exitCode === null && this.#child.signalCode === null) {
      if (this.#socket && !this.#socket.destroyed) void this.command('quit').catch(() => undefined);
      const killer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
      await this.#exited;
      clearTimeout(killer);
    }
    this.#socket?.destroy();
    const dumps = path.join(this.dir, 'dumps');
    const files = existsSync(dumps) ? readdirSync(dumps).sort() : [];
    const last = (suffix: string) => {
      const f = files.filter((n) => n.endsWith(suffix)).at(-1);
      return f ? path.join(dumps, f) : null;
    };
    return { heard: last('-dec.wav'), sent: last('-enc.wav') };
  }
}
