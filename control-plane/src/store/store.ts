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
import { and, asc, count, desc, eq, getTableColumns, type SQL, sql } from 'drizzle-orm';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { RolloutCommand, RolloutEvent, RolloutState } from '../rollout/decider.ts';
import * as schema from './schema.ts';
import {
  type AcmeAccountRow,
  type AcmeCertificateRow,
  type AuditRow,
  acmeAccounts,
  acmeCertificates,
  audit,
  counters,
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
  #q: ReturnType<typeof prepareQueries>;
  /**
   * Counts changes to the set of revisions: a revision added or removed, and any rollback (which
   * may take back one). `revisionKeys()` reads the table again only when it moved.
   */
  #revisionSet = 0;
  #revisionKeys: { at: number; keys: readonly RowKey[] } | undefined;
  #revisionKeysQuery: Database.Statement;
  /**
   * The resourceVersion counter inside the open transaction: read at its first bump, counted up
   * here, and written to its row once, just before the transaction commits (an upsert per bump,
   * four per create, was 3% of the CPU under creates). A savepoint rolled back leaves a gap in the
   * numbers, which only ever grow; a transaction rolled back never wrote the row.
   */
  #rv: { value: number; written: number } | undefined;
  #readRv: Database.Statement;
  /** A Service's (or Configuration's) template generation count, without reading and decoding its row. */
  #configGeneration: Database.Statement;
  #routeExists: Database.Statement;
  /** A row's stored status alone (a reconcile's status write compares with it first). */
  #serviceStatusOf: Database.Statement;
  #revisionStatusOf: Database.Statement;
  #totalChanges: Database.Statement;
  #writeRv: Database.Statement;

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
    this.db = drizzle({ client: this.sqlite, schema, casing: 'snake_case' });
    migrate(this.db, { migrationsFolder });
    this.#begin = this.sqlite.prepare('BEGIN IMMEDIATE');
    this.#commit = this.sqlite.prepare('COMMIT');
    this.#rollback = this.sqlite.prepare('ROLLBACK');
    this.#q = prepareQueries(this.db);
    // better-sqlite3 without drizzle: two text columns need no mapping, and drizzle's per-row
    // mapping was most of reading 10,000 keys.
    this.#revisionKeysQuery = this.sqlite.prepare('SELECT namespace, name FROM revisions ORDER BY namespace, name');
    this.#configGeneration = this.sqlite
      .prepare('SELECT config_generation FROM services WHERE namespace = ? AND name = ?')
      .pluck();
    this.#routeExists = this.sqlite.prepare('SELECT 1 FROM routes WHERE namespace = ? AND name = ?').pluck();
    this.#serviceStatusOf = this.sqlite.prepare('SELECT status FROM services WHERE namespace = ? AND name = ?').pluck();
    this.#revisionStatusOf = this.sqlite
      .prepare('SELECT status FROM revisions WHERE namespace = ? AND name = ?')
      .pluck();
    this.#totalChanges = this.sqlite.prepare('SELECT total_changes()').pluck();
    this.#readRv = this.sqlite.prepare("SELECT value FROM counters WHERE name = 'resourceVersion'").pluck();
    this.#writeRv = this.sqlite.prepare(
      "INSERT INTO counters (name, value) VALUES ('resourceVersion', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    );
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
    return this.#rv?.value ?? this.#q.counter.get({ name: 'resourceVersion' })?.value ?? 0;
  }

  /**
   * A Service (by default), a Configuration created directly, or (`any`) whichever of the two
   * holds the name: both stamp revisions from a template.
   */
  getService(namespace: string, name: string, kind: TemplateKind | 'any' = 'Service'): ServiceRow | undefined {
    const row = this.#q.service.get({ namespace, name });
    return row && (kind === 'any' || row.kind === kind) ? row : undefined;
  }

  /** Whether a Service or a Configuration created directly holds the name. */
  #hasService(namespace: string, name: string): boolean {
    return this.#configGeneration.get(namespace, name) !== undefined;
  }

  listServices(namespace?: string, kind: TemplateKind | 'any' = 'Service'): ServiceRow[] {
    const where = and(
      namespace === undefined ? undefined : eq(services.namespace, namespace),
      kind === 'any' ? undefined : eq(services.kind, kind),
    );
    const q = this.db.select().from(services);
    return (where ? q.where(where) : q).orderBy(asc(services.namespace), asc(services.name)).all();
  }

  getRoute(namespace: string, name: string): RouteRow | undefined {
    // Prepared: every create of a Service asks whether a Route holds its name.
    return this.#q.route.get({ namespace, name });
  }

  /** Routes created directly, by namespace and name. */
  listRoutes(namespace?: string): RouteRow[] {
    // Prepared: every reconcile of a service asks for its namespace's Routes (twice), and building
    // the query each time was 8% of the API's CPU under creates at 10,000 services.
    if (namespace !== undefined) return this.#q.routesIn.all({ namespace });
    return this.db.select().from(routes).orderBy(asc(routes.namespace), asc(routes.name)).all();
  }

  /** Every Service's namespace and name, in order (without reading and decoding their objects). */
  serviceKeys(): { namespace: string; name: string }[] {
    return this.#q.serviceKeys.all();
  }

  /**
   * Every Revision's namespace and name, in order: the same array (do not change it) until a
   * revision is added or removed. The console samples every revision each second, and reading
   * 10,000 keys through drizzle each time was 3% of the control plane's CPU under creates.
   */
  revisionKeys(): readonly RowKey[] {
    if (this.#revisionKeys?.at !== this.#revisionSet) {
      this.#revisionKeys = { at: this.#revisionSet, keys: this.#revisionKeysQuery.all() as RowKey[] };
    }
    return this.#revisionKeys.keys;
  }

  /**
   * Services (in `namespace`, or all) in namespace-then-name order, a page at a time: up to `n`
   * after `after`, and how many follow a key (an API list page reads only its rows).
   */
  services(namespace?: string): KeyedRows<ServiceRow> {
    return this.#keyed(this.#q.servicesPage, namespace);
  }

  /** Revisions as `services` gives Services. */
  revisions(namespace?: string): KeyedRows<RevisionRow> {
    return this.#keyed(this.#q.revisionsPage, namespace);
  }

  #keyed<R>(q: PageQueries<R>, namespace: string | undefined): KeyedRows<R> {
    type Key = { namespace: string; name: string } | undefined;
    // Within a namespace, a key from before it starts at its first row; one from after it, past its last.
    const past = (after: Key) => namespace !== undefined && after !== undefined && after.namespace > namespace;
    const args = (after: Key) => ({
      namespace: namespace ?? '',
      afterNamespace: after?.namespace ?? '',
      afterName: namespace === undefined || after?.namespace === namespace ? (after?.name ?? '') : '',
    });
    const scoped = namespace === undefined ? 'all' : 'in';
    return {
      // SQLite reads a negative LIMIT as none.
      after: (after, n) =>
        past(after) ? [] : (q[scoped].page.all({ ...args(after), n: Number.isFinite(n) ? n : -1 }) as R[]),
      countAfter: (after) => (past(after) ? 0 : (q[scoped].count.get(args(after)) as { n: number }).n),
    };
  }

  /** Whether the Revision exists (without reading and decoding its row). */
  hasRevision(namespace: string, name: string): boolean {
    return this.#q.revisionExists.get({ namespace, name }) !== undefined;
  }

  /** The Service (or Configuration) a Revision belongs to, without reading and decoding its row. */
  revisionService(namespace: string, name: string): string | undefined {
    return this.#q.revisionService.get({ namespace, name })?.service;
  }

  getRevision(namespace: string, name: string): RevisionRow | undefined {
    return this.#q.revision.get({ namespace, name });
  }

  /** Revisions, oldest first (in a namespace, of one service, or all). */
  listRevisions(namespace?: string, service?: string): RevisionRow[] {
    if (namespace !== undefined && service !== undefined) return this.#q.revisionsOf.all({ namespace, service });
    const where =
      namespace === undefined
        ? undefined
        : service === undefined
          ? eq(revisions.namespace, namespace)
          : and(eq(revisions.namespace, namespace), eq(revisions.service, service));
    const q = this.db.select().from(revisions);
    return (where ? q.where(where) : q)
      .orderBy(asc(revisions.namespace), asc(revisions.service), asc(revisions.configGeneration))
      .all();
  }

  /** The revision the template made last. */
  latestRevision(namespace: string, service: string): RevisionRow | undefined {
    return this.#q.latestRevision.get({ namespace, service });
  }

  auditLog(namespace?: string, name?: string, limit = 100): AuditRow[] {
    const where =
      namespace === undefined
        ? undefined
        : name === undefined
          ? eq(audit.namespace, namespace)
          : and(eq(audit.namespace, namespace), eq(audit.name, name));
    const q = this.db.select().from(audit);
    return (where ? q.where(where) : q).orderBy(desc(audit.id)).limit(limit).all();
  }

  // Writes: each one atomic (a savepoint) inside the open group's transaction.

  #tx<T>(fn: () => T): T {
    if (this.#syncFailed) throw this.#syncFailed;
    if (!this.sqlite.inTransaction) this.#open();
    if (this.#batch) this.#batch.writes++;
    // Nested in the group's transaction, better-sqlite3 runs `fn` in a savepoint: a write that
    // throws (a conflict) is undone alone and the group goes on.
    try {
      return this.sqlite.transaction(fn)();
    } catch (e) {
      this.#revisionSet++;
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

  #event(type: EventType, resource: EventResource, row: ServiceRow | RevisionRow | DomainMappingRow | RouteRow): void {
    this.#q.event.run({
      resourceVersion: row.resourceVersion,
      resource,
      type,
      namespace: row.namespace,
      name: row.name,
      object: row,
    });
    this.#eventsPending = true;
    if (row.resourceVersion % 256 === 0) this.#compactThrough(row.resourceVersion - Store.eventWindow);
  }

  #compactThrough(rv: number): void {
    if (rv <= this.compactedThrough()) return;
    this.db.delete(events).where(sql`${events.resourceVersion} <= ${rv}`).run();
    this.db
      .insert(counters)
      .values({ name: 'eventsCompactedThrough', value: rv })
      .onConflictDoUpdate({ target: counters.name, set: { value: rv } })
      .run();
  }

  /** Drops the history up to and including `rv` (a watch from before it gets 410 Expired). */
  compactEvents(rv: number): void {
    this.#tx(() => this.#compactThrough(Math.min(rv, this.resourceVersion())));
  }

  /** The newest resourceVersion whose history is gone: a watch must start at or after it. */
  compactedThrough(): number {
    return this.#q.counter.get({ name: 'eventsCompactedThrough' })?.value ?? 0;
  }

  /** Events after `rv`, oldest first. */
  eventsAfter(rv: number, limit = 10_000): EventRow[] {
    return this.db
      .select()
      .from(events)
      .where(sql`${events.resourceVersion} > ${rv}`)
      .orderBy(asc(events.resourceVersion))
      .limit(limit)
      .all();
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
    let out: T;
    const before = this.#totalChanges.get();
    try {
      out = this.sqlite
        .transaction(() => {
          const r = fn();
          this.#saveRv();
          return r;
        })
        .immediate();
    } catch (e) {
      this.#revisionSet++;
      throw e;
    } finally {
      this.#rv = undefined;
    }
    // A transaction that wrote nothing (a reconcile whose statuses stand) needs no fsync.
    if (this.#totalChanges.get() !== before) this.#committed();
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
      this.#rv ??= { value: (this.#readRv.get() as number | undefined) ?? 0, written: Number.NaN };
      return ++this.#rv.value;
    }
    return (this.#q.bump.get({ name }) as { value: number }).value;
  }

  /** Writes the open transaction's resourceVersion counter to its row (before it commits). */
  #saveRv(): void {
    if (this.#rv && this.#rv.value !== this.#rv.written) {
      this.#writeRv.run(this.#rv.value);
      this.#rv.written = this.#rv.value;
    }
  }

  #audit(actor: Actor, action: string, namespace: string, name: string, detail: Record<string, unknown>): void {
    this.#q.audit.run({ at: new Date().toISOString(), actor, action, namespace, name, detail });
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
      if (kind === 'Service' && this.#routeExists.get(namespace, name) !== undefined) return undefined;
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
      this.#q.insertService.run(row);
      this.#event('ADDED', 'services', row);
      this.#audit(actor, kind === 'Service' ? 'create' : 'create-configuration', namespace, name, { spec: write.spec });
      return row;
    });
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
      this.#q.updateService.run(next);
      this.#event('MODIFIED', 'services', next);
      const trafficChanged = !jsonEqual(current.spec.traffic, write.spec.traffic);
      this.#audit(actor, action, namespace, name, {
        generation: next.generation,
        ...(specChanged ? { spec: write.spec } : { labels: write.labels, annotations: write.annotations }),
        ...(trafficChanged ? { traffic: write.spec.traffic } : {}),
      });
      return next;
    });
  }

  /** Writes a Service's status when it changed; returns whether it did. */
  setServiceStatus(namespace: string, name: string, status: Record<string, unknown>): boolean {
    return this.derived(() => {
      // Most reconciles (every resync) change nothing: the status alone is read to tell.
      if (!this.#statusDiffers(this.#serviceStatusOf, namespace, name, status)) return false;
      const current = this.getService(namespace, name, 'any');
      if (!current) return false;
      const resourceVersion = this.#bump('resourceVersion');
      this.#q.serviceStatus.run({ namespace, name, status, resourceVersion });
      this.#event('MODIFIED', 'services', { ...current, status, resourceVersion });
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
      this.db
        .update(services)
        .set({ status, managedFields: owners, resourceVersion: next.resourceVersion })
        .where(and(eq(services.namespace, namespace), eq(services.name, name)))
        .run();
      this.#event('MODIFIED', 'services', next);
      this.#audit(actor, 'status', namespace, name, {});
      return next;
    });
  }

  // Routes created directly (a Service's own Route is a view of the Service).

  /** Creates a Route; `undefined` when a Route, or a Service (which owns the Route of its name), has the name. */
  createRoute(namespace: string, name: string, uid: string, write: RouteWrite, actor: Actor): RouteRow | undefined {
    return this.#tx(() => {
      if (this.getRoute(namespace, name) || this.getService(namespace, name)) return undefined;
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
      this.db.insert(routes).values(row).run();
      this.#event('ADDED', 'routes', row);
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
      this.db
        .update(routes)
        .set({
          labels: next.labels,
          annotations: next.annotations,
          spec: next.spec,
          managedFields: next.managedFields,
          generation: next.generation,
          resourceVersion: next.resourceVersion,
        })
        .where(and(eq(routes.namespace, namespace), eq(routes.name, name)))
        .run();
      this.#event('MODIFIED', 'routes', next);
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
    this.db
      .update(routes)
      .set({ status, managedFields: owners, resourceVersion: next.resourceVersion })
      .where(and(eq(routes.namespace, namespace), eq(routes.name, name)))
      .run();
    this.#event('MODIFIED', 'routes', next);
    return next;
  }

  deleteRoute(namespace: string, name: string, actor: Actor): boolean {
    return this.#tx(() => {
      const current = this.getRoute(namespace, name);
      if (!current) return false;
      this.db
        .delete(routes)
        .where(and(eq(routes.namespace, namespace), eq(routes.name, name)))
        .run();
      this.#event('DELETED', 'routes', { ...current, resourceVersion: this.#bump('resourceVersion') });
      this.#audit(actor, 'delete-route', namespace, name, { generation: current.generation });
      return true;
    });
  }

  // DomainMappings (serving.knative.dev/v1beta1), in the watch event log as Services and Revisions.

  getDomainMapping(namespace: string, name: string): DomainMappingRow | undefined {
    return this.#q.domainMapping.get({ namespace, name });
  }

  /** DomainMappings in a namespace or all, by namespace and name. */
  listDomainMappings(namespace?: string): DomainMappingRow[] {
    if (namespace !== undefined) return this.#q.domainMappingsIn.all({ namespace });
    return this.db.select().from(domainMappings).orderBy(asc(domainMappings.namespace), asc(domainMappings.name)).all();
  }

  /** Every mapping of `domain`, oldest claim first (the first one holds the domain). */
  domainClaims(domain: string): DomainMappingRow[] {
    return this.db
      .select()
      .from(domainMappings)
      .where(eq(domainMappings.name, domain))
      .orderBy(asc(domainMappings.createdAt), asc(domainMappings.resourceVersion))
      .all();
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
      this.db.insert(domainMappings).values(row).run();
      this.#event('ADDED', 'domainmappings', row);
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
      this.db
        .update(domainMappings)
        .set(next)
        .where(and(eq(domainMappings.namespace, namespace), eq(domainMappings.name, input.name)))
        .run();
      this.#event('MODIFIED', 'domainmappings', next);
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
      this.db
        .update(domainMappings)
        .set({ status, managedFields: owners, resourceVersion: next.resourceVersion })
        .where(and(eq(domainMappings.namespace, namespace), eq(domainMappings.name, name)))
        .run();
      this.#event('MODIFIED', 'domainmappings', next);
      return next;
    });
  }

  /** Writes a DomainMapping's status when it changed; returns whether it did. */
  setDomainMappingStatus(namespace: string, name: string, status: Record<string, unknown>): boolean {
    return this.derived(() => {
      const current = this.getDomainMapping(namespace, name);
      if (!current || jsonEqual(current.status, status)) return false;
      const resourceVersion = this.#bump('resourceVersion');
      this.db
        .update(domainMappings)
        .set({ status, resourceVersion })
        .where(and(eq(domainMappings.namespace, namespace), eq(domainMappings.name, name)))
        .run();
      this.#event('MODIFIED', 'domainmappings', { ...current, status, resourceVersion });
      return true;
    });
  }

  deleteDomainMapping(namespace: string, name: string, actor: Actor): boolean {
    return this.#tx(() => {
      const current = this.getDomainMapping(namespace, name);
      if (!current) return false;
      this.db
        .delete(domainMappings)
        .where(and(eq(domainMappings.namespace, namespace), eq(domainMappings.name, name)))
        .run();
      this.#event('DELETED', 'domainmappings', { ...current, resourceVersion: this.#bump('resourceVersion') });
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
        this.#event('DELETED', 'revisions', { ...rev, resourceVersion: this.#bump('resourceVersion') });
      }
      this.db
        .delete(services)
        .where(and(eq(services.namespace, namespace), eq(services.name, name)))
        .run();
      this.#revisionSet++;
      this.#event('DELETED', 'services', { ...current, resourceVersion: this.#bump('resourceVersion') });
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
      const generation = this.#configGeneration.get(rev.namespace, rev.service) as number | undefined;
      if (generation === undefined || generation + 1 !== rev.configGeneration) return undefined;
      if (this.getRevision(rev.namespace, rev.name)) return undefined;
      const row: RevisionRow = {
        ...rev,
        status: {},
        resourceVersion: this.#bump('resourceVersion'),
        createdAt: new Date().toISOString(),
      };
      this.#q.insertRevision.run(row);
      this.#revisionSet++;
      this.#event('ADDED', 'revisions', row);
      this.#q.configGeneration.run({
        namespace: rev.namespace,
        name: rev.service,
        configGeneration: rev.configGeneration,
      });
      this.#audit(actor, 'revision-create', rev.namespace, rev.service, {
        revision: rev.name,
        configGeneration: rev.configGeneration,
      });
      return row;
    });
  }

  setRevisionStatus(namespace: string, name: string, status: Record<string, unknown>): boolean {
    return this.derived(() => {
      if (!this.#statusDiffers(this.#revisionStatusOf, namespace, name, status)) return false;
      const current = this.getRevision(namespace, name);
      if (!current) return false;
      const resourceVersion = this.#bump('resourceVersion');
      this.#q.revisionStatus.run({ namespace, name, status, resourceVersion });
      this.#event('MODIFIED', 'revisions', { ...current, status, resourceVersion });
      return true;
    });
  }

  /** Whether the row exists and its stored status is not `status`. */
  #statusDiffers(query: Database.Statement, namespace: string, name: string, status: Record<string, unknown>): boolean {
    const stored = query.get(namespace, name) as string | undefined;
    return stored !== undefined && !jsonEqual(JSON.parse(stored), status);
  }

  deleteRevision(namespace: string, name: string, actor: Actor): boolean {
    return this.#tx(() => {
      const current = this.getRevision(namespace, name);
      if (!current) return false;
      this.db
        .delete(revisions)
        .where(and(eq(revisions.namespace, namespace), eq(revisions.name, name)))
        .run();
      this.#revisionSet++;
      this.#event('DELETED', 'revisions', { ...current, resourceVersion: this.#bump('resourceVersion') });
      this.#audit(actor, 'revision-delete', namespace, current.service, { revision: name });
      return true;
    });
  }

  getRollout(namespace: string, name: string): RolloutState | undefined {
    return this.#q.rollout.get({ namespace, name })?.state;
  }

  /**
   * Stores a Service's rollout and its steps and verdicts in the audit log, in one durable
   * transaction (a restart resumes from the stored step). No-op when the Service is gone.
   */
  setRollout(namespace: string, name: string, state: RolloutState, events: RolloutEvent[], actor: Actor): void {
    this.#tx(() => {
      if (!this.#hasService(namespace, name)) return;
      const updatedAt = new Date().toISOString();
      this.#q.setRollout.run({ namespace, name, state, updatedAt });
      for (const e of events) this.#audit(actor, e.action, namespace, name, e.detail);
    });
  }

  /** Queues a user's command for the rollout's next decision; false when the Service is gone. */
  addRolloutCommand(namespace: string, name: string, command: RolloutCommand): boolean {
    return this.#tx(() => {
      if (!this.#hasService(namespace, name)) return false;
      const state = this.getRollout(namespace, name) ?? { percent: 0, shares: [] };
      const next = { ...state, commands: [...(state.commands ?? []), command] };
      const updatedAt = new Date().toISOString();
      this.db
        .insert(rollouts)
        .values({ namespace, name, state: next, updatedAt })
        .onConflictDoUpdate({ target: [rollouts.namespace, rollouts.name], set: { state: next, updatedAt } })
        .run();
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
    return this.db.select().from(acmeAccounts).where(eq(acmeAccounts.directory, directory)).get();
  }

  putAcmeAccount(row: AcmeAccountRow): void {
    this.#tx(() =>
      this.db.insert(acmeAccounts).values(row).onConflictDoUpdate({ target: acmeAccounts.directory, set: row }).run(),
    );
    this.flush();
  }

  listAcmeCertificates(): AcmeCertificateRow[] {
    return this.db.select().from(acmeCertificates).orderBy(asc(acmeCertificates.domain)).all();
  }

  putAcmeCertificate(row: AcmeCertificateRow): void {
    this.#tx(() =>
      this.db
        .insert(acmeCertificates)
        .values(row)
        .onConflictDoUpdate({ target: acmeCertificates.domain, set: row })
        .run(),
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
      const deleted = this.#tx(() => this.db.delete(acmeCertificates).where(eq(acmeCertificates.domain, domain)).run());
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

const p = sql.placeholder;

/** Rows a page at a time, in namespace-then-name order (see `Store.services`). */
export interface KeyedRows<R> {
  after(after: { namespace: string; name: string } | undefined, n: number): R[];
  countAfter(after: { namespace: string; name: string } | undefined): number;
}

interface PageQueries<R> {
  all: { page: { all(v: Record<string, unknown>): R[] }; count: { get(v: Record<string, unknown>): unknown } };
  in: { page: { all(v: Record<string, unknown>): R[] }; count: { get(v: Record<string, unknown>): unknown } };
}

/**
 * A page of a table keyed by (namespace, name) after a key, by SQLite's row-value comparison on
 * the primary key's index, and the count of what follows; over one namespace or all.
 */
function pageQueries(db: BetterSQLite3Database<typeof schema>, table: typeof services | typeof revisions, only?: SQL) {
  const after = sql`(${table.namespace}, ${table.name}) > (${p('afterNamespace')}, ${p('afterName')})`;
  // In one namespace, the name alone (so SQLite searches the index from the key, not the namespace's start).
  const where = {
    all: and(after, only),
    in: and(eq(table.namespace, p('namespace')), sql`${table.name} > ${p('afterName')}`, only),
  };
  const make = (w: SQL | undefined) => ({
    page: db
      .select()
      .from(table as typeof services)
      .where(w)
      .orderBy(asc(table.namespace), asc(table.name))
      .limit(p('n') as never)
      .prepare(),
    count: db
      .select({ n: count() })
      .from(table as typeof services)
      .where(w)
      .prepare(),
  });
  return { all: make(where.all), in: make(where.in) };
}

/**
 * The queries every write and reconcile makes, prepared once: drizzle builds a query's SQL anew
 * and better-sqlite3 compiles it on every call otherwise, which was half of the control plane's
 * CPU under the scale benchmark (`bench/scale.mjs --profile`). Placeholders of JSON columns are
 * encoded by their column, as in an unprepared query.
 */
function prepareQueries(db: BetterSQLite3Database<typeof schema>) {
  const svcKey = and(eq(services.namespace, p('namespace')), eq(services.name, p('name')));
  const revKey = and(eq(revisions.namespace, p('namespace')), eq(revisions.name, p('name')));
  const ofService = and(eq(revisions.namespace, p('namespace')), eq(revisions.service, p('service')));
  const values = (names: string[]) => Object.fromEntries(names.map((n) => [n, p(n)]));
  return {
    counter: db
      .select()
      .from(counters)
      .where(eq(counters.name, p('name')))
      .prepare(),
    bump: db
      .insert(counters)
      .values({ name: p('name'), value: 1 })
      .onConflictDoUpdate({ target: counters.name, set: { value: sql`${counters.value} + 1` } })
      .returning()
      .prepare(),
    service: db.select().from(services).where(svcKey).prepare(),
    // Rows of `services` that are Services (Configurations created directly are rows too).
    servicesPage: pageQueries(db, services, eq(services.kind, 'Service')) as unknown as PageQueries<ServiceRow>,
    revisionsPage: pageQueries(db, revisions) as unknown as PageQueries<RevisionRow>,
    serviceKeys: db
      .select({ namespace: services.namespace, name: services.name })
      .from(services)
      .orderBy(asc(services.namespace), asc(services.name))
      .prepare(),
    insertService: db
      .insert(services)
      .values(values(Object.keys(getTableColumns(services))) as never)
      .prepare(),
    updateService: db
      .update(services)
      .set(values(['labels', 'annotations', 'spec', 'managedFields', 'generation', 'resourceVersion']) as never)
      .where(svcKey)
      .prepare(),
    serviceStatus: db
      .update(services)
      .set({ status: p('status') as never, resourceVersion: p('resourceVersion') as never })
      .where(svcKey)
      .prepare(),
    configGeneration: db
      .update(services)
      .set({ configGeneration: p('configGeneration') as never })
      .where(svcKey)
      .prepare(),
    revision: db.select().from(revisions).where(revKey).prepare(),
    revisionExists: db.select({ name: revisions.name }).from(revisions).where(revKey).prepare(),
    revisionService: db.select({ service: revisions.service }).from(revisions).where(revKey).prepare(),
    revisionsOf: db.select().from(revisions).where(ofService).orderBy(asc(revisions.configGeneration)).prepare(),
    latestRevision: db
      .select()
      .from(revisions)
      .where(ofService)
      .orderBy(desc(revisions.configGeneration))
      .limit(1)
      .prepare(),
    insertRevision: db
      .insert(revisions)
      .values(values(Object.keys(getTableColumns(revisions))) as never)
      .prepare(),
    revisionStatus: db
      .update(revisions)
      .set({ status: p('status') as never, resourceVersion: p('resourceVersion') as never })
      .where(revKey)
      .prepare(),
    event: db
      .insert(events)
      .values(values(['resourceVersion', 'resource', 'type', 'namespace', 'name', 'object']) as never)
      .prepare(),
    audit: db
      .insert(audit)
      .values(values(['at', 'actor', 'action', 'namespace', 'name', 'detail']) as never)
      .prepare(),
    rollout: db
      .select()
      .from(rollouts)
      .where(and(eq(rollouts.namespace, p('namespace')), eq(rollouts.name, p('name'))))
      .prepare(),
    setRollout: db
      .insert(rollouts)
      .values(values(['namespace', 'name', 'state', 'updatedAt']) as never)
      .onConflictDoUpdate({
        target: [rollouts.namespace, rollouts.name],
        set: { state: sql`excluded.state`, updatedAt: sql`excluded.updated_at` },
      })
      .prepare(),
    domainMapping: db
      .select()
      .from(domainMappings)
      .where(and(eq(domainMappings.namespace, p('namespace')), eq(domainMappings.name, p('name'))))
      .prepare(),
    domainMappingsIn: db
      .select()
      .from(domainMappings)
      .where(eq(domainMappings.namespace, p('namespace')))
      .orderBy(asc(domainMappings.name))
      .prepare(),
    route: db
      .select()
      .from(routes)
      .where(and(eq(routes.namespace, p('namespace')), eq(routes.name, p('name'))))
      .prepare(),
    routesIn: db
      .select()
      .from(routes)
      .where(eq(routes.namespace, p('namespace')))
      .orderBy(asc(routes.name))
      .prepare(),
  };
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
