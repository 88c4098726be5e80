#!/usr/bin/env node
// Runs the control plane from its TypeScript source through tsx.
const { register } = await import('tsx/esm/api');
register();
await import(new URL('../src/main.ts', import.meta.url).href);
