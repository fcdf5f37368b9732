import { sql, type Kysely } from 'kysely';

/**
 * Catalog appends in one statement (issue #5, push throughput).
 *
 * Appending a commit used to take seven statements while the feed's `catalog_heads` row was locked
 * (lock, insert the commit, insert the items, update the head, notify, update `packages`, commit), each
 * waiting for the application to send the next one. These functions do the same work inside the
 * database, so the lock lives for one statement plus the `COMMIT`:
 *
 * - `nucat_append_catalog_commit(feed_id, commit_id, items, max_page_items)` locks the head row, takes
 *   the commit timestamp `max(now, last + 1 ms)` in whole milliseconds from the database clock (after the
 *   lock is granted), inserts the commit and its items in order, applies each item's `package` change to
 *   its `packages` row, moves the head, queues the `nucat_catalog` notification and returns the timestamp.
 *   `items` is a JSON array of `{ type, lowerId, lowerVersion, data, stamps, package }`: `stamps` lists
 *   the places in `data` that hold the commit timestamp (`{ path: [keys…], format: 'catalog' | 'iso' }`,
 *   written `2025-03-01T10:00:00.1230000Z` or `2025-03-01T10:00:00.123Z`); `package`, when present, is
 *   `{ created?, listed?, deleted? }` and always sets `last_commit_timestamp` to the commit time
 *   (`created: true` sets `created` to it too).
 * - `nucat_ingest_packages(feed_id, requests, max_page_items, lock_timeout_ms)` claims several new id+versions and appends
 *   one commit for each claimed one, in one transaction (group commit of concurrent pushes). `requests`
 *   is a JSON array of `{ claim: { lowerId, lowerVersion, id, version, normalizedVersion, listed,
 *   semver2, packageHash, packageSize }, commitId, items }`. Every claim is made first, in key order
 *   (`INSERT … ON CONFLICT DO NOTHING` on the primary key: a version that exists or existed — deleted
 *   rows stay — is not claimed), and only then is the head locked, so two such transactions never wait
 *   on each other's claims in opposite orders. A `lock_timeout_ms` that is not null is set as the
 *   transaction's `lock_timeout` first (0 = no limit), saving a statement. Returns one row per request:
 *   its index (0-based) and its commit timestamp, null when the id+version was already claimed.
 *
 * Ordering is unchanged (architecture.md, "Source of truth"; reliability.md §1 fix 1): appends are
 * serialised by the head row lock, held until the transaction commits, and timestamps strictly increase.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION nucat_append_catalog_commit(p_feed_id integer, p_commit_id uuid, p_items jsonb, p_max_page_items integer)
    RETURNS timestamptz LANGUAGE plpgsql AS $$
    DECLARE
      v_last timestamptz;
      v_page integer;
      v_page_count integer;
      v_count integer := jsonb_array_length(p_items);
      v_ts timestamptz;
      v_catalog jsonb;
      v_iso jsonb;
      v_item jsonb;
      v_data jsonb;
      v_stamp jsonb;
      v_package jsonb;
    BEGIN
      IF v_count = 0 THEN
        RAISE EXCEPTION 'a catalog commit needs at least one item';
      END IF;
      SELECT last_commit_timestamp, page_number, page_item_count INTO v_last, v_page, v_page_count
      FROM catalog_heads WHERE feed_id = p_feed_id FOR UPDATE;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'feed % has no catalog head', p_feed_id;
      END IF;
      -- Taken once the lock is granted: no later commit can get an earlier timestamp.
      -- (greatest() ignores the null of a feed that has no commit yet.)
      v_ts := greatest(date_trunc('milliseconds', clock_timestamp()),
                       date_trunc('milliseconds', v_last) + interval '1 millisecond');
      -- A new page starts when this commit would push the current one past the limit.
      IF v_page_count > 0 AND v_page_count + v_count > p_max_page_items THEN
        v_page := v_page + 1;
        v_page_count := 0;
      END IF;
      v_page_count := v_page_count + v_count;

      INSERT INTO catalog_commits (feed_id, commit_timestamp, commit_id, page_number, item_count)
      VALUES (p_feed_id, v_ts, p_commit_id, v_page, v_count);

      v_catalog := to_jsonb(to_char(v_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"0000Z"'));
      v_iso := to_jsonb(to_char(v_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
      FOR v_item IN SELECT e.value FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(value, n) ORDER BY e.n LOOP
        v_data := v_item->'data';
        FOR v_stamp IN SELECT s.value FROM jsonb_array_elements(coalesce(v_item->'stamps', '[]'::jsonb)) AS s(value) LOOP
          v_data := jsonb_set(v_data, ARRAY(SELECT jsonb_array_elements_text(v_stamp->'path')),
                              CASE WHEN v_stamp->>'format' = 'iso' THEN v_iso ELSE v_catalog END, false);
        END LOOP;
        INSERT INTO catalog_items (feed_id, commit_timestamp, commit_id, page_number, type, lower_id, lower_version, data)
        VALUES (p_feed_id, v_ts, p_commit_id, v_page, v_item->>'type', v_item->>'lowerId', v_item->>'lowerVersion', v_data);
        v_package := v_item->'package';
        IF v_package IS NOT NULL AND jsonb_typeof(v_package) = 'object' THEN
          UPDATE packages SET
            last_commit_timestamp = v_ts,
            created = CASE WHEN (v_package->>'created')::boolean THEN v_ts ELSE created END,
            listed = coalesce((v_package->>'listed')::boolean, listed),
            deleted = coalesce((v_package->>'deleted')::boolean, deleted)
          WHERE feed_id = p_feed_id AND lower_id = v_item->>'lowerId' AND lower_version = v_item->>'lowerVersion';
        END IF;
      END LOOP;

      UPDATE catalog_heads SET last_commit_timestamp = v_ts, page_number = v_page, page_item_count = v_page_count
      WHERE feed_id = p_feed_id;
      PERFORM pg_notify('nucat_catalog', p_feed_id::text);
      RETURN v_ts;
    END
    $$`.execute(db);

  await sql`
    CREATE FUNCTION nucat_ingest_packages(p_feed_id integer, p_requests jsonb, p_max_page_items integer, p_lock_timeout_ms integer)
    RETURNS TABLE (request_index integer, committed_at timestamptz) LANGUAGE plpgsql AS $$
    DECLARE
      v_request record;
      v_claim jsonb;
      v_claimed boolean[] := array_fill(false, ARRAY[jsonb_array_length(p_requests)]);
    BEGIN
      IF p_lock_timeout_ms IS NOT NULL THEN
        PERFORM set_config('lock_timeout', p_lock_timeout_ms || 'ms', true);
      END IF;
      -- Claims first, in key order, before the head lock.
      FOR v_request IN
        SELECT e.value AS body, (e.n - 1)::integer AS i FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS e(value, n)
        ORDER BY e.value->'claim'->>'lowerId' COLLATE "C", e.value->'claim'->>'lowerVersion' COLLATE "C", e.n
      LOOP
        v_claim := v_request.body->'claim';
        INSERT INTO packages (feed_id, lower_id, lower_version, id, version, normalized_version, listed, semver2,
                              package_hash, package_size, created, last_commit_timestamp)
        VALUES (p_feed_id, v_claim->>'lowerId', v_claim->>'lowerVersion', v_claim->>'id', v_claim->>'version',
                v_claim->>'normalizedVersion', (v_claim->>'listed')::boolean, (v_claim->>'semver2')::boolean,
                v_claim->>'packageHash', (v_claim->>'packageSize')::bigint, clock_timestamp(), clock_timestamp())
        ON CONFLICT DO NOTHING;
        v_claimed[v_request.i + 1] := FOUND;
      END LOOP;
      -- Then one commit per claimed request, in the order given.
      FOR v_request IN
        SELECT e.value AS body, (e.n - 1)::integer AS i FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS e(value, n) ORDER BY e.n
      LOOP
        request_index := v_request.i;
        committed_at := NULL;
        IF v_claimed[v_request.i + 1] THEN
          committed_at := nucat_append_catalog_commit(p_feed_id, (v_request.body->>'commitId')::uuid,
                                                      v_request.body->'items', p_max_page_items);
        END IF;
        RETURN NEXT;
      END LOOP;
    END
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION nucat_ingest_packages(integer, jsonb, integer, integer)`.execute(db);
  await sql`DROP FUNCTION nucat_append_catalog_commit(integer, uuid, jsonb, integer)`.execute(db);
}
