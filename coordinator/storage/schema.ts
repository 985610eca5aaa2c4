/**
 * The store's schema and its migrations. `PRAGMA user_version` is the schema version and
 * `PRAGMA application_id` marks the file as a cf-orch store, so a foreign SQLite file or one
 * written by a newer cf-orch is refused instead of being misread.
 *
 * Version 1:
 *   meta(key, value)      fencing_counter (decimal string: the highest token ever issued;
 *                         a new store starts it at the clock in microseconds), created_at (ms)
 *   leases(...)           one row per live lease: active, checkpointing (restored as active: the
 *                         victim still holds its memory) or paused; the slot as JSON; the fencing
 *                         token as a decimal string; evictable and work_lost_ms (the holder's
 *                         registration); paused_seq orders paused leases in line;
 *                         resume_pending = a resume not yet delivered to the holder's session.
 *                         No expiry: a restart gives every lease a fresh TTL.
 *   gpus(gpu_id, ...)     GPUs registered by node agents (config and nvidia-smi GPUs come from
 *                         the config at every start), so their leases can come back before the
 *                         agent registers again.
 *   ended(kind, id, seq)  bounded memory of ended lease ids (kind 0) and request ids (kind 1),
 *                         so Release and Acquire retries stay idempotent across a restart.
 */
import type { Database } from "better-sqlite3";

/** "cfor" */
export const APPLICATION_ID = 0x63666f72;
export const SCHEMA_VERSION = 1;

/** MIGRATIONS[v] takes an empty (v = 0) or version-v store to version v + 1. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE leases (
    lease_id         TEXT PRIMARY KEY,
    request_id       TEXT NOT NULL UNIQUE,
    holder_id        TEXT NOT NULL,
    slot             TEXT NOT NULL,
    gpu_id           TEXT NOT NULL,
    vram_mb          INTEGER NOT NULL CHECK (vram_mb > 0),
    state            TEXT NOT NULL CHECK (state IN ('active', 'checkpointing', 'paused')),
    fencing_token    TEXT NOT NULL,
    granted_at       INTEGER NOT NULL,
    first_granted_at INTEGER NOT NULL,
    ttl_ms           INTEGER NOT NULL CHECK (ttl_ms > 0),
    evictable        INTEGER NOT NULL CHECK (evictable IN (0, 1)),
    work_lost_ms     INTEGER,
    paused_at        INTEGER,
    paused_by        TEXT,
    pause_count      INTEGER NOT NULL,
    paused_seq       INTEGER,
    resume_pending   INTEGER NOT NULL DEFAULT 0 CHECK (resume_pending IN (0, 1))
  );

  CREATE TABLE gpus (
    gpu_id TEXT PRIMARY KEY,
    record TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE ended (
    kind INTEGER NOT NULL CHECK (kind IN (0, 1)),
    id   TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
  ) WITHOUT ROWID;
  CREATE INDEX ended_by_seq ON ended (kind, seq);
  `,
];

export type SchemaCheck =
  | { ok: true; version: number; fresh: boolean }
  | { ok: false; problem: "foreign" | "newer"; version: number; applicationId: number };

/** What the file is: ours (and which version), a newer cf-orch's, or someone else's. */
export function inspectSchema(db: Database): SchemaCheck {
  const version = db.pragma("user_version", { simple: true }) as number;
  const applicationId = db.pragma("application_id", { simple: true }) as number;
  const tables = (
    db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as {
      n: number;
    }
  ).n;
  if (applicationId === 0 && version === 0 && tables === 0)
    return { ok: true, version: 0, fresh: true };
  if (applicationId !== APPLICATION_ID)
    return { ok: false, problem: "foreign", version, applicationId };
  if (version > SCHEMA_VERSION) return { ok: false, problem: "newer", version, applicationId };
  return { ok: true, version, fresh: false };
}

/** Brings the store to SCHEMA_VERSION in one transaction. */
export function migrate(db: Database, from: number): void {
  if (from >= SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    if (from === 0) {
      db.pragma(`application_id = ${APPLICATION_ID}`);
      // A new store's tokens start from the clock (microseconds), above every token an
      // earlier store on this host could have issued: replacing a lost or corrupt store by an
      // empty one (docs/OPERATIONS.md, "Recovery") never reissues a token.
      db.prepare("INSERT INTO meta (key, value) VALUES ('fencing_counter', ?)").run(
        String(BigInt(Date.now()) * 1000n),
      );
      db.prepare("INSERT INTO meta (key, value) VALUES ('created_at', ?)").run(String(Date.now()));
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
