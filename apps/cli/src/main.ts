#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { API_KEY_SCOPES, createApiKey, DEFAULT_OWNER, listApiKeys, parseOwnerName, revokeApiKey, type ApiKeyScope } from '@nucat/auth';
import { findFeedId } from '@nucat/catalog';
import { loadConfig } from '@nucat/config';
import { createDb, migrateToLatest, type Db } from '@nucat/db';
import { DELETE_USAGE, runDeleteCommand } from './commands/delete.js';
import { MIRROR_USAGE, runMirrorCommand } from './commands/mirror.js';
import { VERIFY_USAGE, runVerifyCommand } from './commands/verify.js';
import { REBUILD_USAGE, runRebuildCommand } from './commands/rebuild.js';
import { PUSH_USAGE, runPushCommand } from './commands/push.js';
import { STATUS_USAGE, runStatusCommand } from './commands/status.js';
import { OWNERS_USAGE, PREFIXES_USAGE, runOwnersCommand, runPrefixesCommand } from './commands/ownership.js';
import { GC_USAGE, runGcCommand } from './commands/gc.js';
import { INFO_USAGE, runInfoCommand } from './commands/info.js';

const USAGE = `nucat <command>

  migrate                               apply database migrations
  keys create --name N [--owner O] [--scopes push,push-version,unlist,read] [--ids 'Contoso.*'] [--expires-days D]
                                        create an API key; prints the key (shown once).
                                        Default: owner 'default', every scope, every id, no expiry.
                                        A key pushes and unlists only ids its owner owns (a new id is
                                        claimed by its first push); see 'owners' and 'prefixes'. 'read' alone makes a
                                        read-only token for a private feed (NUCAT_PRIVATE=true); every
                                        scope may read. --ids limits what a key may change, not read.
  keys list                             list keys (never their secrets): id, name, state, scopes, ids, expiry,
                                        and owner unless it is 'default'
  keys revoke <id|name>                 revoke a key (a private feed's read side may accept it for up
                                        to 10 s more: verified keys are cached that long)
${STATUS_USAGE}
${OWNERS_USAGE}
${PREFIXES_USAGE}
${INFO_USAGE}
${GC_USAGE}
${PUSH_USAGE}
${DELETE_USAGE}
${MIRROR_USAGE}
${VERIFY_USAGE}
${REBUILD_USAGE}

Environment: DATABASE_URL, NUCAT_FEED (see the README for all variables).`;

function fail(message: string): never {
  process.stderr.write(`nucat: ${message}\n`);
  process.exit(2);
}

async function withDb<T>(fn: (db: Db, feedId: number) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  const db = createDb({ url: config.database.url, poolSize: 2 });
  try {
    const feedId = await findFeedId(db, config.feed.name);
    if (feedId === undefined) fail(`feed '${config.feed.name}' not found: run 'nucat migrate' first`);
    return await fn(db, feedId);
  } finally {
    await db.destroy();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  switch (command) {
    case 'migrate': {
      const config = loadConfig(process.env);
      const db = createDb({ url: config.database.url, poolSize: 2 });
      try {
        const applied = await migrateToLatest(db);
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
      } finally {
        await db.destroy();
      }
      return;
    }
    case 'keys': {
      if (sub === 'create') {
        const { values } = parseArgs({
          args: rest,
          options: {
            name: { type: 'string' },
            owner: { type: 'string' },
            scopes: { type: 'string' },
            ids: { type: 'string' },
            'expires-days': { type: 'string' },
          },
        });
        if (!values.name) fail('keys create needs --name');
        const scopes = values.scopes?.split(',').map((s) => s.trim()).filter((s) => s !== '') as ApiKeyScope[] | undefined;
        if (scopes && scopes.length === 0) fail(`--scopes needs at least one of ${API_KEY_SCOPES.join(', ')}`);
        for (const s of scopes ?? []) if (!API_KEY_SCOPES.includes(s)) fail(`unknown scope '${s}' (known: ${API_KEY_SCOPES.join(', ')})`);
        if (values.owner !== undefined && parseOwnerName(values.owner) === undefined) {
          fail(`invalid --owner '${values.owner}': letters, digits, '.', '_', '-' (at most 64, starting with a letter or digit)`);
        }
        const daysText = values['expires-days'];
        const days = daysText !== undefined ? Number(daysText) : undefined;
        if (days !== undefined && !(Number.isFinite(days) && days > 0 && days <= 36_500)) {
          fail('--expires-days must be a positive number of days (at most 36500)');
        }
        const created = await withDb((db, feedId) =>
          createApiKey(db, {
            feedId,
            name: values.name!,
            ...(values.owner !== undefined ? { owner: values.owner } : {}),
            ...(scopes ? { scopes } : {}),
            ...(values.ids ? { idGlobs: values.ids.split(',').map((s) => s.trim()) } : {}),
            ...(days ? { expiresAt: new Date(Date.now() + days * 86_400_000) } : {}),
          }),
        );
        process.stdout.write(`${created.key}\n`);
        return;
      }
      if (sub === 'list') {
        const keys = await withDb((db, feedId) => listApiKeys(db, feedId));
        for (const k of keys) {
          const state = k.revoked_at ? 'revoked' : k.expires_at && k.expires_at <= new Date() ? 'expired' : 'active';
          const expires = k.expires_at ? k.expires_at.toISOString() : 'never';
          process.stdout.write(
            `${k.id}  ${k.name}  ${state}  scopes=${k.scopes.join(',')}  ids=${k.id_globs.join(',')}  expires=${expires}` +
              `${k.owner === DEFAULT_OWNER ? '' : `  owner=${k.owner}`}\n`,
          );
        }
        return;
      }
      if (sub === 'revoke') {
        const target = rest[0] ?? fail('keys revoke needs a key id or name');
        const n = await withDb((db, feedId) => revokeApiKey(db, feedId, target));
        if (n === 0) fail(`no active key '${target}'`);
        process.stdout.write(`revoked ${n} key(s)\n`);
        return;
      }
      fail(`unknown keys command '${sub ?? ''}'\n\n${USAGE}`);
    }
    case 'status':
      process.exitCode = await runStatusCommand(argv.slice(1));
      return;
    case 'push':
      process.exitCode = await runPushCommand(argv.slice(1));
      return;
    case 'delete':
    case 'mirror':
    case 'verify': {
      const run = { delete: runDeleteCommand, mirror: runMirrorCommand, verify: runVerifyCommand }[command];
      process.exitCode = await run(argv.slice(1));
      return;
    }
    case 'owners':
      process.exitCode = await runOwnersCommand(argv.slice(1));
      return;
    case 'prefixes':
      process.exitCode = await runPrefixesCommand(argv.slice(1));
      return;
    case 'info':
      process.exitCode = await runInfoCommand(argv.slice(1));
      return;
    case 'gc':
      process.exitCode = await runGcCommand(argv.slice(1));
      return;
    case 'rebuild':
      process.exitCode = await runRebuildCommand(argv.slice(1));
      return;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command '${command}'\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`nucat: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
