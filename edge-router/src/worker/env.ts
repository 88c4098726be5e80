import type { RevisionGate } from './revision-gate.ts';

/** The Worker's bindings (wrangler.toml): configuration as vars and secrets, and the per-revision gates. */
export interface WorkerEnv {
  REVISION_GATE: DurableObjectNamespace<RevisionGate>;
  [variable: string]: unknown;
}

/** The string-valued bindings, in the shape `parseRouterConfig` reads. */
export function configEnv(env: WorkerEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(env)) if (typeof value === 'string') out[key] = value;
  return out;
}
