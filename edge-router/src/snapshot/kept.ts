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
