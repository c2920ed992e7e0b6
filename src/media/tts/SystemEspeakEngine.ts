import { decodeWav } from '../playback/decodeAudio.ts';
import { espeakVoice, espeakWpm, type TtsEngine, type TtsOptions, type TtsResult } from './TtsEngine.ts';
import { runProcess } from './runProcess.ts';

export interface SystemEspeakOptions {
  /** Program to run; default `espeak-ng` from PATH. */
  command?: string;
  timeoutMs?: number;
}

/**
 * The system's espeak-ng: spawned with an argument array, text on stdin (`--stdin`, `-b 1` for
 * UTF-8), WAV read from stdout (`--stdout`). No shell is involved, so text is only ever spoken.
 */
export class SystemEspeakEngine implements TtsEngine {
  readonly name: string;
  readonly #command: string;
  readonly #timeoutMs: number;

  constructor(opts: SystemEspeakOptions = {}, name = 'espeak') {
    this.name = name;
    this.#command = opts.command ?? 'espeak-ng';
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  async synthesize(text: string, opts: TtsOptions = {}): Promise<TtsResult> {
    const args = ['--stdout', '-b', '1', '-v', espeakVoice(opts), '-s', String(espeakWpm(opts.rate)), '--stdin'];
    const run: Parameters<typeof runProcess>[2] = { stdin: text, timeoutMs: this.#timeoutMs };
    if (opts.signal !== undefined) run.signal = opts.signal;
    const wav = await runProcess(this.#command, args, run);
    return decodeWav(wav);
  }
}
