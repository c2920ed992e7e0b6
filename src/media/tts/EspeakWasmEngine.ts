import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ValidationError } from '../../common/errors.ts';
import { decodeWav } from '../playback/decodeAudio.ts';
import { espeakVoice, espeakWpm, type TtsEngine, type TtsOptions, type TtsResult } from './TtsEngine.ts';

/** The Emscripten module factory exported by the `espeak-ng` package (a CLI compiled to WASM). */
type EspeakFactory = (moduleArg: Record<string, unknown>) => Promise<{ FS: { readFile(p: string): Uint8Array } }>;

/** The slice of the WebAssembly JS API used here (lib "ES2022" and @types/node 20 do not declare it). */
type WasmModule = object;
type WasmImports = object;
type WasmInstance = object;
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: WasmImports): Promise<WasmInstance>;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface Loaded {
  factory: EspeakFactory;
  wasm: WasmModule;
}

let loading: Promise<Loaded> | undefined;

/** Compile the 18 MB module once per process (lazily: only workers that speak pay for it). */
function load(): Promise<Loaded> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = path.join(path.dirname(require.resolve('espeak-ng')), 'espeak-ng.wasm');
    const [mod, bytes] = await Promise.all([import('espeak-ng'), readFile(wasmPath)]);
    return { factory: mod.default as unknown as EspeakFactory, wasm: await Wasm.compile(bytes) };
  })();
  loading.catch(() => {
    loading = undefined; // allow a retry after a transient failure
  });
  return loading;
}

/**
 * eSpeak NG compiled to WASM, in process: the embedded default engine, no binary needed.
 * The package exposes the espeak-ng command line, which runs main() once per module instance, so
 * each synthesis instantiates the compiled module afresh (about 0.1 s) with the text written to its
 * in-memory file system and `-w` output read back. Calls are serialised to bound memory
 * (32 MB heap per instance); the TTS cache makes repeats free.
 */
export class EspeakWasmEngine implements TtsEngine {
  readonly name: string;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(name = 'espeak-wasm') {
    this.name = name;
  }

  /** Start compiling now instead of on the first request. */
  async warmUp(): Promise<void> {
    await load();
  }

  synthesize(text: string, opts: TtsOptions = {}): Promise<TtsResult> {
    const run = this.#queue.then(() => this.#run(text, opts));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #run(text: string, opts: TtsOptions): Promise<TtsResult> {
    if (this.#closed) throw new ValidationError('TTS_FAILED', `${this.name}: engine closed`);
    opts.signal?.throwIfAborted();
    const { factory, wasm } = await load();
    opts.signal?.throwIfAborted();
    const errors: string[] = [];
    const args = [
      '-b',
      '1',
      '-v',
      espeakVoice(opts),
      '-s',
      String(espeakWpm(opts.rate)),
      '-w',
      '/out.wav',
      '-f',
      '/in.txt',
    ];
    let instance: Awaited<ReturnType<EspeakFactory>>;
    // A failed instantiation never settles the factory's promise; race it with our own.
    let instantiationFailed: (err: unknown) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => {
      instantiationFailed = reject;
    });
    try {
      instance = await Promise.race([
        failed,
        factory({
          arguments: args,
          preRun: [(m: { FS: { writeFile(p: string, d: string): void } }) => m.FS.writeFile('/in.txt', text)],
          instantiateWasm: (imports: WasmImports, done: (i: WasmInstance, m: WasmModule) => void) => {
            Wasm.instantiate(wasm, imports).then((i) => done(i, wasm), instantiationFailed);
            return {};
          },
          print: () => undefined,
          printErr: (s: string) => errors.push(s),
        }),
      ]);
    } catch (err) {
      throw new ValidationError('TTS_FAILED', `${this.name}: ${String(err)}`);
    }
    let wav: Uint8Array;
    try {
      wav = instance.FS.readFile('/out.wav');
    } catch {
      throw new ValidationError(
        'TTS_FAILED',
        `${this.name}: no audio produced${errors.length > 0 ? `: ${errors.join(' ').slice(0, 300)}` : ''}`,
      );
    }
    return decodeWav(wav);
  }

  close(): void {
    this.#closed = true;
  }
}
