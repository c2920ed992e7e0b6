import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidStateError, UnsupportedError, ValidationError } from '../../../src/common/errors.ts';
import { WavFileWriter } from '../../../src/media/recording/WavFileWriter.ts';
import { parseWavHeader } from '../../../src/media/recording/wav.ts';
import { interleave } from '../../../src/media/recording/RecordingWriter.ts';
import { chirp, execTool, feedFrames, ffprobe, sine, tempDir } from '../../helpers/audio.ts';
import { needs } from '../../helpers/peers.ts';

function samplesOf(file: Buffer, dataOffset = 44): Int16Array {
  return new Int16Array(file.buffer.slice(file.byteOffset + dataOffset, file.byteOffset + file.length));
}

for (const [rate, channels] of [
  [8000, 1],
  [16000, 1],
  [48000, 2],
  [8000, 2],
] as const) {
  test(
    `WavFileWriter writes ${rate} Hz ${channels} ch that ffprobe and sox read with the right length`,
    needs('ffprobe', 'soxi'),
    async (t) => {
      const dir = tempDir(t);
      const path = join(dir, 'a.wav');
      const w = await WavFileWriter.open({ path, sampleRate: rate, channels });
      const left = chirp(rate, 1.5, 200, rate / 2 - 500);
      const right = sine(rate, 1.5, 440);
      feedFrames(rate, channels === 2 ? [left, right] : [left], (f) => w.write(f));
      const r = await w.close();
      assert.equal(r.durationMs, 1500);
      assert.equal(r.bytes, 44 + rate * 1.5 * 2 * channels);
      assert.equal(r.droppedFrames, 0);
      assert.equal((await stat(path)).size, r.bytes);

      const p = await ffprobe(path);
      assert.deepEqual([p.codec, p.sampleRate, p.channels], ['pcm_s16le', rate, channels]);
      assert.ok(Math.abs(p.duration - 1.5) < 0.001, `ffprobe duration ${p.duration}`);
      const { stdout } = await execTool('soxi', ['-s', path]);
      assert.equal(Number(stdout.trim()), rate * 1.5);

      // Bit-exact, and interleaved L R L R as RIFF requires.
      const got = samplesOf(await readFile(path));
      for (let i = 0; i < left.length; i += 997) {
        assert.equal(got[i * channels], left[i]);
        if (channels === 2) assert.equal(got[i * 2 + 1], right[i]);
      }
    },
  );
}

test('WavFileWriter.write() takes interleaved frames as well as planar ones', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'i.wav');
  const w = await WavFileWriter.open({ path, sampleRate: 8000, channels: 2 });
  const l = sine(8000, 0.02, 300);
  const r = sine(8000, 0.02, 700);
  const frame = new Int16Array(320);
  assert.equal(interleave(l, r, frame), 320);
  w.write(frame);
  w.write([l, r]);
  await w.close();
  const got = samplesOf(await readFile(path));
  assert.deepEqual(got.subarray(0, 320), frame);
  assert.deepEqual(got.subarray(320, 640), frame);
});

test(
  'WavFileWriter leaves a playable file at any moment: a copy taken while open (no close) is read by ffprobe and sox',
  needs('ffprobe', 'soxi', 'sox'),
  async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'live.wav');
    const w = await WavFileWriter.open({ path, sampleRate: 8000, channels: 1, flushIntervalMs: 200 });
    t.after(() => w.close());
    const audio = chirp(8000, 3, 300, 3000);
    feedFrames(8000, [audio.subarray(0, 8000 * 1.3)], (f) => w.write(f));
    await w.flush();
    // The crash: the process dies here; what is on disk is what a copy sees now.
    const crashed = join(dir, 'crashed.wav');
    await copyFile(path, crashed);
    const p = await ffprobe(crashed);
    assert.ok(Math.abs(p.duration - 1.3) < 0.001, `duration after crash ${p.duration}`);
    const { stdout } = await execTool('soxi', ['-s', crashed]);
    assert.equal(Number(stdout.trim()), 8000 * 1.3);

    // Torn at arbitrary byte offsets (mid-sample too): still decodes, header never over-claims badly.
    const size = (await stat(crashed)).size;
    for (const cut of [45, 1001, Math.floor(size / 2) + 1, size - 3]) {
      const torn = join(dir, `torn-${cut}.wav`);
      await copyFile(crashed, torn);
      await truncate(torn, cut);
      await execTool('sox', [torn, '-n', 'stat']);
      const d = await ffprobe(torn);
      assert.ok(d.duration <= 1.3 + 1e-9, `torn ${cut}: ${d.duration}`);
    }
  },
);

test('WavFileWriter with ifExists append continues a compatible file', needs('ffprobe'), async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'vm.wav');
  const a = chirp(16000, 1, 200, 4000);
  const b = sine(16000, 0.6, 1000);
  const w1 = await WavFileWriter.open({ path, sampleRate: 16000, channels: 1 });
  feedFrames(16000, [a], (f) => w1.write(f));
  await w1.close();
  const w2 = await WavFileWriter.open({ path, sampleRate: 16000, channels: 1, ifExists: 'append' });
  feedFrames(16000, [b], (f) => w2.write(f));
  const r = await w2.close();
  assert.equal(r.durationMs, 600);
  const p = await ffprobe(path);
  assert.ok(Math.abs(p.duration - 1.6) < 0.001, `${p.duration}`);
  const got = samplesOf(await readFile(path));
  assert.deepEqual(got.subarray(0, a.length), a);
  assert.deepEqual(got.subarray(a.length), b);
});

test('WavFileWriter append recovers audio flushed after the last header update (crash) and drops a torn sample', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'crash.wav');
  const a = sine(8000, 0.5, 500);
  const w1 = await WavFileWriter.open({ path, sampleRate: 8000, channels: 1 });
  feedFrames(8000, [a], (f) => w1.write(f));
  await w1.close();
  // Simulate a crash between data write and header update: extra samples + half a sample.
  const extra = sine(8000, 0.1, 500);
  const file = await readFile(path);
  await writeFile(path, Buffer.concat([file, Buffer.from(extra.buffer), Buffer.from([0x12])]));
  const w2 = await WavFileWriter.open({ path, sampleRate: 8000, channels: 1, ifExists: 'append' });
  w2.write(sine(8000, 0.02, 500));
  await w2.close();
  const head = parseWavHeader(await readFile(path));
  assert.equal(head.declaredDataBytes, (4000 + 800 + 160) * 2);
  assert.equal((await stat(path)).size, 44 + head.declaredDataBytes);
});

test(
  'WavFileWriter append works on a WAV with a LIST chunk written by ffmpeg',
  needs('ffmpeg', 'ffprobe'),
  async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'ff.wav');
    await execTool('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=8000:duration=0.5',
      '-metadata',
      'title=test',
      '-c:a',
      'pcm_s16le',
      path,
    ]);
    const before = parseWavHeader(await readFile(path));
    assert.ok(before.dataOffset > 44, 'ffmpeg wrote a LIST chunk before data');
    const w = await WavFileWriter.open({ path, sampleRate: 8000, channels: 1, ifExists: 'append' });
    feedFrames(8000, [sine(8000, 0.5, 440)], (f) => w.write(f));
    await w.close();
    const p = await ffprobe(path);
    assert.ok(Math.abs(p.duration - 1.0) < 0.001, `${p.duration}`);
  },
);

test('WavFileWriter append refuses a file with another rate or channel count', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'x.wav');
  const w = await WavFileWriter.open({ path, sampleRate: 8000, channels: 1 });
  await w.close();
  await assert.rejects(
    WavFileWriter.open({ path, sampleRate: 16000, channels: 1, ifExists: 'append' }),
    ValidationError,
  );
  await assert.rejects(
    WavFileWriter.open({ path, sampleRate: 8000, channels: 2, ifExists: 'append' }),
    ValidationError,
  );
  await writeFile(join(dir, 'junk.wav'), 'not a wave file at all');
  await assert.rejects(
    WavFileWriter.open({ path: join(dir, 'junk.wav'), sampleRate: 8000, channels: 1, ifExists: 'append' }),
    ValidationError,
  );
});

test('WavFileWriter.open() with ifExists fail rejects an existing file; overwrite replaces it', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'e.wav');
  await writeFile(path, 'x');
  await assert.rejects(WavFileWriter.open({ path, sampleRate: 8000, channels: 1 }), InvalidStateError);
  const w = await WavFileWriter.open({ path, sampleRate: 8000, channels: 1, ifExists: 'overwrite' });
  await w.close();
  assert.equal((await stat(path)).size, 44);
  await assert.rejects(
    WavFileWriter.open({ path: 'rec/../../etc/x.wav', sampleRate: 8000, channels: 1 }),
    ValidationError,
  );
  await assert.rejects(
    WavFileWriter.open({ path: join(dir, 'r.wav'), sampleRate: 44100, channels: 1 }),
    UnsupportedError,
  );
});

test('WavFileWriter drops and counts whole frames when its bounded queue is full, never part of one', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'q.wav');
  // 100 ms chunks, 2 may wait: the pump cannot run during this synchronous burst.
  const w = await WavFileWriter.open({ path, sampleRate: 8000, channels: 1, flushIntervalMs: 100, maxQueuedChunks: 2 });
  feedFrames(8000, [sine(8000, 1, 400)], (f) => w.write(f));
  assert.equal(w.stats.queueHighWater, 2);
  assert.ok(w.stats.droppedFrames > 0);
  const r = await w.close();
  assert.equal(r.droppedFrames, w.stats.droppedFrames);
  assert.equal(r.durationMs, 1000 - r.droppedFrames * 20);
  assert.equal((await stat(path)).size, 44 + (r.durationMs / 1000) * 8000 * 2);
});

test('WavFileWriter reports an I/O error at open, and close() is idempotent', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(WavFileWriter.open({ path: join(dir, 'missing', 'a.wav'), sampleRate: 8000, channels: 1 }), {
    code: 'ENOENT',
  });
  // a device is not a recording file: refused before anything is written (ENOSPC is tested on a full tmpfs)
  await assert.rejects(
    WavFileWriter.open({ path: '/dev/full', sampleRate: 8000, channels: 1, ifExists: 'overwrite' }),
    { code: 'PATH_FORBIDDEN' },
  );
  const w = await WavFileWriter.open({ path: join(dir, 'ok.wav'), sampleRate: 8000, channels: 1 });
  const p1 = w.close();
  assert.equal(w.close(), p1);
  await p1;
  w.write(sine(8000, 0.02, 400)); // after close: ignored and counted, never thrown
  assert.equal(w.stats.droppedFrames, 1);
});

test(
  'WavFileWriter survives SIGKILL: a child killed mid-recording leaves a WAV that sox and ffprobe read',
  needs('ffprobe', 'sox'),
  async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'killed.wav');
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const writerUrl = new URL('../../../src/media/recording/WavFileWriter.ts', import.meta.url).href;
    // The child records forever at 20 ms ticks from a timer, like the media clock, and says when
    // its first second is on disk; the parent then kills it without warning.
    const script = `
    const { WavFileWriter } = await import(${JSON.stringify(writerUrl)});
    const w = await WavFileWriter.open({ path: ${JSON.stringify(path)}, sampleRate: 8000, channels: 1, flushIntervalMs: 100 });
    const f = new Int16Array(160);
    let n = 0;
    setInterval(() => {
      for (let i = 0; i < 160; i++) f[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (n * 160 + i)) / 8000));
      w.write(f);
      if (++n === 50) w.flush().then(() => process.stdout.write('flushed\\n'));
    }, 1);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('flushed') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const p = await ffprobe(path);
    assert.equal(p.sampleRate, 8000);
    assert.ok(p.duration >= 1, `duration ${p.duration}`);
    const header = parseWavHeader(await readFile(path));
    assert.ok(44 + header.declaredDataBytes <= (await stat(path)).size, 'header never claims more than is on disk');
    await execTool('sox', [path, '-n', 'stat']);
  },
);

test(
  'WavFileWriter on a disk that fills up ends with the error yet leaves a playable file and reports what it holds',
  needs('ffprobe'),
  async (t) => {
    const { smallTmpfs } = await import('../../helpers/tmpfs.ts');
    const { openNoFollow } = await import('../../../src/common/safePath.ts');
    // 160 KiB of tmpfs (real ENOSPC); where mounting is not allowed, a file handle that answers
    // ENOSPC after as many bytes (the writer cannot tell the difference).
    const fs = process.env.FORCE_NO_TMPFS ? null : smallTmpfs(t, 160 * 1024);
    const dir = fs ?? tempDir(t);
    if (fs === null) t.diagnostic('tmpfs not mountable here: ENOSPC simulated at the file handle');
    const openFile: Parameters<typeof WavFileWriter.open>[0]['openFile'] =
      fs !== null
        ? undefined
        : async (p, mode) => {
            const fh = await openNoFollow(p, mode);
            let budget = 160 * 1024;
            const write = fh.write.bind(fh) as (
              b: Uint8Array,
              o: number,
              l: number,
              pos: number,
            ) => Promise<{ bytesWritten: number; buffer: Uint8Array }>;
            (fh as unknown as { write: typeof write }).write = async (b, o, l, pos) => {
              const end = pos + l;
              if (end > budget) {
                if (pos < budget) {
                  const part = budget - pos;
                  budget = pos;
                  return write(b, o, part, pos);
                }
                throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
              }
              return write(b, o, l, pos);
            };
            return fh;
          };
    const path = join(dir, 'full.wav');
    const errors: Error[] = [];
    const w = await WavFileWriter.open({
      path,
      sampleRate: 8000,
      channels: 1,
      flushIntervalMs: 100,
      onError: (e) => errors.push(e),
      ...(openFile ? { openFile } : {}),
    });
    const frame = sine(8000, 0.02, 440);
    // 20 s of audio (320 KB) into 160 KiB: write a second at a time, letting the disk catch up.
    for (let s = 0; s < 20 && w.error === null; s++) {
      for (let i = 0; i < 50; i++) w.write(frame);
      await w.flush();
    }
    assert.ok(w.error !== null, 'the disk filled up');
    assert.equal((w.error as { code?: string }).code, 'INSUFFICIENT_STORAGE');
    assert.equal(errors.length, 1);
    const r = await w.close();
    const file = await readFile(path);
    const h = parseWavHeader(file);
    assert.equal(r.bytes, file.length, 'reports the bytes the file holds');
    assert.equal(h.declaredDataBytes, file.length - 44, 'header matches the data');
    assert.ok(file.length > 100 * 1024, `most of the disk holds audio: ${file.length}`);
    assert.equal(r.durationMs, ((file.length - 44) / 2 / 8000) * 1000);
    const probe = await ffprobe(path);
    assert.ok(Math.abs(probe.duration * 1000 - r.durationMs) < 1, `${probe.duration} s vs ${r.durationMs} ms`);
  },
);
