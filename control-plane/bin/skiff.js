#!/usr/bin/env node
// The skiff CLI, run from its TypeScript source through tsx.
const { register } = await import('tsx/esm/api');
register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
