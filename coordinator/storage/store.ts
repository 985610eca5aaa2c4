/**
 * The coordinator's embedded store (PRODUCT.md §8): SQLite through better-sqlite3, in WAL mode,
 * one file `<data_dir>/cf-orch.db`, held by one coordinator at a time (exclusive locking mode:
 * a second coordinator on the same data dir is refused at start).
 *
 * Write path: the runtime hands apply() the net effect of ONE core call (leases to upsert,
 * leases to delete, ended request ids, the new fencing counter) and apply() writes it in ONE
 * transaction with prepared statements, before any message about it is sent. Calls that change
 * nothing durable (keep-alives, queue moves) write nothing: expiry times are not stored,
 * because a restart gives every lease a fresh TTL anyway.
 *
 * Open is strict: a file that is not a SQLite database, a foreign or corrupt database, a
 * schema from a newer cf-orch, or a data dir this user cannot write stops the coordinator with
 * a StoreError naming the file and what to do. It never starts with an empty view silently.
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import BetterSqlite3, { type Database, type Statement } from "better-sqlite3";
import { ConfigError } from "../config/load.js";
import type { Lease, PersistedLease, SlotSpec } from "../core/index.js";
import type { GpuRecord } from "../gpus.js";
import { SCHEMA_VERSION, inspectSchema, migrate } from "./schema.js";

export const STORE_FILE = "cf-orch.db";
/** Ended lease ids and request ids remembered (the core's default tombstone memory). */
export const ENDED_MEMORY = 10_000;
const PRUNE_EVERY = 512;
const SQLITE_MAGIC = "SQLite format 3\0";
/**
 * Store files open in this process. Another process is kept out by SQLite's exclusive lock;
 * within one process POSIX locks do not separate connections (and closing a refused second
 * connection would drop the first one's lock), so a second open is refused before SQLite.
 */
const openFiles = new Set<string>();

function inUse(file: string): StoreError {
  return new StoreError(
    `store ${file} is in use by another process (another coordinator with the same ` +
      `data_dir?). Stop it, or give this coordinator a data_dir of its own.`,
  );
}

/** A store that cannot be used: the message names the file and what to do about it. */
export class StoreError extends ConfigError {
  constructor(message: string) {
    super([message]);
    this.name = "StoreError";
  }
}

/** A GPU registered by a node agent, as the catalogue describes it (its profile is re-resolved). */
export type StoredGpu = Omit<GpuRecord, "profile">;

export interface StoredLease extends PersistedLease {
  /** As stored: "checkpointing" is restored as active (the victim still holds its memory). */
  storedState: "active" | "checkpointing" | "paused";
  resumePending: boolean;
}

export interface StoredState {
  file: string;
  fencingCounter: bigint;
  /** Active and checkpointing leases first, then paused ones in their order in line. */
  leases: StoredLease[];
  gpus: StoredGpu[];
  /** Oldest first. */
  endedLeaseIds: string[];
  endedRequestIds: string[];
}

export interface LeaseUpsert {
  lease: Lease;
  /** A resume the holder's session has not been sent yet. */
  resumePending: boolean;
  /** Paused in this batch: it goes to the back of the paused line. */
  pausedNow: boolean;
}

/** The durable effect of one core call. */
export interface StoreBatch {
  upserts: LeaseUpsert[];
  deletes: Array<{ leaseId: string; requestId: string }>;
  endedRequests: string[];
  /** Highest fencing token issued in the batch. */
  fencing?: bigint;
}

export interface StoreOptions {
  /**
   * "normal" (default): WAL commits without fsync: durable across a crash of the coordinator;
   * "full": fsync at every commit: durable across power loss too (milliseconds per commit).
   */
  sync?: "full" | "normal";
}

export interface StoreStats {
  transactions: number;
  writes: number;
}

interface LeaseRow {
  lease_id: string;
  request_id: string;
  holder_id: string;
  slot: string;
  gpu_id: string;
  vram_mb: number;
  state: string;
  fencing_token: string;
  granted_at: number;
  first_granted_at: number;
  ttl_ms: number;
  evictable: number;
  work_lost_ms: number | null;
  paused_at: number | null;
  paused_by: string | null;
  pause_count: number;
  resume_pending: number;
}

const errCode = (err: unknown): string => String((err as { code?: unknown }).code ?? "");

function recoveryHint(file: string): string {
  return (
    `Restore ${file} from a backup, or, only if no lease granted before can still be in use, ` +
    `move it aside (mv ${file} ${file}.bad) to start with an empty store ` +
    `(see docs/OPERATIONS.md, "Recovery")`
  );
}

function corrupt(file: string, detail: string): StoreError {
  return new StoreError(
    `store ${file} is unreadable: ${detail}. The coordinator will not start with an empty view ` +
      `(leases granted before would be double-booked). ${recoveryHint(file)}.`,
  );
}

/** Reads the first bytes of a file (empty when it is shorter). */
function head(file: string, n: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function checkAccess(path: string, what: string, mode: number): void {
  try {
    accessSync(path, mode);
  } catch (err) {
    const uid = typeof process.getuid === "function" ? ` (uid ${process.getuid()})` : "";
    throw new StoreError(
      `data_dir: ${what} ${path} is not ${mode & constants.W_OK ? "readable and writable" : "readable"} ` +
        `by this user${uid} (${errCode(err) || (err as Error).message}). Fix its owner or mode ` +
        `(chown/chmod), or point data_dir (CF_ORCH_DATA_DIR, --data-dir) elsewhere.`,
    );
  }
}

/** The checks that need no SQLite: the directory, permissions, and what the files look like. */
function preflight(dir: string, file: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StoreError(
      `data_dir: cannot create ${dir} (${errCode(err) || (err as Error).message}). Create it ` +
        `writable by this user, or point data_dir (CF_ORCH_DATA_DIR, --data-dir) elsewhere.`,
    );
  }
  if (!statSync(dir).isDirectory())
    throw new StoreError(`data_dir: ${dir} exists and is not a directory.`);
  checkAccess(dir, "directory", constants.R_OK | constants.W_OK | constants.X_OK);
  let size = -1;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new StoreError(`store ${file} exists and is not a regular file.`);
    size = st.size;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    if (errCode(err) !== "ENOENT") throw err;
  }
  if (size >= 0) {
    checkAccess(file, "store", constants.R_OK | constants.W_OK);
    if (size > 0 && !head(file, 16).equals(Buffer.from(SQLITE_MAGIC, "latin1")))
      throw corrupt(file, "not a SQLite database (garbage, or some other kind of file)");
  }
  const wal = `${file}-wal`;
  try {
    const st = statSync(wal);
    checkAccess(wal, "write-ahead log", constants.R_OK | constants.W_OK);
    if (st.size >= 4) {
      const magic = head(wal, 4).readUInt32BE(0);
      if (magic !== 0x377f0682 && magic !== 0x377f0683)
        throw corrupt(file, `its write-ahead log ${wal} is not a SQLite WAL file`);
    }
  } catch (err) {
    if (err instanceof StoreError) throw err;
    if (errCode(err) !== "ENOENT") throw err;
  }
}

function toStoredLease(file: string, r: LeaseRow): StoredLease {
  const bad = (why: string) => corrupt(file, `lease row ${JSON.stringify(r.lease_id)} ${why}`);
  let slot: SlotSpec;
  try {
    slot = JSON.parse(r.slot) as SlotSpec;
  } catch {
    throw bad("has a slot that is not JSON");
  }
  if (
    typeof slot !== "object" ||
    slot === null ||
    typeof slot.service !== "string" ||
    typeof slot.vramMb !== "number" ||
    ![1, 2, 3, 4, 5].includes(slot.priority)
  )
    throw bad("has an invalid slot");
  if (!/^\d+$/.test(r.fencing_token)) throw bad("has an invalid fencing token");
  const storedState = r.state as StoredLease["storedState"];
  const p: StoredLease = {
    leaseId: r.lease_id,
    requestId: r.request_id,
    holderId: r.holder_id,
    slot,
    gpuId: r.gpu_id,
    vramMb: r.vram_mb,
    state: storedState === "paused" ? "paused" : "active",
    fencingToken: r.fencing_token,
    grantedAt: r.granted_at,
    firstGrantedAt: r.first_granted_at,
    ttlMs: r.ttl_ms,
    evictable: r.evictable === 1,
    pauseCount: r.pause_count,
    storedState,
    resumePending: r.resume_pending === 1,
  };
  if (r.work_lost_ms !== null) p.workLostMs = r.work_lost_ms;
  if (r.paused_at !== null) p.pausedAt = r.paused_at;
  if (r.paused_by !== null) p.pausedBy = r.paused_by;
  return p;
}

export class LeaseStore {
  readonly file: string;
  readonly dir: string;
  readonly stats: StoreStats = { transactions: 0, writes: 0 };
  private readonly db: Database;
  private readonly st: {
    upsert: Statement;
    del: Statement;
    ended: Statement;
    prune: Statement;
    counter: Statement;
    resumePending: Statement;
    gpu: Statement;
  };
  private endedSeq = 0;
  private pausedSeq = 0;
  private sinceprune = 0;
  private closed = false;

  /** Opens (creating if needed) the store in `dataDir`; throws StoreError when it cannot be used. */
  static open(dataDir: string, opts: StoreOptions = {}): LeaseStore {
    const dir = resolve(dataDir);
    const file = join(dir, STORE_FILE);
    if (openFiles.has(file)) throw inUse(file);
    preflight(dir, file);
    let db: Database | undefined;
    try {
      db = new BetterSqlite3(file, { timeout: 200 });
      // Exclusive before WAL: no shared-memory index, and the lock is held until close.
      db.pragma("locking_mode = EXCLUSIVE");
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal") throw new Error(`cannot switch to WAL mode (got ${String(mode)})`);
      db.pragma(`synchronous = ${opts.sync === "full" ? "FULL" : "NORMAL"}`);
      // Take the write lock now, so a second coordinator on this data dir fails at start.
      db.exec("BEGIN IMMEDIATE; COMMIT;");
      const check = db.pragma("quick_check", { simple: true });
      if (check !== "ok") throw corrupt(file, `SQLite integrity check failed (${String(check)})`);
      const schema = inspectSchema(db);
      if (!schema.ok) {
        if (schema.problem === "newer")
          throw new StoreError(
            `store ${file} was written by a newer cf-orch (schema version ${schema.version}; ` +
              `this cf-orch reads up to ${SCHEMA_VERSION}). Run that newer cf-orch, or restore ` +
              `a backup made by this version (see docs/OPERATIONS.md, "Recovery").`,
          );
        throw new StoreError(
          `store ${file} is a SQLite database but not a cf-orch store (application_id ` +
            `0x${schema.applicationId.toString(16)}, user_version ${schema.version}). Point ` +
            `data_dir (CF_ORCH_DATA_DIR, --data-dir) at a directory of its own, or move the file away.`,
        );
      }
      migrate(db, schema.version);
      return new LeaseStore(db, dir, file);
    } catch (err) {
      try {
        db?.close();
      } catch {
        /* already failing */
      }
      if (err instanceof StoreError) throw err;
      const code = errCode(err);
      const msg = (err as Error).message;
      if (code === "SQLITE_BUSY" || code.startsWith("SQLITE_BUSY_") || code === "SQLITE_LOCKED")
        throw inUse(file);
      if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT"))
        throw corrupt(file, `${msg} (${code})`);
      if (
        code === "SQLITE_CANTOPEN" ||
        code.startsWith("SQLITE_READONLY") ||
        code === "SQLITE_PERM"
      )
        throw new StoreError(
          `store ${file} cannot be opened for writing: ${msg} (${code}). Check the owner and ` +
            `mode of the file and of ${dir}, and the free disk space.`,
        );
      throw new StoreError(`store ${file}: ${msg}${code ? ` (${code})` : ""}`);
    }
  }

  private constructor(db: Database, dir: string, file: string) {
    this.db = db;
    this.dir = dir;
    this.file = file;
    this.st = {
      upsert: db.prepare(`
        INSERT INTO leases (lease_id, request_id, holder_id, slot, gpu_id, vram_mb, state,
          fencing_token, granted_at, first_granted_at, ttl_ms, evictable, work_lost_ms,
          paused_at, paused_by, pause_count, paused_seq, resume_pending)
        VALUES (@leaseId, @requestId, @holderId, @slot, @gpuId, @vramMb, @state, @fencingToken,
          @grantedAt, @firstGrantedAt, @ttlMs, @evictable, @workLostMs, @pausedAt, @pausedBy,
          @pauseCount, @pausedSeq, @resumePending)
        ON CONFLICT (lease_id) DO UPDATE SET
          gpu_id = excluded.gpu_id, state = excluded.state,
          fencing_token = excluded.fencing_token, granted_at = excluded.granted_at,
          evictable = excluded.evictable, work_lost_ms = excluded.work_lost_ms,
          paused_at = excluded.paused_at, paused_by = excluded.paused_by,
          pause_count = excluded.pause_count,
          paused_seq = CASE WHEN excluded.state = 'paused'
            THEN coalesce(excluded.paused_seq, leases.paused_seq) END,
          resume_pending = excluded.resume_pending`),
      del: db.prepare("DELETE FROM leases WHERE lease_id = ?"),
      ended: db.prepare("INSERT OR REPLACE INTO ended (kind, id, seq) VALUES (?, ?, ?)"),
      prune: db.prepare("DELETE FROM ended WHERE kind = ? AND seq <= ?"),
      // Tokens come from one counter that only grows (the core issues counter + 1), so the
      // latest batch's highest token is the counter.
      counter: db.prepare("UPDATE meta SET value = ? WHERE key = 'fencing_counter'"),
      resumePending: db.prepare("UPDATE leases SET resume_pending = ? WHERE lease_id = ?"),
      gpu: db.prepare(
        "INSERT INTO gpus (gpu_id, record) VALUES (?, ?) ON CONFLICT (gpu_id) DO UPDATE SET record = excluded.record",
      ),
    };
    const seq = db.prepare("SELECT coalesce(max(seq), 0) AS s FROM ended").get() as { s: number };
    this.endedSeq = seq.s;
    const ps = db.prepare("SELECT coalesce(max(paused_seq), 0) AS s FROM leases").get() as {
      s: number;
    };
    this.pausedSeq = ps.s;
    openFiles.add(file);
  }

  /** Everything needed to restore the scheduler. Throws StoreError on a malformed row. */
  load(): StoredState {
    const meta = new Map(
      (
        this.db.prepare("SELECT key, value FROM meta").all() as Array<{
          key: string;
          value: string;
        }>
      ).map((r) => [r.key, r.value]),
    );
    const counter = meta.get("fencing_counter");
    if (counter === undefined || !/^\d+$/.test(counter))
      throw corrupt(this.file, "the fencing counter is missing or not a number");
    const rows = this.db
      .prepare(`SELECT * FROM leases ORDER BY state = 'paused', paused_seq, paused_at, lease_id`)
      .all() as LeaseRow[];
    const gpus = (
      this.db.prepare("SELECT gpu_id, record FROM gpus ORDER BY gpu_id").all() as Array<{
        gpu_id: string;
        record: string;
      }>
    ).map((r) => {
      try {
        const g = JSON.parse(r.record) as StoredGpu;
        if (g.id !== r.gpu_id || typeof g.capacityMb !== "number") throw new Error("mismatch");
        return g;
      } catch {
        throw corrupt(this.file, `GPU row ${JSON.stringify(r.gpu_id)} is invalid`);
      }
    });
    const ended = (kind: number) =>
      (
        this.db.prepare("SELECT id FROM ended WHERE kind = ? ORDER BY seq").all(kind) as Array<{
          id: string;
        }>
      ).map((r) => r.id);
    return {
      file: this.file,
      fencingCounter: BigInt(counter),
      leases: rows.map((r) => toStoredLease(this.file, r)),
      gpus,
      endedLeaseIds: ended(0),
      endedRequestIds: ended(1),
    };
  }

  /** Writes the durable effect of one core call in one transaction. No-op when empty. */
  apply(b: StoreBatch): void {
    if (
      b.upserts.length === 0 &&
      b.deletes.length === 0 &&
      b.endedRequests.length === 0 &&
      b.fencing === undefined
    )
      return;
    this.transaction(() => {
      for (const u of b.upserts) this.upsert(u);
      for (const d of b.deletes) {
        this.st.del.run(d.leaseId);
        this.end(0, d.leaseId);
        this.end(1, d.requestId);
        this.stats.writes += 3;
      }
      for (const id of b.endedRequests) {
        this.end(1, id);
        this.stats.writes++;
      }
      if (b.fencing !== undefined) {
        this.st.counter.run(b.fencing.toString());
        this.stats.writes++;
      }
      if (this.sinceprune >= PRUNE_EVERY) {
        this.sinceprune = 0;
        this.st.prune.run(0, this.endedSeq - ENDED_MEMORY);
        this.st.prune.run(1, this.endedSeq - ENDED_MEMORY);
      }
    });
  }

  /** A resume was delivered to (or is owed to) the holder's session. */
  setResumePending(leaseId: string, pending: boolean): void {
    this.st.resumePending.run(pending ? 1 : 0, leaseId);
    this.stats.writes++;
  }

  /** Remembers a GPU registered by a node agent. */
  saveGpu(g: StoredGpu): void {
    this.st.gpu.run(g.id, JSON.stringify(g));
    this.stats.writes++;
  }

  /** Deletes leases a restore could not take back (and remembers them as ended). */
  dropLeases(dropped: Array<{ leaseId: string; requestId: string }>): void {
    if (dropped.length === 0) return;
    this.transaction(() => {
      for (const d of dropped) {
        this.st.del.run(d.leaseId);
        this.end(0, d.leaseId);
        this.end(1, d.requestId);
      }
    });
  }

  /** Checkpoints the WAL into the main file and closes. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      this.db.close();
      openFiles.delete(this.file);
    }
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private transaction(fn: () => void): void {
    this.db.transaction(fn)();
    this.stats.transactions++;
  }

  private upsert(u: LeaseUpsert): void {
    const l = u.lease;
    this.st.upsert.run({
      leaseId: l.leaseId,
      requestId: l.requestId,
      holderId: l.holderId,
      slot: JSON.stringify(l.slot),
      gpuId: l.gpuId,
      vramMb: l.vramMb,
      state: l.state,
      fencingToken: l.fencingToken.toString(),
      grantedAt: l.grantedAt,
      firstGrantedAt: l.firstGrantedAt,
      ttlMs: l.ttlMs,
      evictable: l.evictable ? 1 : 0,
      workLostMs: l.workLostMs ?? null,
      pausedAt: l.pausedAt ?? null,
      pausedBy: l.pausedBy ?? null,
      pauseCount: l.pauseCount,
      pausedSeq: l.state === "paused" && u.pausedNow ? ++this.pausedSeq : null,
      resumePending: u.resumePending ? 1 : 0,
    });
    this.stats.writes++;
  }

  private end(kind: 0 | 1, id: string): void {
    this.st.ended.run(kind, id, ++this.endedSeq);
    this.sinceprune++;
  }
}
