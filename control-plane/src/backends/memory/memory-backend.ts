import type { SnapshotEndpoint } from '@skiff/shared';
import {
  nothingRunning,
  type RevisionFailure,
  type RevisionObservation,
  type RevisionWorkload,
  type WorkloadBackend,
} from '../backend.ts';

interface Entry {
  desired: number;
  ready: SnapshotEndpoint[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

export interface MemoryBackendOptions {
  /** How long a new replica takes to become ready. */
  readyAfterMs?: number;
  /** Revisions (by name) that fail to start, with the failure to report. */
  failures?: Map<string, RevisionFailure>;
}

/**
 * A backend that runs nothing: replicas are records that turn ready after a delay, with
 * endpoints on a reserved address nothing listens on. For tests of the control plane's logic and
 * for its benchmark; never the proof that a real backend works.
 */
export class MemoryBackend implements WorkloadBackend {
  readonly name = 'memory';
  #entries = new Map<string, Entry>();
  #listeners = new Set<(namespace: string, revision: string) => void>();
  #readyAfterMs: number;
  #failures: Map<string, RevisionFailure>;
  #nextPort = 1;

  constructor(opts: MemoryBackendOptions = {}) {
    this.#readyAfterMs = opts.readyAfterMs ?? 0;
    this.#failures = opts.failures ?? new Map();
  }

  async ensure(w: RevisionWorkload, replicas: number): Promise<void> {
    const key = `${w.namespace}/${w.revision}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { desired: 0, ready: [], timer: undefined };
      this.#entries.set(key, entry);
    }
    if (entry.desired === replicas) return;
    entry.desired = replicas;
    clearTimeout(entry.timer);
    const e = entry;
    const settle = () => {
      if (this.#failures.has(w.revision)) e.ready = [];
      while (e.ready.length < e.desired && !this.#failures.has(w.revision)) {
        const n = this.#nextPort++;
        e.ready.push({ pod: `${w.revision}-${n}`, url: `http://192.0.2.1:${n}` });
      }
      e.ready.length = Math.min(e.ready.length, e.desired);
      this.#emit(w.namespace, w.revision);
    };
    if (replicas < entry.ready.length || this.#readyAfterMs === 0) settle();
    else entry.timer = setTimeout(settle, this.#readyAfterMs);
    this.#emit(w.namespace, w.revision);
  }

  observe(namespace: string, revision: string): RevisionObservation {
    const entry = this.#entries.get(`${namespace}/${revision}`);
    if (!entry) return nothingRunning;
    const failure = this.#failures.get(revision);
    return {
      desired: entry.desired,
      actual: failure ? entry.desired : Math.max(entry.desired, entry.ready.length),
      ready: [...entry.ready],
      ...(failure ? { failure } : {}),
    };
  }

  /** Its ready replicas replaced by new ones at other addresses (as when a replica's process died and came back). */
  replaceReplicas(namespace: string, revision: string): void {
    const entry = this.#entries.get(`${namespace}/${revision}`);
    if (!entry) return;
    entry.ready = entry.ready.map(() => {
      const n = this.#nextPort++;
      return { pod: `${revision}-${n}`, url: `http://192.0.2.1:${n}` };
    });
    this.#emit(namespace, revision);
  }

  async remove(namespace: string, revision: string): Promise<void> {
    const entry = this.#entries.get(`${namespace}/${revision}`);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(`${namespace}/${revision}`);
    this.#emit(namespace, revision);
  }

  list(): { namespace: string; revision: string }[] {
    return [...this.#entries.keys()].map((k) => {
      const [namespace = '', revision = ''] = k.split('/');
      return { namespace, revision };
    });
  }

  watch(listener: (namespace: string, revision: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const e of this.#entries.values()) clearTimeout(e.timer);
    this.#entries.clear();
  }

  #emit(namespace: string, revision: string): void {
    for (const l of this.#listeners) l(namespace, revision);
  }
}
