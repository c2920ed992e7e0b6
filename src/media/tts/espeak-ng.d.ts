// The `espeak-ng` package ships no types: it is an Emscripten MODULARIZE factory for the CLI.
declare module 'espeak-ng' {
  const factory: (moduleArg: Record<string, unknown>) => Promise<unknown>;
  export default factory;
}
