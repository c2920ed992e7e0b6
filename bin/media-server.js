#!/usr/bin/env node
// Tiny shim: runs the TypeScript CLI (src/cli/main.ts) through tsx's loader, in this process.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
