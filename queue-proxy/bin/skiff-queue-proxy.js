#!/usr/bin/env node
// Runs the bundled queue-proxy when it has been built (`npm run build -w queue-proxy`), else the
// TypeScript source through tsx.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/main.js', import.meta.url);
if (existsSync(bundle)) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/main.ts', import.meta.url).href);
}
