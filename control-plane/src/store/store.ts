import { chmodSync, closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  canonicalJson,
  type DomainMappingSpec,
  jsonEqual,
  type ManagedFieldsEntry,
  type RevisionSpec,
  type RouteSpec,
  type ServiceSpec,
} from '@skiff/shared';
import Database from 'better-sqlite3';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { RolloutCommand, RolloutEvent, RolloutState } from '../rollout/decider.ts';
import { type Codec, codec, Rows } from './rows.ts';
import * as schema from './schema.ts';
import {
  type AcmeAccountRow,
  type AcmeCertificateRow,
  type AuditRow,
  acmeAccounts,
  acmeCertificates,
  audit,
  type DomainMappingRow,
  domainMappings,
  type EventResource,
  type EventRow,
  type EventType,
  events,
  type RevisionRow,
  type RouteRow,
  revisions,
  rollouts,
  routes,
  type ServiceRow,
  services,
  type TemplateKind,
} from './schema.ts';

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** A row's namespace and name. */
export interface RowKey {
  namespace: string;
  name: string;
}

/** Who made a change, for the audit log. */
export type Actor = 'user' | 'reconciler' | 'autoscaler' | 'router';

export interface ServiceWrite {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: ServiceSpec;
  /** `metadata.managedFields` after this write (kept as it is when absent). */
  managedFields?: ManagedFieldsEntry[];
}

/** What a write of a DomainMapping stores. */
export interface DomainMappingWrite {
  /** The domain. */
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: DomainMappingSpec;
  /** `metadata.managedFields` after this write (kept as it is when absent). */
  managedFields?: ManagedFieldsEntry[];
}

export interface RouteWrite {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: RouteSpec;
  managedFields?: ManagedFieldsEntry[];
}

export interface NewRevision {
  namespace: string;
  name: string;
  service: string;
  uid: string;
  configGeneration: number;
  templateHash: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: RevisionSpec;
}

export class StoreConflict extends Error {
  readonly current: number;
  constructor(current: number) {
    super(`the object has been modified; resourceVersion is now ${current}`);
    this.current = current;
  }
}

/** How the WAL is synced to disk (`fs.fsync`). */
export type Fsync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;

/** A group of writes that commit together: one transaction, one fsync. */
interface Batch {
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
  writes: number;
}

/**
 * SQLite through drizzle: one file, WAL, foreign keys on; a write is on disk before the API
 * acknowledges it.
 *
 * Group commit: every write method runs at once (its result and checks are synchronous, inside a
 * savepoint of its own) in a transaction shared with the other writes of this turn of the event
 * loop; that transaction commits in the next check phase (`setImmediate`). The commit writes the
 * WAL without waiting for the disk (`synchronous = NORMAL`); the WAL file is then fsynced on
 * libuv's thread pool, one fsync at a time, each covering every commit made before it started.
 * `durable()` resolves once everything written so far is on disk: the API acknowledges a request
 * only after it, so no acknowledged write is lost, while concurrent writes share the fsync and the
 * event loop goes on serving (and committing the next group) while the disk works: a commit that
 * fsynced in place held the loop for 5–8 ms on a busy machine, a third of its time under creates.
 * A failed commit rejects `durable()` for every write of its group and rolls them all back; a
 * failed fsync rejects every group it covered, and the store then refuses writes (what the kernel
 * dropped cannot be told apart). Watchers are told of changes after an fsync; what they then read
 * may include a group committed while that fsync ran, on disk one fsync later.
 */
export class Store {
  readonly sqlite: Database.Database;
  readonly db: BetterSQLite3Database<typeof schema>;
  /** Commits made and writes they carried, for `/metrics` and tests. */
  readonly commits = { groups: 0, writes: 0 };
  #batch: Batch | undefined;
  /** The database file (undefined in memory), for its WAL's fsyncs. */
  #file: string | undefined;
  #walFd: number | undefined;
  /** Groups committed and waiting for the next fsync, and those the running fsync covers. */
  #unsynced: Batch[] = [];
  #syncing: Batch[] | undefined;
  /** Commits made since the last fsync started. */
  #needsSync = false;
  #syncFailed: Error | undefined;
  #closed = false;
  #begin: Database.Statement;
  #commit: Database.Statement;
  #rollback: Database.Statement;
  /** A write's own savepoint inside the group's transaction (prepared once, not per write). */
  #savepoint: Database.Statement;
  #release: Database.Statement;
  #rollbackTo: Database.Statement;
  /** Statements by their SQL, each prepared once (see `#sql`). */
  #statements = new Map<string, Database.Statement>();
  #plucked = new Map<string, Database.Statement>();
  #raw = new Map<string, Database.Statement>();
  /** Whole-row SELECTs by table and by the rest of their SQL. */
  #selects = new Map<Codec<unknown>, Map<string, Rows<unknown>>>();
  /**
   * Counts changes to the set of revisions: a revision added or removed, and any rollback (which
   * may take back one). `revisionKeys()` reads the table again only when it moved.
   */
  #revisionSet = 0;
  #revisionKeys: { at: number; keys: readonly RowKey[] } | undefined;
  /**
   * The resourceVersion counter inside the open transaction: read at its first bump, counted up
   * here, and written to its row once, just before the transaction commits (an upsert per bump,
   * four per create, was 3% of the CPU under creates). A savepoint rolled back leaves a gap in the
   * numbers, which only ever grow; a transaction rolled back never wrote the row.
   */
  #rv: { value: number; written: number } | undefined;

  #fsync: Fsync;

  /** `options.fsync` replaces `fs.fsync` of the WAL (for tests of what waits for it). */
  constructor(file: string, options: { fsync?: Fsync } = {}) {
    this.#fsync = options.fsync ?? fsync;
    if (file !== ':memory:') {
      privateFile(file);
      this.#file = file;
    }
    this.sqlite = new Database(file);
    this.sqlite.pragma('journal_mode = WAL');
    // Commits write the WAL; its fsync is made off the event loop (`#sync`).
    this.sqlite.pragma('synchronous = NORMAL');
    this.sqlite.pragma('foreign_keys = ON');
    this.sqlite.pragma('busy_timeout = 5000');
    // drizzle holds the schema and runs its migrations; the store's statements are plain SQL
    // (`rows.ts` says why).
    this.db = drizzle({ client: this.sqlite, schema, casing: 'snake_case' });
    migrate(this.db, { migrationsFolder });
    this.#begin = this.sqlite.prepare('BEGIN IMMEDIATE');
    this.#commit = this.sqlite.prepare('COMMIT');
    this.#rollback = this.sqlite.prepare('ROLLBACK');
    this.#savepoint = this.sqlite.prepare('SAVEPOINT write');
    this.#release = this.sqlite.prepare('RELEASE write');
    this.#rollbackTo = this.sqlite.prepare('ROLLBACK TO write');
  }

  /**
   * The statement of `text`, prepared at its first use (better-sqlite3 compiles a statement on
   * every `prepare`); `true` plucks the first column of a row alone, `raw` reads rows as arrays. Hot callers pass a string
   * literal, whose hash V8 keeps.
   */
  #sql(text: string, mode?: true | 'raw'): Database.Statement {
    // A map per mode, keyed by the text alone: no key string is built per call.
    const cache = mode === undefined ? this.#statements : mode === true ? this.#plucked : this.#raw;
    let stmt = cache.get(text);
    if (!stmt) {
      stmt = this.sqlite.prepare(text);
      if (mode === true) stmt.pluck();
      else if (mode === 'raw') stmt.raw();
      cache.set(text, stmt);
    }
    return stmt;
  }

  /** Whole rows of `c`'s table `where` (and in whatever order it says), decoded. */
  #select<R>(c: Codec<R>, where: string): Rows<R> {
    let byWhere = this.#selects.get(c as Codec<unknown>);
    if (!byWhere) {
      byWhere = new Map();
      this.#selects.set(c as Codec<unknown>, byWhere);
    }
    let rows = byWhere.get(where) as Rows<R> | undefined;
    if (!rows) {
      rows = new Rows(this.sqlite, c, where);
      byWhere.set(where, rows as Rows<unknown>);
    }
    return rows;
  }

  close(): void {
    this.flush();
    this.#closed = true;
    if (this.#walFd !== undefined) closeSync(this.#walFd);
    this.#walFd = undefined;
    this.sqlite.close();
  }

  /** Resolves once every write made so far is on disk (rejects if its group failed to commit). */
  durable(): Promise<void> {
    if (this.#syncFailed) return Promise.reject(this.#syncFailed);
    return (this.#batch ?? this.#unsynced.at(-1) ?? this.#syncing?.at(-1))?.done ?? Promise.resolve();
  }

  /**
   * Commits the open group now and waits for the disk (at close, and where a write must be
   * durable before going on).
   */
  flush(): void {
    this.#commitGroup();
    if (this.#syncFailed) return;
    // Everything committed so far, whether or not an fsync on the thread pool covers it already.
    const fd = this.#wal();
    try {
      if (fd !== undefined) fsyncSync(fd);
    } catch (e) {
      this.#failSync(e, this.#unsynced);
      return;
    }
    this.#needsSync = false;
    // (Those of an fsync under way too: they resolve once, whichever comes first.)
    this.#synced([...(this.#syncing ?? []), ...this.#unsynced]);
    this.#unsynced = [];
  }

  /** Commits the open group; its writes are acknowledged after the fsync that follows. */
  #commitGroup(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = undefined;
    try {
      this.#saveRv();
      this.#commit.run();
      this.commits.groups++;
      this.commits.writes += batch.writes;
      this.#unsynced.push(batch);
      this.#committed();
    } catch (e) {
      // (Its events went with it; groups committed before it may still have watchers to tell.)
      this.#revisionSet++;
      if (this.sqlite.inTransaction) this.#rollback.run();
      batch.reject(e);
    } finally {
      this.#rv = undefined;
    }
  }

  /** A transaction committed: the WAL is fsynced (now, or after the fsync under way). */
  #committed(): void {
    this.#needsSync = true;
    this.#sync();
  }

  #wal(): number | undefined {
    if (this.#file === undefined || this.#closed) return undefined;
    // SQLite keeps one WAL file while the database is open (a checkpoint rewinds it, never
    // replaces it); it exists once anything was written.
    if (this.#walFd === undefined && existsSync(`${this.#file}-wal`)) this.#walFd = openSync(`${this.#file}-wal`, 'r');
    return this.#walFd;
  }

  #sync(): void {
    if (this.#syncing || !this.#needsSync || this.#syncFailed) return;
    this.#needsSync = false;
    const covered = this.#unsynced;
    this.#unsynced = [];
    const fd = this.#wal();
    if (fd === undefined) {
      this.#synced(covered);
      return;
    }
    this.#syncing = covered;
    this.#fsync(fd, (e) => {
      this.#syncing = undefined;
      if (this.#closed) {
        // The fsync at close covered these (and the descriptor may be gone).
        for (const b of covered) b.resolve();
        return;
      }
      if (e) this.#failSync(e, covered);
      else this.#synced(covered);
      this.#sync();
    });
  }

  #synced(batches: Batch[]): void {
    for (const b of batches) b.resolve();
    this.#notify();
  }

  #failSync(e: unknown, batches: Batch[]): void {
    const error = new Error(
      `the database file could not be synced to disk (${e instanceof Error ? e.message : String(e)}); writes are refused until a restart`,
    );
    this.#syncFailed = error;
    for (const b of [...batches, ...this.#unsynced]) b.reject(error);
    this.#unsynced = [];
  }

  /** `PRAGMA integrity_check`: "ok" when the file is sound. */
  integrityCheck(): string {
    return String(this.sqlite.pragma('integrity_check', { simple: true }));
  }

  // Reads.

  /** The newest resourceVersion handed out (a list's `metadata.resourceVersion`). */
  resourceVersion(): number {
    return this.#rv?.value ?? this.#counter('resourceVersion');
  }

  #counter(name: string): number {
    return (this.#sql('SELECT value FROM counters WHERE name = ?', true).get(name) as number | undefined) ?? 0;
  }

  /**
   * A Service (by default), a Configuration created directly, or (`any`) whichever of the two
   * holds the name: both stamp revisions from a template.
   */
  getService(namespace: string, name: string, kind: TemplateKind | 'any' = 'Service'): ServiceRow | undefined {
    const row = this.#select(table.services, 'WHERE namespace = ? AND name = ?').get(namespace, name);
    return row && (kind === 'any' || row.kind === kind) ? row : undefined;
  }

  /** Whether a Service or a Configuration created directly holds the name. */
  #hasService(namespace: string, name: string): boolean {
    return this.#templateGeneration(namespace, name) !== undefined;
  }

  /** A Service's (or Configuration's) template generation count, without reading and decoding its row. */
  #templateGeneration(namespace: string, name: string): number | undefined {
    return this.#sql('SELECT config_generation FROM services WHERE namespace = ? AND name = ?', true).get(
      namespace,
      name,
    ) as number | undefined;
  }

  listServices(namespace?: string, kind: TemplateKind | 'any' = 'Service'): ServiceRow[] {
    const params = [...(namespace === undefined ? [] : [namespace]), ...(kind === 'any' ? [] : [kind])];
    const where = [...(namespace === undefined ? [] : ['namespace = ?']), ...(kind === 'any' ? [] : ['kind = ?'])];
    return this.#select(
      table.services,
      `${where.length ? `WHERE ${where.join(' AND ')} ` : ''}ORDER BY namespace, name`,
    ).all(...params);
  }

  getRoute(namespace: string, name: string): RouteRow | undefined {
    return this.#select(table.routes, 'WHERE namespace = ? AND name = ?').get(namespace, name);
  }

  /** Routes created directly, by namespace and name. */
  listRoutes(namespace?: string): RouteRow[] {
    // Every reconcile of a service asks for its namespace's Routes (twice).
    if (namespace !== undefined) return this.#select(table.routes, 'WHERE namespace = ? ORDER BY name').all(namespace);
    return this.#select(table.routes, 'ORDER BY namespace, name').all();
  }

  /** Every Service's namespace and name, in order (without reading and decoding their objects). */
  serviceKeys(): { namespace: string; name: string }[] {
    return this.#sql('SELECT namespace, name FROM services ORDER BY namespace, name').all() as RowKey[];
  }

  /**
   * Every Revision's namespace and name, in order: the same array (do not change it) until a
   * revision is added or removed. The console samples every revision each second, and reading
   * 10,000 keys through drizzle each time was 3% of the control plane's CPU under creates.
   */
  revisionKeys(): readonly RowKey[] {
    if (this.#revisionKeys?.at !== this.#revisionSet) {
      const keys = this.#sql('SELECT namespace, name FROM revisions ORDER BY namespace, name').all() as RowKey[];
      this.#revisionKeys = { at: this.#revisionSet, keys };
    }
    return this.#revisionKeys.keys;
  }

  /**
   * Services (in `namespace`, or all) in namespace-then-name order, a page at a time: up to `n`
   * after `after`, and how many follow a key (an API list page reads only its rows).
   */
  services(namespace?: string): KeyedRows<ServiceRow> {
    // Rows of `services` that are Services (Configurations created directly are rows too).
    return this.#keyed(table.services, namespace, "kind = 'Service'");
  }

  /** Revisions as `services` gives Services. */
  revisions(namespace?: string): KeyedRows<RevisionRow> {
    return this.#keyed(table.revisions, namespace, undefined);
  }

  /**
   * A page of a table keyed by (namespace, name) after a key, by SQLite's row-value comparison on
   * the primary key's index, and the count of what follows; over one namespace or all. In one
   * namespace, the name alone (so SQLite searches the index from the key, not the namespace's start).
   */
  #keyed<R>(c: Codec<R>, namespace: string | undefined, only: string | undefined): KeyedRows<R> {
    type Key = { namespace: string; name: string } | undefined;
    const and = only ? ` AND ${only}` : '';
    const where =
      namespace === undefined ? `WHERE (namespace, name) > (?, ?)${and}` : `WHERE namespace = ? AND name > ?${and}`;
    const page = this.#select(c, `${where} ORDER BY namespace, name LIMIT ?`);
    const count = this.#sql(`SELECT count(*) FROM ${c.table} ${where}`, true);
    // Within a namespace, a key from before it starts at its first row; one from after it, past its last.
    const past = (after: Key) => namespace !== undefined && after !== undefined && after.namespace > namespace;
    const args = (after: Key) =>
      namespace === undefined
        ? [after?.namespace ?? '', after?.name ?? '']
        : [namespace, after?.namespace === namespace ? (after?.name ?? '') : ''];
    return {
      // SQLite reads a negative LIMIT as none.
      after: (after, n) => (past(after) ? [] : page.all(...args(after), Number.isFinite(n) ? n : -1)),
      countAfter: (after) => (past(after) ? 0 : (count.get(...args(after)) as number)),
    };
  }

  /** Whether the Revision exists (without reading and decoding its row). */
  hasRevision(namespace: string, name: string): boolean {
    return (
      this.#sql('SELECT 1 FROM revisions WHERE namespace = ? AND name = ?', true).get(namespace, name) !== undefined
    );
  }

  /** The Service (or Configuration) a Revision belongs to, without reading and decoding its row. */
  revisionService(namespace: string, name: string): string | undefined {
    return this.#sql('SELECT service FROM revisions WHERE namespace = ? AND name = ?', true).get(namespace, name) as
      | string
      | undefined;
  }

  getRevision(namespace: string, name: string): RevisionRow | undefined {
    return this.#select(table.revisions, 'WHERE namespace = ? AND name = ?').get(namespace, name);
  }

  /** Revisions, oldest first (in a namespace, of one service, or all). */
  listRevisions(namespace?: string, service?: string): RevisionRow[] {
    if (namespace !== undefined && service !== undefined) {
      return this.#select(table.revisions, 'WHERE namespace = ? AND service = ? ORDER BY config_generation').all(
        namespace,
        service,
      );
    }
    const order = 'ORDER BY namespace, service, config_generation';
    if (namespace !== undefined) return this.#select(table.revisions, `WHERE namespace = ? ${order}`).all(namespace);
    return this.#select(table.revisions, order).all();
  }

  /** The revision the template made last. */
  latestRevision(namespace: string, service: string): RevisionRow | undefined {
    return this.#select(
      table.revisions,
      'WHERE namespace = ? AND service = ? ORDER BY config_generation DESC LIMIT 1',
    ).get(namespace, service);
  }

  auditLog(namespace?: string, name?: string, limit = 100): AuditRow[] {
    if (namespace === undefined) return this.#select(table.audit, 'ORDER BY id DESC LIMIT ?').all(limit);
    if (name === undefined) {
      return this.#select(table.audit, 'WHERE namespace = ? ORDER BY id DESC LIMIT ?').all(namespace, limit);
    }
    return this.#select(table.audit, 'WHERE namespace = ? AND name = ? ORDER BY id DESC LIMIT ?').all(
      namespace,
      name,
      limit,
    );
  }

  // Writes: each one atomic (a savepoint) inside the open group's transaction.

  #tx<T>(fn: () => T): T {
    if (this.#syncFailed) throw this.#syncFailed;
    if (!this.sqlite.inTransaction) this.#open();
    if (this.#batch) this.#batch.writes++;
    // Nested in the group's transaction, `fn` runs in a savepoint: a write that throws (a
    // conflict) is undone alone and the group goes on. (Prepared statements: better-sqlite3's
    // `transaction(fn)` made a wrapper function and its properties on every write.)
    this.#savepoint.run();
    try {
      const out = fn();
      this.#release.run();
      return out;
    } catch (e) {
      this.#revisionSet++;
      if (this.sqlite.inTransaction) {
        this.#rollbackTo.run();
        this.#release.run();
      }
      throw e;
    }
  }

  #open(): void {
    this.#begin.run();
    this.#rv = undefined;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be waiting (a reconciler write); the rejection still reaches whoever awaits it.
    done.catch(() => {});
    this.#batch = { done, resolve, reject, writes: 0 };
    setImmediate(() => this.#commitGroup());
  }

  // The event log (watch history).

  #listeners = new Set<() => void>();
  #eventsPending = false;

  /** Calls `listener` after each committed write that logged events; returns a function to stop. */
  onEvents(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How many events compaction keeps (kube-apiserver keeps about 5 minutes of history). */
  static readonly eventWindow = 10_000;

  /** Logs a change; `object` is the row's JSON (`Codec.json`, from the values just stored). */
  #event(type: EventType, resource: EventResource, rv: number, namespace: string, name: string, object: string): void {
    this.#sql(
      'INSERT INTO events (resource_version, resource, type, namespace, name, object) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(rv, resource, type, namespace, name, object);
    this.#eventsPending = true;
    if (rv % 256 === 0) this.#compactThrough(rv - Store.eventWindow);
  }

  /** Logs a change of a row not stored as it is (a deletion's last state). */
  #rowEvent<R extends { resourceVersion: number; namespace: string; name: string }>(
    type: EventType,
    resource: EventResource,
    c: Codec<R>,
    row: R,
  ): void {
    this.#event(type, resource, row.resourceVersion, row.namespace, row.name, c.json(c.encode(row)));
  }

  #compactThrough(rv: number): void {
    if (rv <= this.compactedThrough()) return;
    this.#sql('DELETE FROM events WHERE resource_version <= ?').run(rv);
    this.#setCounter('eventsCompactedThrough', rv);
  }

  #setCounter(name: string, value: number): void {
    this.#sql(
      'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    ).run(name, value);
  }

  /** Drops the history up to and including `rv` (a watch from before it gets 410 Expired). */
  compactEvents(rv: number): void {
    this.#tx(() => this.#compactThrough(Math.min(rv, this.resourceVersion())));
  }

  /** The newest resourceVersion whose history is gone: a watch must start at or after it. */
  compactedThrough(): number {
    return this.#counter('eventsCompactedThrough');
  }

  /** Events after `rv`, oldest first. */
  eventsAfter(rv: number, limit = 10_000): EventRow[] {
    return this.#select(table.events, 'WHERE resource_version > ? ORDER BY resource_version LIMIT ?').all(rv, limit);
  }

  /** Watchers hear of a change once it is committed (never of a dry run's, rolled back). */
  #notify(): void {
    if (this.sqlite.inTransaction || !this.#eventsPending) return;
    this.#eventsPending = false;
    for (const listener of this.#listeners) listener();
  }

  /**
   * Runs `fn` as one transaction for derived state (statuses, scale records) that the reconciler
   * can always compute again: atomic like every write, and nobody waits for its fsync (it is made
   * like any other, and watchers hear of it after). Nested calls, and calls while a group is open,
   * join the outer transaction.
   */
  derived<T>(fn: () => T): T {
    if (this.sqlite.inTransaction) return fn();
    if (this.#syncFailed) throw this.#syncFailed;
    const totalChanges = this.#sql('SELECT total_changes()', true);
    const before = totalChanges.get();
    let out: T;
    this.#begin.run();
    try {
      out = fn();
      this.#saveRv();
      this.#commit.run();
    } catch (e) {
      this.#revisionSet++;
      if (this.sqlite.inTransaction) this.#rollback.run();
      throw e;
    } finally {
      this.#rv = undefined;
    }
    // A transaction that wrote nothing (a reconcile whose statuses stand) needs no fsync.
    if (totalChanges.get() !== before) this.#committed();
    return out;
  }

  /**
   * Runs the writes in `fn` and rolls them all back (`dryRun=All`): the same checks and defaults as
   * a real write, and nothing stored. Returns what `fn` returned.
   */
  dryRun<T>(fn: () => T): T {
    const rollback = Symbol('dry run');
    let out: T | undefined;
    // Inside an open group (a savepoint), what the group had before stays; the dry run's part goes.
    const pending = this.#eventsPending;
    const writes = this.#batch?.writes;
    const alone = !this.sqlite.inTransaction;
    try {
      this.sqlite.transaction(() => {
        out = fn();
        throw rollback;
      })();
    } catch (e) {
      if (e !== rollback) throw e;
    } finally {
      if (alone) this.#rv = undefined;
      this.#revisionSet++;
      this.#eventsPending = pending;
      if (this.#batch && writes !== undefined) this.#batch.writes = writes;
    }
    return out as T;
  }

  #bump(name: string): number {
    if (name === 'resourceVersion' && this.sqlite.inTransaction) {
      this.#rv ??= { value: this.#counter('resourceVersion'), written: Number.NaN };
      return ++this.#rv.value;
    }
    return this.#sql(
      'INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value',
      true,
    ).get(name) as number;
  }

  /** Writes the open transaction's resourceVersion counter to its row (before it commits). */
  #saveRv(): void {
    if (this.#rv && this.#rv.value !== this.#rv.written) {
      this.#setCounter('resourceVersion', this.#rv.value);
      this.#rv.written = this.#rv.value;
    }
  }

  /** `detail` as an object, or as its JSON text when the caller has it (a spec just stored). */
  #audit(
    actor: Actor,
    action: string,
    namespace: string,
    name: string,
    detail: Record<string, unknown> | string,
  ): void {
    this.#sql('INSERT INTO audit (at, actor, action, namespace, name, detail) VALUES (?, ?, ?, ?, ?, ?)').run(
      new Date().toISOString(),
      actor,
      action,
      namespace,
      name,
      typeof detail === 'string' ? detail : JSON.stringify(detail),
    );
  }

  /** Inserts a row; its stored values (for its event). */
  #insert<R>(c: Codec<R>, row: R): unknown[] {
    const values = c.encode(row);
    this.#sql(c.insert).run(values);
    return values;
  }

  /** Writes every column of a row but its key; its stored values (for its event). */
  #update<R>(c: Codec<R>, row: R): unknown[] {
    const values = c.encode(row);
    this.#sql(c.update).run(c.updateParams(values));
    return values;
  }

  /**
   * Creates a Service (or a Configuration, `kind`); `undefined` when the name is taken by either,
   * or — for a Service, which owns the Route of its name — by a Route created directly.
   */
  createService(
    namespace: string,
    name: string,
    uid: string,
    write: ServiceWrite,
    actor: Actor,
    kind: TemplateKind = 'Service',
  ): ServiceRow | undefined {
    return this.#tx(() => {
      // (Whether the names are taken, without reading and decoding rows: every create asks.)
      if (this.#hasService(namespace, name)) return undefined;
      if (kind === 'Service' && this.#hasRoute(namespace, name)) return undefined;
      const row: ServiceRow = {
        namespace,
        name,
        kind,
        uid,
        generation: 1,
        resourceVersion: this.#bump('resourceVersion'),
        ...write,
        managedFields: write.managedFields ?? [],
        status: {},
        configGeneration: 0,
        createdAt: new Date().toISOString(),
      };
      const c = table.services;
      const values = this.#insert(c, row);
      this.#event('ADDED', 'services', row.resourceVersion, namespace, name, c.json(values));
      const action = kind === 'Service' ? 'create' : 'create-configuration';
      this.#audit(actor, action, namespace, name, `{"spec":${values[c.at('spec')]}}`);
      return row;
    });
  }

  #hasRoute(namespace: string, name: string): boolean {
    return this.#sql('SELECT 1 FROM routes WHERE namespace = ? AND name = ?', true).get(namespace, name) !== undefined;
  }

  /**
   * Replaces a Service's labels, annotations and spec. With `expectedVersion`, fails with
   * `StoreConflict` unless the row is still at that resourceVersion. The generation moves only when
   * the spec changes. `undefined` when the Service does not exist.
   */
  updateService(
    namespace: string,
    name: string,
    write: ServiceWrite,
    expectedVersion: number | undefined,
    actor: Actor,
    action: string,
  ): ServiceRow | undefined {
    return this.#tx(() => {
      const current = this.getService(namespace, name, 'any');
      if (!current) return undefined;
      if (expectedVersion !== undefined && expectedVersion !== current.resourceVersion) {
        throw new StoreConflict(current.resourceVersion);
      }
      const specChanged = !jsonEqual(current.spec, write.spec);
      const metaChanged =
        !jsonEqual(current.labels, write.labels) || !jsonEqual(current.annotations, write.annotations);
      const ownersChanged =
        write.managedFields !== undefined && ownership(current.managedFields) !== ownership(write.managedFields);
      if (!specChanged && !metaChanged && !ownersChanged) return current;
      const next: ServiceRow = {
        ...current,
        ...write,
        managedFields: write.managedFields ?? current.managedFields,
        generation: specChanged ? current.generation + 1 : current.generation,
        resourceVersion: this.#bump('resourceVersion'),
      };
      const c = table.services;
      const values = this.#update(c, next);
      this.#event('MODIFIED', 'services', next.resourceVersion, namespace, name, c.json(values));
      const trafficChanged = !jsonEqual(current.spec.traffic, write.spec.traffic);
      const traffic =
        trafficChanged && write.spec.traffic !== undefined ? `,"traffic":${JSON.stringify(write.spec.traffic)}` : '';
      this.#audit(
        actor,
        action,
        namespace,
        name,
        specChanged
          ? `{"generation":${next.generation},"spec":${values[c.at('spec')]}${traffic}}`
          : JSON.stringify({
              generation: next.generation,
              labels: write.labels,
              annotations: write.annotations,
              ...(trafficChanged ? { traffic: write.spec.traffic } : {}),
            }),
      );
      return next;
    });
  }

  /** Writes a Service's status when it changed; returns whether it did. */
  setServiceStatus(namespace: string, name: string, status: Record<string, unknown>): boolean {
    return this.#setStatus('services', namespace, name, status);
  }

  /**
   * A derived status write of a Service or Revision row, when the status changed. Most reconciles
   * (every resync) change nothing: the status column alone is read to tell. The row as written goes
   * into its event as stored text (no column decoded and encoded again).
   */
  #setStatus(
    resource: 'services' | 'revisions',
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): boolean {
    return this.derived(() => {
      const text = JSON.stringify(status);
      const stored = this.#sql(`SELECT status FROM ${resource} WHERE namespace = ? AND name = ?`, true).get(
        namespace,
        name,
      );
      if (!statusDiffers(stored, status, text)) return false;
      const resourceVersion = this.#bump('resourceVersion');
      const c = table[resource];
      const values = this.#sql(
        `UPDATE ${resource} SET status = ?, resource_version = ? WHERE namespace = ? AND name = ? RETURNING ${c.columns}`,
        'raw',
      ).get(text, resourceVersion, namespace, name) as unknown[];
      this.#event('MODIFIED', resource, resourceVersion, namespace, name, c.json(values));
      return true;
    });
  }

  /**
   * A client's write to the `status` subresource (PUT or PATCH …/status): only the status changes
   * (generation stays), `StoreConflict` on a stale `expectedVersion`, durable like any user write.
   * `undefined` when the Service does not exist.
   */
  writeServiceStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    expectedVersion: number | undefined,
    actor: Actor,
    /** `metadata.managedFields` after this write (kept as it is when absent). */
    managedFields?: ManagedFieldsEntry[],
  ): ServiceRow | undefined {
    return this.#tx(() => {
      const current = this.getService(namespace, name, 'any');
      if (!current) return undefined;
      if (expectedVersion !== undefined && expectedVersion !== current.resourceVersion) {
        throw new StoreConflict(current.resourceVersion);
      }
      const owners = managedFields ?? current.managedFields;
      if (jsonEqual(current.status, status) && ownership(current.managedFields) === ownership(owners)) return current;
      const next: ServiceRow = {
        ...current,
        status,
        managedFields: owners,
        resourceVersion: this.#bump('resourceVersion'),
      };
      const values = this.#update(table.services, next);
      this.#event('MODIFIED', 'services', next.resourceVersion, namespace, name, table.services.json(values));
      this.#audit(actor, 'status', namespace, name, {});
      return next;
    });
  }

  // Routes created directly (a Service's own Route is a view of the Service).

  /** Creates a Route; `undefined` when a Route, or a Service (which owns the Route of its name), has the name. */
  createRoute(namespace: string, name: string, uid: string, write: RouteWrite, actor: Actor): RouteRow | undefined {
    return this.#tx(() => {
      if (this.#hasRoute(namespace, name) || this.getService(namespace, name)) return undefined;
      const row: RouteRow = {
        namespace,
        name,
        uid,
        generation: 1,
        resourceVersion: this.#bump('resourceVersion'),
        labels: write.labels,
        annotations: write.annotations,
        spec: write.spec,
        managedFields: write.managedFields ?? [],
        status: {},
        createdAt: new Date().toISOString(),
      };
      const values = this.#insert(table.routes, row);
      this.#event('ADDED', 'routes', row.resourceVersion, namespace, name, table.routes.json(values));
      this.#audit(actor, 'create-route', namespace, name, { spec: write.spec });
      return row;
    });
  }

  /** Replaces a Route's labels, annotations and spec, as `updateService` does a Service's. */
  updateRoute(
    namespace: string,
    name: string,
    write: RouteWrite,
    expectedVersion: number | undefined,
    actor: Actor,
  ): RouteRow | undefined {
    return this.#tx(() => {
      const current = this.getRoute(namespace, name);
      if (!current) return undefined;
      if (expectedVersion !== undefined && expectedVersion !== current.resourceVersion) {
        throw new StoreConflict(current.resourceVersion);
      }
      const specChanged = !jsonEqual(current.spec, write.spec);
      const metaChanged =
        !jsonEqual(current.labels, write.labels) || !jsonEqual(current.annotations, write.annotations);
      const ownersChanged =
        write.managedFields !== undefined && ownership(current.managedFields) !== ownership(write.managedFields);
      if (!specChanged && !metaChanged && !ownersChanged) return current;
      const next: RouteRow = {
        ...current,
        labels: write.labels,
        annotations: write.annotations,
        spec: write.spec,
        managedFields: write.managedFields ?? current.managedFields,
        generation: specChanged ? current.generation + 1 : current.generation,
        resourceVersion: this.#bump('resourceVersion'),
      };
      const values = this.#update(table.routes, next);
      this.#event('MODIFIED', 'routes', next.resourceVersion, namespace, name, table.routes.json(values));
      this.#audit(actor, 'update-route', namespace, name, { generation: next.generation, spec: write.spec });
      return next;
    });
  }

  /**
   * Writes a Route's status: the reconciler's (derived, when it changed; returns whether it did),
   * or a client's through the status subresource (`expectedVersion`, durable).
   */
  setRouteStatus(namespace: string, name: string, status: Record<string, unknown>): boolean {
    return this.derived(() => this.#routeStatus(namespace, name, status, undefined) !== undefined);
  }

  writeRouteStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    expectedVersion: number | undefined,
    /** `metadata.managedFields` after this write (kept as it is when absent). */
    managedFields?: ManagedFieldsEntry[],
  ): RouteRow | undefined {
    return this.#tx(
      () =>
        this.#routeStatus(namespace, name, status, expectedVersion, managedFields) ?? this.getRoute(namespace, name),
    );
  }

  /** The row after the status write; `undefined` when nothing was written (absent or unchanged). */
  #routeStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    expectedVersion: number | undefined,
    managedFields?: ManagedFieldsEntry[],
  ): RouteRow | undefined {
    const current = this.getRoute(namespace, name);
    if (!current) return undefined;
    if (expectedVersion !== undefined && expectedVersion !== current.resourceVersion) {
      throw new StoreConflict(current.resourceVersion);
    }
    const owners = managedFields ?? current.managedFields;
    if (jsonEqual(current.status, status) && ownership(current.managedFields) === ownership(owners)) return undefined;
    const next: RouteRow = {
      ...current,
      status,
      managedFields: owners,
      resourceVersion: this.#bump('resourceVersion'),
    };
    const values = this.#update(table.routes, next);
    this.#event('MODIFIED', 'routes', next.resourceVersion, namespace, name, table.routes.json(values));
    return next;
  }

  deleteRoute(namespace: string, name: string, actor: Actor): boolean {
    return this.#tx(() => {
      const current = this.getRoute(namespace, name);
      if (!current) return false;
      this.#sql('DELETE FROM routes WHERE namespace = ? AND name = ?').run(namespace, name);
      this.#rowEvent('DELETED', 'routes', table.routes, { ...current, resourceVersion: this.#bump('resourceVersion') });
      this.#audit(actor, 'delete-route', namespace, name, { generation: current.generation });
      return true;
    });
  }

  // DomainMappings (serving.knative.dev/v1beta1), in the watch event log as Services and Revisions.

  getDomainMapping(namespace: string, name: string): DomainMappingRow | undefined {
    return this.#select(table.domainMappings, 'WHERE namespace = ? AND name = ?').get(namespace, name);
  }

  /** DomainMappings in a namespace or all, by namespace and name. */
  listDomainMappings(namespace?: string): DomainMappingRow[] {
    if (namespace !== undefined) {
      return this.#select(table.domainMappings, 'WHERE namespace = ? ORDER BY name').all(namespace);
    }
    return this.#select(table.domainMappings, 'ORDER BY namespace, name').all();
  }

  /** Every mapping of `domain`, oldest claim first (the first one holds the domain). */
  domainClaims(domain: string): DomainMappingRow[] {
    return this.#select(table.domainMappings, 'WHERE name = ? ORDER BY created_at, resource_version').all(domain);
  }

  /** Creates a DomainMapping; `undefined` when the namespace has one for that domain already. */
  createDomainMapping(
    namespace: string,
    uid: string,
    input: DomainMappingWrite,
    actor: Actor,
  ): DomainMappingRow | undefined {
    return this.#tx(() => {
      if (this.getDomainMapping(namespace, input.name)) return undefined;
      const row: DomainMappingRow = {
        namespace,
        name: input.name,
        uid,
        generation: 1,
        resourceVersion: this.#bump('resourceVersion'),
        labels: input.labels,
        annotations: input.annotations,
        spec: input.spec,
        status: {},
        createdAt: new Date().toISOString(),
        managedFields: input.managedFields ?? [],
      };
      const values = this.#insert(table.domainMappings, row);
      this.#event(
        'ADDED',
        'domainmappings',
        row.resourceVersion,
        namespace,
        row.name,
        table.domainMappings.json(values),
      );
      this.#audit(actor, 'create-domain-mapping', namespace, input.name, { spec: input.spec });
      return row;
    });
  }

  /** Replaces a DomainMapping's spec and metadata (`StoreConflict` on a stale resourceVersion). */
  updateDomainMapping(
    namespace: string,
    input: DomainMappingWrite,
    expectedVersion: number | undefined,
    actor: Actor,
  ): DomainMappingRow | undefined {
    return this.#tx(() => {
      const current = this.getDomainMapping(namespace, input.name);
      if (!current) return undefined;
      if (expectedVersion !== undefined && expectedVersion !== current.resourceVersion) {
        throw new StoreConflict(current.resourceVersion);
      }
      const specChanged = !jsonEqual(current.spec, input.spec);
      const ownersChanged =
        input.managedFields !== undefined && ownership(current.managedFields) !== ownership(input.managedFields);
      if (
        !specChanged &&
        !ownersChanged &&
        jsonEqual(current.labels, input.labels) &&
        jsonEqual(current.annotations, input.annotations)
      )
        return current;
      const next: DomainMappingRow = {
        ...current,
        labels: input.labels,
        annotations: input.annotations,
        spec: input.spec,
        managedFields: input.managedFields ?? current.managedFields,
        generation: specChanged ? current.generation + 1 : current.generation,
        resourceVersion: this.#bump('resourceVersion'),
      };
      const c = table.domainMappings;
      this.#event(
        'MODIFIED',
        'domainmappings',
        next.resourceVersion,
        namespace,
        next.name,
        c.json(this.#update(c, next)),
      );
      this.#audit(actor, 'update-domain-mapping', namespace, input.name, { spec: input.spec });
      return next;
    });
  }

  /**
   * A user's write of a DomainMapping's status (the `status` subresource): the row after it
   * (`StoreConflict` unless it is still at `expectedVersion`).
   */
  writeDomainMappingStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    expectedVersion: number | undefined,
    managedFields?: ManagedFieldsEntry[],
  ): DomainMappingRow | undefined {
    return this.#tx(() => {
      const current = this.getDomainMapping(namespace, name);
      if (!current) return undefined;
      if (expectedVersion !== undefined && expectedVersion !== current.resourceVersion) {
        throw new StoreConflict(current.resourceVersion);
      }
      const owners = managedFields ?? current.managedFields;
      if (jsonEqual(current.status, status) && ownership(current.managedFields) === ownership(owners)) return current;
      const next: DomainMappingRow = {
        ...current,
        status,
        managedFields: owners,
        resourceVersion: this.#bump('resourceVersion'),
      };
      const c = table.domainMappings;
      this.#event('MODIFIED', 'domainmappings', next.resourceVersion, namespace, name, c.json(this.#update(c, next)));
      return next;
    });
  }

  /** Writes a DomainMapping's status when it changed; returns whether it did. */
  setDomainMappingStatus(namespace: string, name: string, status: Record<string, unknown>): boolean {
    return this.derived(() => {
      const current = this.getDomainMapping(namespace, name);
      if (!current || jsonEqual(current.status, status)) return false;
      const next = { ...current, status, resourceVersion: this.#bump('resourceVersion') };
      const c = table.domainMappings;
      this.#event('MODIFIED', 'domainmappings', next.resourceVersion, namespace, name, c.json(this.#update(c, next)));
      return true;
    });
  }

  deleteDomainMapping(namespace: string, name: string, actor: Actor): boolean {
    return this.#tx(() => {
      const current = this.getDomainMapping(namespace, name);
      if (!current) return false;
      this.#sql('DELETE FROM domain_mappings WHERE namespace = ? AND name = ?').run(namespace, name);
      this.#rowEvent('DELETED', 'domainmappings', table.domainMappings, {
        ...current,
        resourceVersion: this.#bump('resourceVersion'),
      });
      this.#audit(actor, 'delete-domain-mapping', namespace, name, {});
      return true;
    });
  }

  deleteService(namespace: string, name: string, actor: Actor): boolean {
    return this.#tx(() => {
      const current = this.getService(namespace, name, 'any');
      if (!current) return false;
      // Its revisions go with it (the foreign key cascades): watchers see each go first.
      for (const rev of this.listRevisions(namespace, name)) {
        this.#rowEvent('DELETED', 'revisions', table.revisions, {
          ...rev,
          resourceVersion: this.#bump('resourceVersion'),
        });
      }
      this.#sql('DELETE FROM services WHERE namespace = ? AND name = ?').run(namespace, name);
      this.#revisionSet++;
      this.#rowEvent('DELETED', 'services', table.services, {
        ...current,
        resourceVersion: this.#bump('resourceVersion'),
      });
      this.#audit(actor, 'delete', namespace, name, { generation: current.generation });
      return true;
    });
  }

  /**
   * Records a new revision and moves the Service's template generation to it, unless the Service
   * has moved on (its generation count no longer matches) or is gone: then `undefined`.
   */
  createRevision(rev: NewRevision, actor: Actor): RevisionRow | undefined {
    return this.#tx(() => {
      const generation = this.#templateGeneration(rev.namespace, rev.service);
      if (generation === undefined || generation + 1 !== rev.configGeneration) return undefined;
      if (this.hasRevision(rev.namespace, rev.name)) return undefined;
      const row: RevisionRow = {
        ...rev,
        status: {},
        resourceVersion: this.#bump('resourceVersion'),
        createdAt: new Date().toISOString(),
      };
      const values = this.#insert(table.revisions, row);
      this.#revisionSet++;
      this.#event('ADDED', 'revisions', row.resourceVersion, row.namespace, row.name, table.revisions.json(values));
      this.#sql('UPDATE services SET config_generation = ? WHERE namespace = ? AND name = ?').run(
        rev.configGeneration,
        rev.namespace,
        rev.service,
      );
      this.#audit(actor, 'revision-create', rev.namespace, rev.service, {
        revision: rev.name,
        configGeneration: rev.configGeneration,
      });
      return row;
    });
  }

  setRevisionStatus(namespace: string, name: string, status: Record<string, unknown>): boolean {
    return this.#setStatus('revisions', namespace, name, status);
  }

  deleteRevision(namespace: string, name: string, actor: Actor): boolean {
    return this.#tx(() => {
      const current = this.getRevision(namespace, name);
      if (!current) return false;
      this.#sql('DELETE FROM revisions WHERE namespace = ? AND name = ?').run(namespace, name);
      this.#revisionSet++;
      this.#rowEvent('DELETED', 'revisions', table.revisions, {
        ...current,
        resourceVersion: this.#bump('resourceVersion'),
      });
      this.#audit(actor, 'revision-delete', namespace, current.service, { revision: name });
      return true;
    });
  }

  getRollout(namespace: string, name: string): RolloutState | undefined {
    return this.#select(table.rollouts, 'WHERE namespace = ? AND name = ?').get(namespace, name)?.state;
  }

  #putRollout(namespace: string, name: string, state: RolloutState): void {
    this.#sql(
      'INSERT INTO rollouts (namespace, name, state, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (namespace, name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
    ).run(namespace, name, JSON.stringify(state), new Date().toISOString());
  }

  /**
   * Stores a Service's rollout and its steps and verdicts in the audit log, in one durable
   * transaction (a restart resumes from the stored step). No-op when the Service is gone.
   */
  setRollout(namespace: string, name: string, state: RolloutState, events: RolloutEvent[], actor: Actor): void {
    this.#tx(() => {
      if (!this.#hasService(namespace, name)) return;
      this.#putRollout(namespace, name, state);
      for (const e of events) this.#audit(actor, e.action, namespace, name, e.detail);
    });
  }

  /** Queues a user's command for the rollout's next decision; false when the Service is gone. */
  addRolloutCommand(namespace: string, name: string, command: RolloutCommand): boolean {
    return this.#tx(() => {
      if (!this.#hasService(namespace, name)) return false;
      const state = this.getRollout(namespace, name) ?? { percent: 0, shares: [] };
      this.#putRollout(namespace, name, { ...state, commands: [...(state.commands ?? []), command] });
      this.#audit('user', `rollout-${command}`, namespace, name, {});
      return true;
    });
  }

  /** Appends an audit entry on its own (scale decisions and the like). */
  record(actor: Actor, action: string, namespace: string, name: string, detail: Record<string, unknown>): void {
    this.derived(() => this.#audit(actor, action, namespace, name, detail));
  }

  // ACME (acme/): accounts and certificates, sealed by the caller; on disk before the call returns,
  // so a restart never orders again what it already holds.

  getAcmeAccount(directory: string): AcmeAccountRow | undefined {
    return this.#select(table.acmeAccounts, 'WHERE directory = ?').get(directory);
  }

  putAcmeAccount(row: AcmeAccountRow): void {
    // (Nothing refers to these rows: a REPLACE, a delete and an insert, is an upsert here.)
    this.#tx(() =>
      this.#sql(table.acmeAccounts.insert.replace('INSERT', 'INSERT OR REPLACE')).run(table.acmeAccounts.encode(row)),
    );
    this.flush();
  }

  listAcmeCertificates(): AcmeCertificateRow[] {
    return this.#select(table.acmeCertificates, 'ORDER BY domain').all();
  }

  putAcmeCertificate(row: AcmeCertificateRow): void {
    this.#tx(() =>
      this.#sql(table.acmeCertificates.insert.replace('INSERT', 'INSERT OR REPLACE')).run(
        table.acmeCertificates.encode(row),
      ),
    );
    this.flush();
  }

  /**
   * Deletes the certificate kept for `domain` (no DomainMapping or host wants it any more), its
   * sealed key overwritten on disk rather than left in a free page (`secure_delete`).
   */
  deleteAcmeCertificate(domain: string): boolean {
    this.sqlite.pragma('secure_delete = ON');
    try {
      const deleted = this.#tx(() => this.#sql('DELETE FROM acme_certificates WHERE domain = ?').run(domain));
      this.flush();
      return deleted.changes > 0;
    } finally {
      this.sqlite.pragma('secure_delete = OFF');
    }
  }

  /**
   * A new epoch for routing snapshot versions, counted durably once per start: versions are
   * `epoch × 10⁹ + n`, so they keep growing across restarts without a disk write per snapshot.
   */
  nextRoutingEpoch(): number {
    const epoch = this.#tx(() => this.#bump('routingEpoch'));
    this.flush();
    return epoch;
  }
}

/** Every table's codec (`rows.ts`), by its primary key. */
const table = {
  services: codec(services, ['namespace', 'name']),
  revisions: codec(revisions, ['namespace', 'name']),
  routes: codec(routes, ['namespace', 'name']),
  domainMappings: codec(domainMappings, ['namespace', 'name']),
  rollouts: codec(rollouts, ['namespace', 'name']),
  events: codec(events, ['resourceVersion']),
  audit: codec(audit, ['id']),
  acmeAccounts: codec(acmeAccounts, ['directory']),
  acmeCertificates: codec(acmeCertificates, ['domain']),
};

/**
 * Whether a row's stored status (`undefined`: no row) is not `status`, whose JSON is `text`. The
 * same text is the same status (the reconciler writes what it computed the same way each time),
 * so most unchanged statuses are told without parsing the stored one.
 */
function statusDiffers(stored: unknown, status: Record<string, unknown>, text: string): boolean {
  if (stored === undefined || stored === text) return false;
  return !jsonEqual(JSON.parse(stored as string), status);
}

/** Rows a page at a time, in namespace-then-name order (see `Store.services`). */
export interface KeyedRows<R> {
  after(after: { namespace: string; name: string } | undefined, n: number): R[];
  countAfter(after: { namespace: string; name: string } | undefined): number;
}

/**
 * The database holds services' env values: its directory is the owner's only (0700) and the file
 * is created 0600 before SQLite opens it, which gives its -wal and -shm files the same mode.
 * Files of an older data dir are tightened too.
 */
function privateFile(file: string): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

/** Who owns what, without the times of the writes (a write that changes nothing keeps the row). */
function ownership(entries: ManagedFieldsEntry[]): string {
  return canonicalJson(entries.map(({ time: _time, ...e }) => e));
}
