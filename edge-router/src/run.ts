import type { RoutingSnapshot } from '@skiff/shared';
import type { RouterConfig } from './config.ts';
import { type Logger, message, RouterCore } from './core.ts';
import { randomSource } from './routing/random.ts';
import { type Fetch, HttpControlPlane } from './snapshot/control-plane.ts';
import { SnapshotSource } from './snapshot/source.ts';

export interface RunningCore {
  core: RouterCore;
  source: SnapshotSource;
  stop(): void;
}

/** How often held and in-flight counts go to the autoscaler (Knative's activator: every second). */
export const statsIntervalMs = 1_000;

/**
 * A router core kept current for a long-running process (Node, Deno): the snapshot long-poll and
 * the per-second stats report. Neither blocks a request; a failing control plane only logs.
 */
export interface RunOptions {
  /** A snapshot to serve until the control plane answers (the last one a previous run kept). */
  initial?: RoutingSnapshot;
  /**
   * Called after each change is applied, with the way to make the whole snapshot (to keep it for
   * the next run; making it costs work for every service, so a keeper should not do it per change).
   */
  keep?: (snapshot: () => RoutingSnapshot) => void;
}

export function runCore(config: RouterConfig, log: Logger, fetchFn?: Fetch, options: RunOptions = {}): RunningCore {
  const controlPlane = new HttpControlPlane(config.controlPlaneUrl, config.routerToken, fetchFn);
  const random = randomSource(config.randomSeed);
  const core = new RouterCore({ config, controlPlane, random, now: Date.now, log });
  if (options.initial) core.applySnapshot(options.initial);
  let unreachable = false;
  const source = new SnapshotSource(controlPlane, {
    waitSeconds: config.snapshotWaitSeconds,
    random,
    ...(options.initial ? { initial: options.initial } : {}),
    onUpdate: (applied, state) => {
      if (unreachable) log.info('control plane reachable again');
      unreachable = false;
      core.applyUpdate(applied, state);
      if (applied.full) log.info(`routing snapshot ${applied.version}: ${applied.changed.length} services`);
      options.keep?.(() => state.snapshot());
    },
    onError: (error) => {
      // Log the first failure of a streak; the router keeps serving the snapshot it has.
      if (!unreachable) {
        log.error(`routing snapshot unavailable (${message(error)}); serving the last one, retrying with backoff`);
      }
      unreachable = true;
    },
  });
  source.start();
  let statsFailing = false;
  const timer = setInterval(() => {
    const stats = core.report(Date.now());
    if (stats === undefined) return;
    controlPlane.reportStats(stats).then(
      () => {
        statsFailing = false;
      },
      (error: unknown) => {
        if (!statsFailing) log.error(`reporting stats failed: ${message(error)}`);
        statsFailing = true;
      },
    );
  }, statsIntervalMs);
  return {
    core,
    source,
    stop: () => {
      source.stop();
      clearInterval(timer);
      controlPlane.close();
    },
  };
}
