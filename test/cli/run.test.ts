/**
 * `cf-orch run`: the real CLI (node bin/cf-orch.js run ...) against a real coordinator
 * (in-process, loopback, port 0; GPUs local/0 = 24576 MiB and local/1 = 8192 MiB). The commands
 * it runs are small `node -e` scripts that report what they saw.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningCoordinator } from "../../coordinator/server.js";
import { spawnCoordinator, startTestCoordinator } from "../support/coordinator.js";
import {
  cli,
  closedPort,
  getStatus,
  killAll,
  killPid,
  leaseClient,
  readIfExists,
  startCli,
  tempDir,
  waitUntil,
} from "./helpers.js";

jest.setTimeout(60_000);

/** Prints the environment as JSON. */
const PRINT_ENV = "process.stdout.write(JSON.stringify(process.env))";

/**
 * `node -e WAIT_GO LOG GO TAG`: appends "start TAG <lease id>" to LOG, prints "started TAG",
 * waits (at most 20 s) until the file GO exists, appends "end TAG" and exits 0 (3 on timeout).
 */
const WAIT_GO = `
const fs = require("fs");
const [log, go, tag] = process.argv.slice(1);
fs.appendFileSync(log, "start " + tag + " " + process.env.CF_ORCH_LEASE_ID + "\\n");
console.log("started " + tag + " pid " + process.pid);
const t0 = Date.now();
const timer = setInterval(() => {
  const ok = fs.existsSync(go);
  if (ok || Date.now() - t0 > 20000) {
    clearInterval(timer);
    fs.appendFileSync(log, "end " + tag + "\\n");
    process.exit(ok ? 0 : 3);
  }
}, 20);`;

/** Reports the first SIGTERM/SIGINT/SIGHUP it gets and exits 42; exits 3 after 20 s. */
const TRAP = `
for (const s of ["SIGTERM", "SIGINT", "SIGHUP"])
  process.on(s, () => { console.log("child got " + s); process.exit(42); });
console.log("ready pid " + process.pid);
setTimeout(() => process.exit(3), 20000);`;

let server: RunningCoordinator;
let url: string;

beforeAll(async () => {
  server = await startTestCoordinator();
  url = server.url;
});

afterEach(async () => {
  killAll();
  // Leave no lease or waiting request behind for the next test.
  const leases = leaseClient(url);
  const s = await getStatus(url);
  for (const l of s.leases) await leases.release({ target: { case: "leaseId", value: l.leaseId } });
  for (const q of s.queue)
    await leases.release({ target: { case: "requestId", value: q.status!.requestId } });
});

afterAll(async () => {
  await server.close();
});

describe("the command's environment and exit status", () => {
  test("a 20 GB lease runs CMD on local/0 with CUDA_VISIBLE_DEVICES=0 and the lease in its env", async () => {
    const r = await cli(["run", "--vram", "20", "--url", url, "--", "node", "-e", PRINT_ENV]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const env = JSON.parse(r.stdout) as Record<string, string>;
    expect(env.CUDA_VISIBLE_DEVICES).toBe("0");
    expect(env.CF_ORCH_GPU_ID).toBe("local/0");
    expect(env.CF_ORCH_LEASE_ID).toMatch(/^lease_/);
    expect(env.CF_ORCH_VRAM_MB).toBe(String(20 * 1024));
    expect(env.CF_ORCH_FENCING_TOKEN).toMatch(/^[1-9]\d*$/);
    expect(env.CF_ORCH_MODE).toBe("coordinated");
    // Released before cf-orch exited.
    expect((await getStatus(url)).leases).toHaveLength(0);
  });

  test("best fit puts a 4 GB lease on local/1 (CUDA_VISIBLE_DEVICES=1); --vram rounds GB up to MiB", async () => {
    const r = await cli(["run", "--vram", "4", "--url", url, "--", "node", "-e", PRINT_ENV]);
    expect(r.code).toBe(0);
    const env = JSON.parse(r.stdout) as Record<string, string>;
    expect(env.CUDA_VISIBLE_DEVICES).toBe("1");
    expect(env.CF_ORCH_GPU_ID).toBe("local/1");
    expect(env.CF_ORCH_VRAM_MB).toBe("4096");
    const frac = await cli(["run", "--vram", "0.001", "--url", url, "--", "node", "-e", PRINT_ENV]);
    expect(JSON.parse(frac.stdout).CF_ORCH_VRAM_MB).toBe("2"); // 1.024 MiB, rounded up
  });

  test("--gpu, --vram-mb and CF_ORCH_URL from the environment", async () => {
    const r = await cli(
      ["run", "--vram-mb", "1000", "--gpu", "local/0", "--", "node", "-e", PRINT_ENV],
      { env: { CF_ORCH_URL: url } },
    );
    expect(r.code).toBe(0);
    const env = JSON.parse(r.stdout) as Record<string, string>;
    expect(env.CUDA_VISIBLE_DEVICES).toBe("0");
    expect(env.CF_ORCH_VRAM_MB).toBe("1000");
  });

  test("exits with CMD's exit status", async () => {
    const r = await cli([
      "run",
      "--vram",
      "1",
      "--url",
      url,
      "--",
      "node",
      "-e",
      "process.exit(7)",
    ]);
    expect(r.code).toBe(7);
    const sh = await cli(["run", "--vram", "1", "--url", url, "--", "sh", "-c", "exit 0"]);
    expect(sh.code).toBe(0);
    expect((await getStatus(url)).leases).toHaveLength(0);
  });

  test("a CMD killed by a signal gives 128+signal", async () => {
    const r = await cli([
      "run",
      "--vram",
      "1",
      "--url",
      url,
      "--",
      "node",
      "-e",
      "process.kill(process.pid, 'SIGKILL')",
    ]);
    expect(r.code).toBe(128 + 9);
    expect((await getStatus(url)).leases).toHaveLength(0);
  });

  test("a CMD that does not exist: exit 127, lease released", async () => {
    const r = await cli(["run", "--vram", "1", "--url", url, "--", "no-such-command-cf-orch"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain("command not found");
    expect((await getStatus(url)).leases).toHaveLength(0);
  });
});

test("while CMD runs the lease is in GetStatus with its slot; it is released when CMD exits", async () => {
  const dir = tempDir();
  const log = join(dir, "log");
  const go = join(dir, "go");
  const p = startCli([
    "run",
    "--vram",
    "6",
    "--service",
    "visible",
    "--task-type",
    "embed",
    "--priority",
    "high",
    "--url",
    url,
    "--",
    "node",
    "-e",
    WAIT_GO,
    log,
    go,
    "one",
  ]);
  await p.waitFor("started one", 15_000, "stdout");
  const s = await getStatus(url);
  expect(s.leases).toHaveLength(1);
  const lease = s.leases[0]!;
  expect(lease.slot?.service).toBe("visible");
  expect(lease.slot?.taskType).toBe("embed");
  expect(lease.vramMb).toBe(6144n);
  expect(lease.gpuId).toBe("local/1");
  expect(readIfExists(log)).toContain(`start one ${lease.leaseId}`);
  writeFileSync(go, "");
  expect((await p.exited).code).toBe(0);
  expect((await getStatus(url)).leases).toHaveLength(0);
});

test("two runs that do not fit together run one after the other", async () => {
  const dir = tempDir();
  const log = join(dir, "log");
  const go = join(dir, "go");
  const run = (tag: string) =>
    startCli([
      "run",
      "--verbose",
      "--vram",
      "20",
      "--service",
      `seq-${tag}`,
      "--url",
      url,
      "--",
      "node",
      "-e",
      WAIT_GO,
      log,
      go,
      tag,
    ]);
  const a = run("a");
  const b = run("b");
  // Both asked: one holds local/0 (the only GPU with 20 GB), the other waits in the queue.
  const s = await waitUntil("one lease and one waiting request", async () => {
    const st = await getStatus(url);
    return st.leases.length === 1 && st.queue.length === 1 ? st : undefined;
  });
  const holder = s.leases[0]!.slot!.service;
  const waiter = s.queue[0]!.slot!.service;
  expect(new Set([holder, waiter])).toEqual(new Set(["seq-a", "seq-b"]));
  expect(s.queue[0]!.status!.reasonText).not.toBe("");
  expect(readIfExists(log).trim().split("\n")).toHaveLength(1);
  // Let them finish: the waiter can start only after the holder ended and released.
  writeFileSync(go, "");
  const [ea, eb] = await Promise.all([a.exited, b.exited]);
  expect([ea.code, eb.code]).toEqual([0, 0]);
  const lines = readIfExists(log).trim().split("\n");
  expect(lines).toHaveLength(4);
  const first = holder.slice(4);
  const second = waiter.slice(4);
  expect(lines[0]).toMatch(new RegExp(`^start ${first} lease_`));
  expect(lines[1]).toBe(`end ${first}`);
  expect(lines[2]).toMatch(new RegExp(`^start ${second} lease_`));
  expect(lines[3]).toBe(`end ${second}`);
  expect((await getStatus(url)).leases).toHaveLength(0);
  // --verbose without a terminal: one line per queue change, the grant and the release.
  const [firstProc, secondProc] = first === "a" ? [a, b] : [b, a];
  expect(firstProc.stderr()).not.toContain("waiting for");
  const waited = secondProc.stderr();
  expect(waited).toMatch(
    /^cf-orch run: waiting for 20\.0 GiB: position 1 — no GPU has 20480 MiB free/m,
  );
  expect(waited.match(/waiting for/g)).toHaveLength(1); // heartbeats are not repeated
  expect(waited).toMatch(
    /^cf-orch run: lease lease_\S+: 20\.0 GiB on local\/0 \(fencing token \d+/m,
  );
  expect(waited).toMatch(/^cf-orch run: released lease lease_/m);
  expect(waited).not.toContain("\r");
});

test("a SIGKILLed cf-orch run frees its lease within its TTL", async () => {
  const p = startCli([
    "run",
    "--vram",
    "2",
    "--ttl-ms",
    "1500",
    "--service",
    "killed",
    "--url",
    url,
    "--",
    "node",
    "-e",
    "console.log('pid ' + process.pid); setTimeout(() => {}, 30000)",
  ]);
  await p.waitFor(/pid \d+/, 15_000, "stdout");
  const orphan = Number(/pid (\d+)/.exec(p.stdout())![1]);
  try {
    const s = await getStatus(url);
    expect(s.leases.map((l) => [l.slot?.service, l.ttlMs])).toEqual([["killed", 1500]]);
    p.kill("SIGKILL");
    await p.exited;
    const killedAt = Date.now();
    await waitUntil(
      "the lease to be reclaimed",
      async () => (await getStatus(url)).leases.length === 0,
      10_000,
    );
    // Reclaimed by TTL (1.5 s after the last keep-alive), not instantly, nor much later.
    expect(Date.now() - killedAt).toBeLessThan(8_000);
  } finally {
    killPid(orphan); // the command itself was orphaned by the SIGKILL
  }
});

describe("signals", () => {
  test.each(["SIGTERM", "SIGINT", "SIGHUP"] as const)(
    "%s to cf-orch run reaches CMD; the exit status is CMD's; the lease is released",
    async (signal) => {
      const p = startCli(["run", "--vram", "1", "--url", url, "--", "node", "-e", TRAP]);
      await p.waitFor("ready", 15_000, "stdout");
      expect((await getStatus(url)).leases).toHaveLength(1);
      p.kill(signal);
      const exit = await p.exited;
      expect(p.stdout()).toContain(`child got ${signal}`);
      expect(exit.code).toBe(42);
      expect((await getStatus(url)).leases).toHaveLength(0);
    },
  );

  test("SIGINT while waiting for a lease cancels the wait (exit 130) and leaves the queue", async () => {
    const dir = tempDir();
    const go = join(dir, "go");
    const { holder, waiter } = await holdGpuWithWaiter(dir, go);
    waiter.kill("SIGINT");
    const exit = await waiter.exited;
    expect(exit.code).toBe(130);
    expect(waiter.stderr()).toContain("interrupted by SIGINT while waiting");
    expect(waiter.stdout()).not.toContain("ready");
    await waitUntil("the queue to empty", async () => (await getStatus(url)).queue.length === 0);
    writeFileSync(go, "");
    expect((await holder.exited).code).toBe(0);
  });
});

test("a SIGKILLed cf-orch run that was waiting leaves the queue at once", async () => {
  const dir = tempDir();
  const go = join(dir, "go");
  const { holder, waiter } = await holdGpuWithWaiter(dir, go);
  waiter.kill("SIGKILL");
  await waiter.exited;
  await waitUntil("the queue to empty", async () => (await getStatus(url)).queue.length === 0);
  writeFileSync(go, "");
  expect((await holder.exited).code).toBe(0);
  expect(waiter.stdout()).toBe("");
  expect((await getStatus(url)).leases).toHaveLength(0);
});

test("a lost lease stops CMD with SIGTERM and cf-orch exits 1 with a clear message", async () => {
  const p = startCli([
    "run",
    "--vram",
    "1",
    "--ttl-ms",
    "1500",
    "--url",
    url,
    "--",
    "node",
    "-e",
    TRAP,
  ]);
  await p.waitFor("ready", 15_000, "stdout");
  const [lease] = (await getStatus(url)).leases;
  // Someone else (an admin, a bug) makes the coordinator forget it: the next keep-alive
  // (every TTL/3 = 500 ms) gets NOT_FOUND.
  await leaseClient(url).release({ target: { case: "leaseId", value: lease!.leaseId } });
  const exit = await p.exited;
  expect(p.stdout()).toContain("child got SIGTERM");
  expect(exit.code).toBe(1);
  expect(p.stderr()).toContain(
    `the lease was lost (lease ${lease!.leaseId} is no longer known to the coordinator`,
  );
  expect(p.stderr()).toContain("stopping the command with SIGTERM");
});

test("the coordinator dies while CMD runs: after the TTL the lease counts as lost, CMD is stopped, exit 1", async () => {
  const coordinator = await spawnCoordinator();
  try {
    const p = startCli([
      "run",
      "--vram",
      "1",
      "--ttl-ms",
      "1500",
      "--url",
      coordinator.url,
      "--",
      "node",
      "-e",
      TRAP,
    ]);
    await p.waitFor("ready", 15_000, "stdout");
    expect(p.stderr()).toBe("");
    coordinator.kill("SIGKILL");
    const exit = await p.exited;
    expect(p.stdout()).toContain("child got SIGTERM");
    expect(exit.code).toBe(1);
    expect(p.stderr()).toContain("the lease was lost");
    expect(p.stderr()).toContain("coordinator unreachable for longer than the lease TTL (1500 ms)");
  } finally {
    coordinator.kill("SIGKILL");
  }
});

describe("local fallback", () => {
  test("coordinator unreachable: CMD runs locally with a warning, no CUDA_VISIBLE_DEVICES", async () => {
    const port = await closedPort();
    const r = await cli([
      "run",
      "--vram",
      "4",
      "--url",
      `http://127.0.0.1:${port}`,
      "--",
      "node",
      "-e",
      PRINT_ENV,
    ]);
    expect(r.code).toBe(0);
    const env = JSON.parse(r.stdout) as Record<string, string>;
    expect(env.CUDA_VISIBLE_DEVICES).toBeUndefined();
    expect(env.CF_ORCH_GPU_ID).toBeUndefined();
    expect(env.CF_ORCH_LEASE_ID).toMatch(/^local-/);
    expect(env.CF_ORCH_MODE).toBe("local");
    expect(env.CF_ORCH_FENCING_TOKEN).toBe("0");
    expect(r.stderr).toContain(`unreachable at http://127.0.0.1:${port}`);
    expect(r.stderr).toContain("WITHOUT coordination");
    expect(r.stderr).toContain("CUDA_VISIBLE_DEVICES is not set");
  });

  test("coordinator unreachable with --gpu: CUDA_VISIBLE_DEVICES from --gpu", async () => {
    const port = await closedPort();
    const r = await cli(["run", "--vram", "4", "--gpu", "local/1", "--", "node", "-e", PRINT_ENV], {
      env: { CF_ORCH_URL: `http://127.0.0.1:${port}` },
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).CUDA_VISIBLE_DEVICES).toBe("1");
    expect(r.stderr).toContain("CUDA_VISIBLE_DEVICES=1 comes from --gpu local/1");
  });

  test("--fallback error: exits 1 with a clear message and does not run CMD", async () => {
    const port = await closedPort();
    const r = await cli([
      "run",
      "--vram",
      "4",
      "--fallback",
      "error",
      "--url",
      `http://127.0.0.1:${port}`,
      "--",
      "node",
      "-e",
      "console.log('ran')",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`the coordinator at http://127.0.0.1:${port} is unreachable`);
    expect(r.stderr).toContain("ECONNREFUSED");
    expect(r.stderr).toContain("--fallback error");
  });
});

describe("usage (the full table of argument errors is in run-args.test.ts)", () => {
  test.each([
    [["--vram", "4", "echo", "hi"], 'missing "--" before the command'],
    [["--vram", "abc", "--", "echo"], '--vram: expected a number of GB greater than 0, got "abc"'],
    [["--vram", "1", "--service", "bad name", "--", "echo"], "service must be 1 to 64"],
    [["--vram", "1", "--url", "ftp://x", "--", "echo"], "must be http:// or https://"],
  ])("cf-orch run %j → exit 2: %s", async (args, message) => {
    const r = await cli(["run", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
  });

  test("--help prints the usage and exits 0", async () => {
    const r = await cli(["run", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("usage: cf-orch run (--vram GB | --vram-mb MIB) [options] -- CMD");
    expect(r.stdout).toContain("CUDA_VISIBLE_DEVICES");
    const top = await cli(["--help"]);
    expect(top.stdout).toMatch(/run\s+run a command under a VRAM lease/);
    expect(top.stdout).toMatch(/status\s+show GPUs, leases/);
  });

  test("a request that can never fit: exit 1 at once, CMD not run", async () => {
    const r = await cli([
      "run",
      "--vram",
      "100",
      "--url",
      url,
      "--",
      "node",
      "-e",
      "console.log('ran')",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("can never be granted");
  });
});

/** A `cf-orch run` holding the 24 GB GPU until GO exists, and a second one waiting behind it. */
async function holdGpuWithWaiter(dir: string, go: string) {
  const holder = startCli([
    "run",
    "--vram",
    "20",
    "--url",
    url,
    "--",
    "node",
    "-e",
    WAIT_GO,
    join(dir, "log"),
    go,
    "holder",
  ]);
  await holder.waitFor("started holder", 15_000, "stdout");
  const waiter = startCli(["run", "--vram", "20", "--url", url, "--", "node", "-e", TRAP]);
  await waitUntil("a waiting request", async () => (await getStatus(url)).queue.length === 1);
  return { holder, waiter };
}
