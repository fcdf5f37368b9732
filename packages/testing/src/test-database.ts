import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** Admin URL used when `NUCAT_TEST_DATABASE_URL` is not set. */
export const DEFAULT_TEST_DATABASE_URL = 'postgres://nucat:nucat@127.0.0.1:5432/nucat';

/** A throwaway PostgreSQL database. */
export interface TestDatabase {
  /** Connection URL of the new, empty database (no migrations applied). */
  readonly url: string;
  /** Database name, `test_<uuid without dashes>`. */
  readonly name: string;
  /** Drops the database, closing any connections still open to it. Safe to call twice. */
  drop(): Promise<void>;
}

/**
 * Creates an empty database named `test_<uuid without dashes>` through the admin URL in
 * `NUCAT_TEST_DATABASE_URL` (its role needs CREATEDB). Migrations are the caller's job.
 *
 * @defaultValue admin URL {@link DEFAULT_TEST_DATABASE_URL}
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env['NUCAT_TEST_DATABASE_URL'] || DEFAULT_TEST_DATABASE_URL;
  const name = `test_${randomUUID().replace(/-/g, '')}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      // WITH (FORCE) may not terminate a backend of another role (an autovacuum worker, say)
      // unless the role is in pg_signal_backend; such backends finish on their own, so retry.
      for (let attempt = 1; ; attempt++) {
        try {
          await withAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
          return;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (attempt >= 20 || (code !== '42501' && code !== '55006')) throw err;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    },
  };
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
