import { createServer } from 'node:net';
import pg from 'pg';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, createTestRedisPrefix, freePort } from '../src/index.js';

describe('createTestDatabase', () => {
  it('creates an empty test_<uuid> database that drop() removes', async () => {
    const db = await createTestDatabase();
    expect(db.name).toMatch(/^test_[0-9a-f]{32}$/);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ name: string }>('SELECT current_database() AS name');
    expect(rows[0]?.name).toBe(db.name);
    // Left open on purpose: drop() must force-close it.
    client.on('error', () => {});

    await db.drop();
    await db.drop();
    const admin = new pg.Client({ connectionString: process.env['NUCAT_TEST_DATABASE_URL'] || 'postgres://nucat:nucat@127.0.0.1:5432/nucat' });
    await admin.connect();
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    await admin.end();
    expect(exists.rowCount).toBe(0);
  });
});

describe('createTestRedisPrefix', () => {
  it('deletes only the keys under its prefix', async () => {
    const mine = createTestRedisPrefix();
    const other = createTestRedisPrefix();
    expect(mine.prefix).toMatch(/^test-[0-9a-f-]{36}$/);
    const redis = new Redis(mine.url);
    try {
      await redis.set(`${mine.prefix}:queue:a`, '1');
      await redis.set(`${mine.prefix}:queue:b`, '2');
      await redis.set(`${other.prefix}:queue:a`, '3');

      await mine.cleanup();

      expect(await redis.exists(`${mine.prefix}:queue:a`, `${mine.prefix}:queue:b`)).toBe(0);
      expect(await redis.get(`${other.prefix}:queue:a`)).toBe('3');
    } finally {
      await other.cleanup();
      await redis.quit();
    }
  });
});

describe('freePort', () => {
  it('returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
    expect(port).toBeGreaterThan(0);
  });
});
