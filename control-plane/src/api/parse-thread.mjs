// Entry of the body-parsing thread: a worker does not share the main thread's module loader, so it
// registers tsx itself (as bin/skiff.js does) before loading the TypeScript.
const { register } = await import('tsx/esm/api');
register();
await import('./parse-thread.ts');
