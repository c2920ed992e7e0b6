/**
 * Time to start N playbacks of the same prompt (resolve the playlist, build a Player, pull the
 * first 20 ms frame) with the worker's PromptCache against decoding the file for every call.
 * Prints both and their ratio, measured in one run. Not a timed test.
 *
 *   node --import tsx bench/prompt-cache.ts [N=1000] [prompt=welcome]
 */
import path from 'node:path';
import { Player } from '../src/media/playback/Player.ts';
import { PromptCache } from '../src/media/playback/PromptCache.ts';
import { resolvePlaylist, type ResolveContext } from '../src/media/playback/resolvePlaylist.ts';

const N = Number(process.argv[2] ?? 1000);
const PROMPT = process.argv[3] ?? 'welcome';
const promptsDir = path.resolve(import.meta.dirname, '..', 'prompts');

async function startPlaybacks(ctx: ResolveContext, n: number): Promise<number> {
  const frame = new Int16Array(ctx.rate / 50);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const sources = await resolvePlaylist([`prompt:${PROMPT}`], ctx);
    const player = new Player(sources, { sampleRate: ctx.rate });
    if (player.fill(frame) !== frame.length) throw new Error('no first frame');
    player.stop();
  }
  return performance.now() - t0;
}

console.log(`${N} playback starts of prompt:${PROMPT} (node ${process.version})`);
console.log('rate    cached ms  per start   uncached ms  per start   ratio');
for (const rate of [8000, 16000, 48000]) {
  const cache = new PromptCache();
  // Warm both paths (JIT, file cache) so the comparison is steady state.
  await startPlaybacks({ rate, promptsDir, cache }, 20);
  await startPlaybacks({ rate, promptsDir }, 20);
  const cached = await startPlaybacks({ rate, promptsDir, cache }, N);
  const uncached = await startPlaybacks({ rate, promptsDir }, N);
  const s = cache.stats();
  console.log(
    `${String(rate).padEnd(7)} ${cached.toFixed(1).padStart(9)}  ${((cached / N) * 1000).toFixed(1).padStart(7)} µs` +
      `  ${uncached.toFixed(1).padStart(11)}  ${((uncached / N) * 1000).toFixed(1).padStart(7)} µs  ${(uncached / cached).toFixed(1).padStart(6)}x` +
      `   (cache: ${s.hits} hits, ${s.misses} misses, ${(s.bytes / 1024).toFixed(0)} KiB)`,
  );
}
