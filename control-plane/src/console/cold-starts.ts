import { type ColdStartReport, coldStartPhases, Histogram, PrometheusWriter } from '@skiff/shared';

/** How many cold starts per revision the console shows. */
export const keptColdStarts = 50;

/** Histogram buckets of a phase, seconds (1 ms .. 60 s: a process start to a slow image pull). */
export const phaseBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The phases counted: the control plane's steps, the whole wait (`held`) and the first byte. */
const countedPhases = ['held', ...coldStartPhases] as const;

interface RevisionColdStarts {
  recent: ColdStartReport[];
  phases: Map<string, Histogram>;
}

/**
 * The cold starts routers report (the first request each start kept waiting, with its phases):
 * the last 50 per revision for the console, and a histogram per phase for `/metrics`.
 */
export class ColdStartLog {
  #revisions = new Map<string, RevisionColdStarts>();

  record(report: ColdStartReport): void {
    const key = `${report.namespace}/${report.revision}`;
    let r = this.#revisions.get(key);
    if (!r) {
      r = { recent: [], phases: new Map() };
      this.#revisions.set(key, r);
    }
    r.recent.push(report);
    if (r.recent.length > keptColdStarts) r.recent.shift();
    for (const phase of countedPhases) {
      const ms = report.phases[phase];
      if (ms === undefined) continue;
      let h = r.phases.get(phase);
      if (!h) {
        h = new Histogram(phaseBuckets);
        r.phases.set(phase, h);
      }
      h.observe(ms / 1000);
    }
  }

  recent(namespace: string, revision: string): ColdStartReport[] {
    return [...(this.#revisions.get(`${namespace}/${revision}`)?.recent ?? [])];
  }

  /** `skiff_cold_start_phase_seconds`: one histogram per revision and phase (Knative has no such metric). */
  metrics(): string[] {
    const samples: [Record<string, string>, Histogram][] = [];
    for (const [key, r] of this.#revisions) {
      const [namespace, revision] = key.split('/') as [string, string];
      for (const phase of countedPhases) {
        const h = r.phases.get(phase);
        if (h) samples.push([{ namespace_name: namespace, revision_name: revision, phase }, h]);
      }
    }
    return new PrometheusWriter()
      .histogram(
        'skiff_cold_start_phase_seconds',
        'Cold starts by phase: held (the whole wait at the router), decision, spawn, listening, ready, routed, first-byte.',
        samples,
      )
      .lines();
  }

  /** Drops the cold starts of revisions that no longer exist. */
  forget(keep: (namespace: string, revision: string) => boolean): void {
    for (const key of this.#revisions.keys()) {
      const [namespace, revision] = key.split('/') as [string, string];
      if (!keep(namespace, revision)) this.#revisions.delete(key);
    }
  }
}
