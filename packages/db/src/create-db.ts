import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/** Options of {@link createDb}. */
export interface DbOptions {
  /** A PostgreSQL connection URL. */
  url: string;
  /** Pool size. @defaultValue 10 */
  poolSize?: number;
}

/** Creates a Kysely instance over a pg pool. `db.destroy()` closes the pool. */
export function createDb(options: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // A dead server must not hang a request forever: fail fast so the caller can answer 503.
    connectionTimeoutMillis: 5_000,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener the
  // process would crash. The next checkout gets a fresh connection.
  pool.on('error', () => {});
  // A client checked out by Kysely (a query or transaction in progress) has no pool listener: when
  // the server goes away (restart, failover) it emits 'error' on the client itself, which would
  // crash the process. The query in flight still fails with that error (the caller answers 503),
  // and the broken client is discarded when it is released.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
