import { latencyQuantile, type RouterStats } from '@skiff/shared';
import type { Figures } from './decider.ts';

interface Sample {
  at: number;
  responses: number;
  serverErrors: number;
  latency: [number, number][];
}

/** How long samples are kept: longer than any step a gate judges in practice. */
const retainMs = 60 * 60_000;
const maxSamples = 20_000;

/**
 * Every router's answers for the revisions being judged, as reported each second
 * (their `RouterStats` lines on the stats stream), stamped with the time they arrived. A window's figures add
 * up the reports of every router; its p99 comes from their merged latency histograms.
 */
export class RolloutFigures {
  readonly #samples = new Map<string, Sample[]>();
  /** Revisions whose figures are wanted (the stable and new revision of each gated rollout). */
  tracked = new Set<string>();

  add(stats: RouterStats, at: number): void {
    for (const r of stats.revisions) {
      const key = `${r.namespace}/${r.revision}`;
      if (!this.tracked.has(key) || !r.responses) continue;
      let list = this.#samples.get(key);
      if (list === undefined) {
        list = [];
        this.#samples.set(key, list);
      }
      list.push({ at, responses: r.responses, serverErrors: r.serverErrors ?? 0, latency: r.latency ?? [] });
      while (list.length > maxSamples || ((list[0] as Sample).at < at - retainMs && list.length > 0)) list.shift();
    }
    for (const key of this.#samples.keys()) if (!this.tracked.has(key)) this.#samples.delete(key);
  }

  /** A revision's figures from the reports that arrived after `since`. */
  since(namespace: string, revision: string, since: number): Figures {
    let responses = 0;
    let serverErrors = 0;
    const latency = new Map<number, number>();
    for (const s of this.#samples.get(`${namespace}/${revision}`) ?? []) {
      if (s.at <= since) continue;
      responses += s.responses;
      serverErrors += s.serverErrors;
      for (const [bucket, count] of s.latency) latency.set(bucket, (latency.get(bucket) ?? 0) + count);
    }
    return {
      responses,
      serverErrors,
      p99Ms: latencyQuantile(latency, 0.99),
      p95Ms: latencyQuantile(latency, 0.95),
      p90Ms: latencyQuantile(latency, 0.9),
      p50Ms: latencyQuantile(latency, 0.5),
    };
  }
}
