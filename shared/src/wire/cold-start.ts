import { z } from 'zod';

/**
 * The phases of a cold start, in order, as a request that waited for a replica sees them
 * (`Server-Timing` names): the autoscaler's decision after the router's poke, the replica's spawn
 * (process started, or pod scheduled), the app listening (pod initialized), the queue-proxy ready
 * (containers ready), the router learning of the endpoint, and the app's first byte.
 */
export const coldStartPhases = ['decision', 'spawn', 'listening', 'ready', 'routed', 'first-byte'] as const;
export type ColdStartPhase = (typeof coldStartPhases)[number];

/**
 * When a revision's replica came up from zero, Unix milliseconds, as the control plane saw it:
 * published with the replica's endpoint in the routing snapshot (each clock is the control
 * plane's; on Kubernetes the times are the pod conditions' transitions).
 */
export const ColdStartTimesSchema = z.object({
  /** The autoscaler decided to scale up from zero. */
  decidedAt: z.number(),
  /** The replica's process started (local) or its pod was scheduled (`PodScheduled`). */
  spawnedAt: z.number().optional(),
  /** The app accepted connections (local) or the pod's init finished (`Initialized`). */
  listeningAt: z.number().optional(),
  /** The queue-proxy reported ready (local) or the pod became `ContainersReady`. */
  readyAt: z.number().optional(),
});
export type ColdStartTimes = z.infer<typeof ColdStartTimesSchema>;

/** One request's cold start, reported by the router that held it (in its stats). */
export const ColdStartReportSchema = z.object({
  namespace: z.string(),
  revision: z.string(),
  /** When the router started holding the request, Unix milliseconds. */
  at: z.number(),
  /** Milliseconds per phase; `held` is the whole wait at the router. */
  phases: z.partialRecord(z.enum([...coldStartPhases, 'held']), z.number().nonnegative()),
});
export type ColdStartReport = z.infer<typeof ColdStartReportSchema>;

/**
 * The phases of one held request from the router's own times and the control plane's: each phase
 * runs from the end of the one before (never before the hold began) to its own mark. Times whose
 * replica was ready before the hold began belong to an earlier cold start (the request waited for
 * capacity, not for a replica): then only `held` and `first-byte` are known. Pure.
 */
export function coldStartBreakdown(
  heldAt: number,
  releasedAt: number,
  firstByteAt: number,
  times: ColdStartTimes | undefined,
): ColdStartReport['phases'] {
  const phases: ColdStartReport['phases'] = { held: Math.max(0, releasedAt - heldAt) };
  if (isColdStart(heldAt, times)) {
    let from = heldAt;
    const marks: [ColdStartPhase, number | undefined][] = [
      ['decision', times.decidedAt],
      ['spawn', times.spawnedAt],
      ['listening', times.listeningAt],
      ['ready', times.readyAt],
    ];
    for (const [phase, at] of marks) {
      if (at === undefined) continue;
      const end = Math.min(Math.max(at, from), releasedAt);
      phases[phase] = end - from;
      from = end;
    }
    phases.routed = Math.max(0, releasedAt - from);
  }
  phases['first-byte'] = Math.max(0, firstByteAt - releasedAt);
  return phases;
}

/** Whether a request held from `heldAt` waited for the replica these times describe. */
export function isColdStart(heldAt: number, times: ColdStartTimes | undefined): times is ColdStartTimes {
  return times !== undefined && (times.readyAt === undefined || times.readyAt >= heldAt);
}

/** The `Server-Timing` header value of a cold start (durations in ms, one decimal). */
export function serverTiming(phases: ColdStartReport['phases']): string {
  const names = ['held', ...coldStartPhases] as const;
  return names
    .filter((n) => phases[n] !== undefined)
    .map((n) => `${n};dur=${Math.round((phases[n] as number) * 10) / 10}`)
    .join(', ');
}
