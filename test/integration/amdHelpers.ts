import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Asterisk's recorded English prompts (8 kHz). */
export const SOUNDS = '/usr/share/asterisk/sounds/en';

/** Any audio file as 8 kHz mono PCM16, through sox (not our decoder). */
export function pcm8k(file: string): Int16Array {
  const b = execFileSync('sox', [file, '-t', 'raw', '-r', '8000', '-c', '1', '-e', 'signed', '-b', '16', '-'], {
    maxBuffer: 1 << 26,
  });
  return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/** `text` spoken by espeak-ng (voice `voice`) into `dir`, as 8 kHz PCM16. */
export function espeak(dir: string, name: string, text: string, voice = 'en'): Int16Array {
  const file = join(dir, `${name}.wav`);
  execFileSync('espeak-ng', ['-v', voice, '-w', file, text]);
  return pcm8k(file);
}

/** What a callee sends once it answered: `leadMs` of silence, `speech`, then `trailMs` of silence. */
export function answer(speech: Int16Array, leadMs = 400, trailMs = 3000): Int16Array {
  const out = new Int16Array(8 * leadMs + speech.length + 8 * trailMs);
  out.set(speech, 8 * leadMs);
  return out;
}

/** One labelled sample of the accuracy set. */
export interface AmdSample {
  name: string;
  truth: 'human' | 'machine';
  pcm: Int16Array;
}

/**
 * Six human-like answers (one short word, real recordings and espeak-ng voices) and six
 * machine-like ones (voicemail announcements by espeak-ng, Asterisk's recorded prompts).
 */
export function accuracySamples(dir: string): AmdSample[] {
  const human = (name: string, pcm: Int16Array, leadMs: number): AmdSample => ({
    name,
    truth: 'human',
    pcm: answer(pcm, leadMs),
  });
  const machine = (name: string, pcm: Int16Array, leadMs: number): AmdSample => ({
    name,
    truth: 'machine',
    pcm: answer(pcm, leadMs),
  });
  return [
    human('hello.wav (recorded)', pcm8k(`${SOUNDS}/hello.wav`), 300),
    human('goodbye.wav (recorded)', pcm8k(`${SOUNDS}/goodbye.wav`), 600),
    human('espeak "Hello?"', espeak(dir, 'h1', 'Hello?'), 400),
    human('espeak "Yes?" (en-us)', espeak(dir, 'h2', 'Yes?', 'en-us'), 700),
    human('espeak "Hi!" (female)', espeak(dir, 'h3', 'Hi!', 'en+f3'), 250),
    human('espeak "Speaking."', espeak(dir, 'h4', 'Speaking.'), 500),
    machine(
      'espeak voicemail greeting',
      espeak(
        dir,
        'm1',
        'Hi, you have reached the voicemail of John Smith. I am not available right now, please leave a message after the tone.',
      ),
      400,
    ),
    machine(
      'espeak carrier announcement (female)',
      espeak(
        dir,
        'm2',
        'The person you are calling is not available. Please leave your message after the beep.',
        'en-us+f2',
      ),
      300,
    ),
    machine('vm-intro.wav (recorded)', pcm8k(`${SOUNDS}/vm-intro.wav`), 500),
    machine('vm-nobodyavail.wav (recorded)', pcm8k(`${SOUNDS}/vm-nobodyavail.wav`), 400),
    machine('all-circuits-busy-now.wav (recorded)', pcm8k(`${SOUNDS}/all-circuits-busy-now.wav`), 600),
    machine('demo-congrats.wav (recorded)', pcm8k(`${SOUNDS}/demo-congrats.wav`), 200),
  ];
}
