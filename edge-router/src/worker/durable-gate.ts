import type { ColdStartReport, SnapshotRevision } from '@skiff/shared';
import { type Answered, type Gate, type GateLease, QueueFullError } from '../hold/gate.ts';
import { revisionKey } from '../routing/table.ts';
import type { WorkerEnv } from './env.ts';

interface DurableLease extends GateLease {
  id: string;
}

/** The Workers gate: each revision's Durable Object decides, the isolate waits on its answer. */
export class DurableGate implements Gate {
  readonly #env: WorkerEnv;
  readonly #version: () => number;

  constructor(env: WorkerEnv, version: () => number) {
    this.#env = env;
    this.#version = version;
  }

  async acquire(
    revision: SnapshotRevision,
    signal: AbortSignal,
    background: (work: Promise<unknown>) => void = (work) => {
      work.catch(() => undefined);
    },
  ): Promise<GateLease> {
    if (signal.aborted) throw signal.reason;
    const gate = this.#stub(revision);
    const id = crypto.randomUUID();
    // A client that went away ends its request: without `waitUntil` the cancel would never be sent
    // and its place would stay taken until the timeout.
    const onAbort = () => background(gate.cancel(id));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const aborted = new Promise<never>((_, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      const result = await Promise.race([gate.acquire(revision, this.#version(), id), aborted]);
      if (result === 'full') throw new QueueFullError(revisionKey(revision.namespace, revision.name));
      if (result === 'cancelled') throw signal.reason;
      const lease: DurableLease = {
        id,
        url: result.url,
        held: result.held,
        ...(result.wait ? { wait: result.wait } : {}),
      };
      return lease;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async release(revision: SnapshotRevision, lease: GateLease, answer?: Answered): Promise<void> {
    await this.#stub(revision).release((lease as DurableLease).id, answer?.status, answer?.ms);
  }

  async answeredUnleased(revision: SnapshotRevision, answer: Answered): Promise<void> {
    await this.#stub(revision).answeredUnleased(revision, answer.status, answer.ms);
  }

  async coldStarted(
    revision: SnapshotRevision,
    heldAt: number,
    decidedAt: number,
    phases: ColdStartReport['phases'],
  ): Promise<void> {
    await this.#stub(revision).coldStarted(revision, heldAt, decidedAt, phases);
  }

  async retryElsewhere(revision: SnapshotRevision, lease: GateLease): Promise<GateLease | undefined> {
    const nextId = crypto.randomUUID();
    const next = await this.#stub(revision).retryElsewhere((lease as DurableLease).id, nextId);
    if (next === undefined) return undefined;
    const granted: DurableLease = { id: nextId, url: next.url, held: next.held };
    return granted;
  }

  #stub(revision: SnapshotRevision) {
    const ns = this.#env.REVISION_GATE;
    return ns.get(ns.idFromName(revisionKey(revision.namespace, revision.name)));
  }
}
