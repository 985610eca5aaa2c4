/**
 * CPU profile of the coordinator while a long line of waiting Acquire streams drains (the scale
 * scenario's drain phase). `npm run bench -- --profile --only scale` profiles the coordinator
 * child with --cpu-prof, but a coordinator saturated by thousands of streams may not exit in
 * time to write its profile; this tool runs the coordinator in-process instead and profiles
 * exactly the drain window through node:inspector.
 *
 *   npx tsx bench/tools/profile-scale.ts [--streams 2000] [--drain-ms 15000]
 *
 * The load comes from bench/load.ts's scale scenario in a child process. The profile is written
 * to bench/results/profiles/scale-drain.cpuprofile and summarised on stdout.
 */
import { fork } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startCoordinator } from "../../coordinator/server.js";
import { formatProfile, summarizeProfile } from "../lib/profile.js";
import type { ScaleParams, ScaleResult } from "../scenarios/net.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

const streams = arg("--streams", 2000);
const drainMs = arg("--drain-ms", 15_000);
const dir = mkdtempSync(join(tmpdir(), "cf-orch-profile-scale-"));
const c = await startCoordinator({
  host: "127.0.0.1",
  port: 0,
  logLevel: "warn",
  nvidiaSmi: "off",
  gpus: [{ node: "bench", index: 0, capacityMb: 16 * 1024 }],
  shutdownGraceMs: 300,
  // A store of its own, as in the benchmark (ignored by coordinators without one).
  ...({ dataDir: join(dir, "data") } as object),
});
const load = fork(join(ROOT, "bench", "load.ts"), [], {
  cwd: ROOT,
  execArgv: ["--import", "tsx"],
  stdio: ["ignore", "inherit", "inherit", "ipc"],
});
const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.start");

const params: ScaleParams = {
  url: c.url,
  pid: process.pid,
  streams,
  connections: 50,
  holders: 16,
  vramMb: 1024,
  batch: 500,
  settleMs: 1000,
  sampleMs: 3000,
  drainTimeoutMs: drainMs,
};
const result = await new Promise<ScaleResult>((resolvePromise, reject) => {
  load.once("message", (m: unknown) => {
    const msg = m as { result?: ScaleResult; error?: string };
    if (msg.error) reject(new Error(msg.error));
    else resolvePromise(msg.result!);
  });
  load.send({ id: 1, scenario: "scale", params });
});
const { profile } = await session.post("Profiler.stop");
const outDir = join(ROOT, "bench", "results", "profiles");
mkdirSync(outDir, { recursive: true });
const file = join(outDir, "scale-drain.cpuprofile");
writeFileSync(file, JSON.stringify(profile));
console.log(
  `${streams} streams: drained ${result.drained} in ${(drainMs / 1000).toFixed(0)} s window ` +
    `(${result.drainRate.overall} grants/s), ${result.queuedDuringDrain} QUEUED updates`,
);
for (const phase of ["waiting", "drain"] as const) {
  console.log(`\n[${phase} phase]`);
  console.log(formatProfile(summarizeProfile(file, ROOT, 20, [result.phasesUs[phase]])));
}
load.kill("SIGKILL");
await c.close();
process.exit(0);
