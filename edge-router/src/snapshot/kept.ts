import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { RoutingSnapshot } from '@skiff/shared';

// The last routing snapshot on disk, for a long-running router on Node: a restarted router
// serves from it until the control plane answers (static stability across router restarts).

/** The snapshot kept in `file`: none when the file does not exist, `error` when it is unreadable. */
export function readKeptSnapshot(
  file: string,
  parse: (json: unknown) => RoutingSnapshot,
): { snapshot?: RoutingSnapshot; error?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { error: (e as Error).message };
  }
  try {
    return { snapshot: parse(JSON.parse(text)) };
  } catch (e) {
    return { error: `${file}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Writes the snapshot whole (temporary file, then rename) and owner-only: it names every endpoint. */
export function writeKeptSnapshot(file: string, snapshot: RoutingSnapshot, log: { error(m: string): void }): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(snapshot), { mode: 0o600 });
    renameSync(tmp, file);
  } catch (e) {
    log.error(`could not keep the routing snapshot in ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Keeps the router's snapshot in `file` as it changes: the first at once, later ones at most once
 * per `intervalMs` (a write costs work for every service, too much for each delta at 10,000
 * services), the latest always in the end; `flush` writes a pending one now (at shutdown).
 */
export function snapshotKeeper(
  file: string,
  log: { error(m: string): void },
  intervalMs = 1_000,
): { keep(make: () => RoutingSnapshot): void; flush(): void } {
  let pending: (() => RoutingSnapshot) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const write = () => {
    timer = undefined;
    const make = pending;
    pending = undefined;
    if (make) writeKeptSnapshot(file, make(), log);
  };
  return {
    keep(make) {
      pending = make;
      if (timer) return;
      write();
      timer = setTimeout(write, intervalMs);
      timer.unref?.();
    },
    flush() {
      clearTimeout(timer);
      write();
    },
  };
}
