/**
 * A store the coordinator cannot trust stops it at start, with a message that names the file
 * and says what to do; it never starts with an empty view. Each case runs the real CLI
 * (`cf-orch coordinator --data-dir DIR`) and expects a non-zero exit before "listening".
 */
import { execFile } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { LeaseStore } from "../../coordinator/storage/index.js";
import { CLI, REPO_ROOT, spawnCoordinator } from "../support/coordinator.js";

jest.setTimeout(60_000);

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
/** Permission bits do not stop root: run those cases as "nobody" then. */
const NOBODY = 65534;

function coordinator(
  dataDir: string,
  opts: { uid?: number; extra?: string[] } = {},
): Promise<{ code: number; stderr: string; stdout: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("CF_ORCH_")) delete env[k];
  const args = [
    CLI,
    "coordinator",
    "--data-dir",
    dataDir,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--nvidia-smi",
    "off",
    ...(opts.extra ?? []),
  ];
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      args,
      {
        cwd: REPO_ROOT,
        env,
        timeout: 30_000,
        ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    // A coordinator that wrongly starts would run until the timeout: stop it at "listening".
    child.stdout?.on("data", (d: Buffer) => {
      if (String(d).includes("listening")) child.kill("SIGKILL");
    });
  });
}

function freshDir(mode = 0o700): string {
  const dir = mkdtempSync(join(tmpdir(), "cf-orch-corrupt-"));
  chmodSync(dir, mode);
  return dir;
}

/** A real store with one lease in it. */
function validStore(dir: string): string {
  const st = LeaseStore.open(dir);
  st.apply({
    upserts: [
      {
        lease: {
          leaseId: "lease_a",
          requestId: "req_a",
          holderId: "h",
          slot: { service: "kiwi", taskType: "", vramMb: 1000, priority: 3 },
          gpuId: "local/0",
          vramMb: 1000,
          state: "active",
          fencingToken: 1n,
          grantedAt: 1,
          firstGrantedAt: 1,
          expiresAt: 2,
          ttlMs: 30_000,
          evictable: false,
          pauseCount: 0,
        },
        resumePending: false,
        pausedNow: false,
      },
    ],
    deletes: [],
    endedRequests: [],
    fencing: 1n,
  });
  st.close();
  return st.file;
}

function expectRefused(
  r: { code: number; stderr: string; stdout: string },
  ...patterns: Array<string | RegExp>
) {
  expect(r.stdout).not.toContain("listening");
  expect(r.code).not.toBe(0);
  for (const p of patterns) {
    if (typeof p === "string") expect(r.stderr).toContain(p);
    else expect(r.stderr).toMatch(p);
  }
}

test("a garbage file in place of the store", async () => {
  const dir = freshDir();
  const file = join(dir, "cf-orch.db");
  writeFileSync(file, Buffer.from("this is not a database at all, just some bytes\n".repeat(100)));
  const r = await coordinator(dir);
  expectRefused(r, file, /not a SQLite database/, /backup/, /mv /);
});

test("a store whose pages are damaged", async () => {
  const dir = freshDir();
  const file = validStore(dir);
  // Keep the 100-byte header, overwrite the rest of page 1 (the schema) and beyond.
  const size = statSync(file).size;
  const fd = openSync(file, "r+");
  writeSync(fd, Buffer.alloc(size - 100, 0x5a), 0, size - 100, 100);
  closeSync(fd);
  const r = await coordinator(dir);
  expectRefused(r, file, /unreadable|corrupt|malformed/i);
});

test("a garbage write-ahead log next to the store", async () => {
  const dir = freshDir();
  const file = validStore(dir);
  writeFileSync(`${file}-wal`, Buffer.alloc(4096, 0x41));
  const r = await coordinator(dir);
  expectRefused(r, file, `${file}-wal`, /not a SQLite WAL/);
});

test("another program's SQLite database", async () => {
  const dir = freshDir();
  const file = join(dir, "cf-orch.db");
  const db = new BetterSqlite3(file);
  db.exec(
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hi');",
  );
  db.close();
  const r = await coordinator(dir);
  expectRefused(r, file, /not a cf-orch store/);
});

test("a store written by a newer cf-orch (schema from the future)", async () => {
  const dir = freshDir();
  const file = validStore(dir);
  const db = new BetterSqlite3(file);
  db.pragma("user_version = 99");
  db.close();
  const r = await coordinator(dir);
  expectRefused(r, file, /newer cf-orch \(schema version 99; this cf-orch reads up to 1\)/);
});

test("a data dir this user cannot read or write", async () => {
  const parent = freshDir(0o755);
  const dir = join(parent, "locked");
  mkdirSync(dir);
  validStore(dir);
  chmodSync(dir, 0o000);
  try {
    const r = await coordinator(dir, isRoot ? { uid: NOBODY } : {});
    expectRefused(r, dir, /not readable and writable by this user/, /chmod/);
  } finally {
    chmodSync(dir, 0o700);
  }
});

test("a store file this user cannot read", async () => {
  const dir = freshDir(0o777);
  const file = validStore(dir);
  chmodSync(file, 0o000);
  const r = await coordinator(dir, isRoot ? { uid: NOBODY } : {});
  expectRefused(r, file, /not readable and writable by this user/);
});

test("a data dir that is a file, and one that cannot be created", async () => {
  const parent = freshDir();
  const plain = join(parent, "plain-file");
  writeFileSync(plain, "x");
  const a = await coordinator(plain);
  expectRefused(a, plain, /data_dir: (cannot create|.*not a directory)/);
  const b = await coordinator(join(plain, "sub"));
  expectRefused(b, join(plain, "sub"), /data_dir: cannot create/);
});

test("two coordinators on one data dir: the second is refused", async () => {
  const dir = freshDir();
  const first = await spawnCoordinator({ args: ["--data-dir", dir] });
  try {
    const r = await coordinator(dir);
    expectRefused(r, join(dir, "cf-orch.db"), /in use by another process/);
  } finally {
    await first.stop();
  }
});
