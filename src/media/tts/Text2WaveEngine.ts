import { ValidationError } from '../../common/errors.ts';
import { decodeWav } from '../playback/decodeAudio.ts';
import type { TtsEngine, TtsOptions, TtsResult } from './TtsEngine.ts';
import { runProcess } from './runProcess.ts';

export interface Text2WaveOptions {
  /** Program to run; default `text2wave` (festival) from PATH. */
  command?: string;
  timeoutMs?: number;
}

/**
 * Festival's text2wave: argument array, text on stdin, RIFF WAV on stdout. The voice becomes a
 * Scheme `(voice_NAME)` call, so it is accepted only as a plain identifier.
 */
export class Text2WaveEngine implements TtsEngine {
  readonly name: string;
  readonly #command: string;
  readonly #timeoutMs: number;

  constructor(opts: Text2WaveOptions = {}, name = 'festival') {
    this.name = name;
    this.#command = opts.command ?? 'text2wave';
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  async synthesize(text: string, opts: TtsOptions = {}): Promise<TtsResult> {
    // No -o: text2wave writes the waveform to stdout.
    const args = ['-otype', 'riff'];
    if (opts.voice !== undefined) {
      if (!/^[A-Za-z0-9_]{1,64}$/.test(opts.voice)) {
        throw new ValidationError('INVALID_MEDIA', 'festival voice must be letters, digits and _');
      }
      args.push('-eval', `(voice_${opts.voice})`);
    }
    if (opts.rate !== undefined && opts.rate !== 1) {
      // Duration_Stretch > 1 slows down: the inverse of a speed factor.
      args.push('-eval', `(Parameter.set 'Duration_Stretch ${(1 / opts.rate).toFixed(3)})`);
    }
    const run: Parameters<typeof runProcess>[2] = { stdin: text, timeoutMs: this.#timeoutMs };
    if (opts.signal !== undefined) run.signal = opts.signal;
    return decodeWav(await runProcess(this.#command, args, run));
  }
}
