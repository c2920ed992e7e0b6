#!/usr/bin/env node
// CLI entry. From a source checkout it runs the TypeScript (src/cli/main.ts) through tsx's loader;
// in the production image, which ships only the compiled dist/, it runs dist/cli/main.js.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let cli;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(source.href);
} else {
  cli = await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
