import { type ColdStartReport, coldStartPhases } from '@skiff/shared';

/** How many cold starts per revision the console shows. */
export const keptColdStarts = 50;

/** Histogram buckets of a phase, seconds (Knative's activator latency buckets are in ms; these fit 1 ms..60 s). */
export const phaseBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface PhaseHistogram {
  counts: number[];
  count: number;
  sum: number;
}

interface RevisionColdStarts {
  recent: ColdStartReport[];
  phases: Map<string, PhaseHistogram>;
}

/**
 * The cold starts routers report (each request that waited for a replica, with its phases):
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
    for (const phase of coldStartPhases) {
      const ms = report.phases[phase];
      if (ms === undefined) continue;
      let h = r.phases.get(phase);
      if (!h) {
        h = { counts: phaseBuckets.map(() => 0), count: 0, sum: 0 };
        r.phases.set(phase, h);
      }
      const s = ms / 1000;
      h.count++;
      h.sum += s;
      const i = phaseBuckets.findIndex((b) => s <= b);
      if (i >= 0) h.counts[i] = (h.counts[i] ?? 0) + 1;
    }
  }

  recent(namespace: string, revision: string): ColdStartReport[] {
    return [...(this.#revisions.get(`${namespace}/${revision}`)?.recent ?? [])];
  }

  histograms(): { namespace: string; revision: string; phase: string; histogram: PhaseHistogram }[] {
    const out = [];
    for (const [key, r] of this.#revisions) {
      const [namespace, revision] = key.split('/') as [string, string];
      for (const [phase, histogram] of r.phases) out.push({ namespace, revision, phase, histogram });
    }
    return out;
  }

  forget(keep: (namespace: string, revision: string) => boolean): void {
    for (const key of this.#revisions.keys()) {
      const [namespace, revision] = key.split('/') as [string, string];
      if (!keep(namespace, revision)) this.#revisions.delete(key);
    }
  }
}
