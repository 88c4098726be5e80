import type Database from 'better-sqlite3';
import { getTableColumns, getTableName } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';

/**
 * A table's rows as better-sqlite3 reads and writes them, from drizzle's schema (the one source of
 * truth for tables and migrations): column names, and which columns hold JSON.
 *
 * The store's statements bypass drizzle's query builder and row mapping (`store.ts`): prepared
 * once as plain SQL, their rows read as arrays (`.raw()`) and turned into objects here, each JSON
 * column parsed once. Under creates at 64 clients drizzle's session `run`/`get`/`values`, its
 * per-column `mapFromDriverValue`/`mapToDriverValue`, `entity.is`, `mapResultRow` and
 * `fillPlaceholders` were ~20% of the control plane's CPU samples (`bench/scale.mjs --profile`).
 */
export interface Codec<R> {
  /** The table's name in SQL. */
  readonly table: string;
  /** Its columns in SQL, in schema order (`namespace, name, …`), as a SELECT or INSERT lists them. */
  readonly columns: string;
  /** `?, ?, …`, one per column. */
  readonly placeholders: string;
  /** `INSERT INTO table (columns) VALUES (?, …)`: its parameters are `encode`'s values. */
  readonly insert: string;
  /**
   * `UPDATE table SET every other column WHERE its key`: its parameters are `updateParams`'s
   * (the key's columns are not written: a parent key written, even unchanged, has SQLite check
   * its children's foreign keys).
   */
  readonly update: string;
  updateParams(values: readonly unknown[]): unknown[];
  /** Where a property's value is in `encode`'s values. */
  at(key: keyof R & string): number;
  /** A row from its columns' stored values (`.raw()`), JSON columns parsed. */
  decode(values: unknown[]): R;
  /** A row's values to store, in column order (JSON columns as JSON text). */
  encode(row: R): unknown[];
  /**
   * `JSON.stringify(row)` from its stored values (`encode`'s, or a `.raw()` read): the JSON columns'
   * text is used as it is, not parsed and written again (an event's object is the whole row).
   */
  json(values: readonly unknown[]): string;
}

const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** `key`: the properties of the table's primary key. */
export function codec<T extends SQLiteTable>(
  table: T,
  key: (keyof T['$inferSelect'] & string)[],
): Codec<T['$inferSelect']> {
  type R = T['$inferSelect'];
  const cols = Object.entries(getTableColumns(table)).map(([key, c]) => ({
    key,
    // The schema leaves names to drizzle's `casing: 'snake_case'` (the migrations' names).
    column: (c as { keyAsName?: boolean }).keyAsName ? snakeCase(key) : c.name,
    json: c.dataType === 'json',
  }));
  const keys = cols.map((c) => c.key);
  const json = cols.map((c) => c.json);
  // `"key":` of each column, the first without its comma.
  const heads = keys.map((k, i) => `${i === 0 ? '{' : ','}${JSON.stringify(k)}:`);
  const n = cols.length;
  const name = getTableName(table);
  const isKey = cols.map((c) => key.includes(c.key));
  const keyAt = key.map((k) => keys.indexOf(k));
  if (keyAt.includes(-1)) throw new Error(`${name}: no column for a key of ${key.join(', ')}`);
  const setAt = cols.flatMap((_, i) => (isKey[i] ? [] : [i]));
  const columns = cols.map((c) => c.column).join(', ');
  const placeholders = cols.map(() => '?').join(', ');
  return {
    table: name,
    columns,
    placeholders,
    insert: `INSERT INTO ${name} (${columns}) VALUES (${placeholders})`,
    update: `UPDATE ${name} SET ${setAt.map((i) => `${cols[i]?.column} = ?`).join(', ')} WHERE ${keyAt.map((i) => `${cols[i]?.column} = ?`).join(' AND ')}`,
    updateParams: (values) => [...setAt.map((i) => values[i]), ...keyAt.map((i) => values[i])],
    at: (k) => keys.indexOf(k),
    decode(values) {
      const row: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) row[keys[i] as string] = json[i] ? JSON.parse(values[i] as string) : values[i];
      return row as R;
    },
    encode(row) {
      const r = row as Record<string, unknown>;
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) {
        const v = r[keys[i] as string];
        out[i] = json[i] ? JSON.stringify(v) : v;
      }
      return out;
    },
    json(values) {
      let s = '';
      for (let i = 0; i < n; i++) {
        const v = values[i];
        s += heads[i] + (json[i] ? (v as string) : JSON.stringify(v));
      }
      return `${s}}`;
    },
  };
}

/** A prepared SELECT of whole rows (`.raw()`), decoded by its table's codec. */
export class Rows<R> {
  readonly #stmt: Database.Statement<unknown[], unknown[]>;
  readonly #codec: Codec<R>;
  constructor(db: Database.Database, c: Codec<R>, where: string) {
    this.#stmt = db.prepare<unknown[], unknown[]>(`SELECT ${c.columns} FROM ${c.table} ${where}`).raw();
    this.#codec = c;
  }
  get(...params: unknown[]): R | undefined {
    const values = this.#stmt.get(...params);
    return values && this.#codec.decode(values);
  }
  all(...params: unknown[]): R[] {
    return this.#stmt.all(...params).map((v) => this.#codec.decode(v));
  }
}
