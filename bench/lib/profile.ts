/**
 * Summary of a V8 .cpuprofile (written by `node --cpu-prof`): the top frames by self time and by
 * total (inclusive) time, and the share of time per area of the code base.
 *
 * Standalone: `npx tsx bench/lib/profile.ts FILE.cpuprofile [--top N]`.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FrameTime {
  frame: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  /** Only the scenarios' own time was counted (start-up and shutdown left out). */
  windowed: boolean;
  totalMs: number;
  /** Time not idle: everything except "(idle)". */
  busyMs: number;
  /** Share of busy time per area (core, server, connect, protobuf, node internals, GC, ...). */
  areas: FrameTime[];
  topSelf: FrameTime[];
  topTotal: FrameTime[];
}

const IDLE = "(idle)";

function area(cf: CallFrame): string {
  const u = cf.url;
  const f = cf.functionName;
  if (f === "(garbage collector)") return "GC";
  if (f === IDLE) return "idle";
  if (f === "(program)") return "(program: native, not attributed)";
  if (u.includes("/coordinator/core/")) return "coordinator/core (scheduler)";
  if (u.includes("/coordinator/services/")) return "coordinator/services (RPC handlers)";
  if (u.includes("/coordinator/")) return "coordinator (runtime, transport, metrics)";
  if (u.includes("/gen/ts/")) return "generated code";
  if (u.includes("node_modules/@connectrpc/")) return "connect-es (RPC protocol)";
  if (u.includes("node_modules/@bufbuild/")) return "protobuf-es (encode/decode)";
  if (u.includes("node_modules/pino") || u.includes("node_modules/sonic-boom")) return "pino";
  if (u.includes("node_modules/")) return "other dependencies";
  if (u.startsWith("node:") || u === "") return "node internals (http2, streams, timers, native)";
  return "other";
}

function frameName(cf: CallFrame, root: string): string {
  const fn = cf.functionName || "(anonymous)";
  if (!cf.url) return fn;
  let where = cf.url.replace(/^file:\/\//, "");
  if (where.startsWith("/")) where = relative(root, where);
  return `${fn} ${where}:${cf.lineNumber + 1}`;
}

/**
 * @param windows only samples taken inside these [start, end] intervals count (microseconds of
 *   the monotonic clock: process.hrtime.bigint() / 1000n in any process on the same machine
 *   reads the same clock as V8's profile timestamps), e.g. to leave out start-up.
 */
export function summarizeProfile(
  file: string,
  root: string,
  top = 15,
  windows?: [number, number][],
): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const inWindow = (t: number): boolean => !windows || windows.some(([a, b]) => t >= a && t <= b);
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // Self time per node: each sample's delta belongs to the node it hit.
  const selfUs = new Map<number, number>();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    t += prof.timeDeltas[i] ?? 0;
    const dt = prof.timeDeltas[i + 1] ?? 0;
    if (!inWindow(t)) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areas = new Map<string, number>();
  let all = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    all += us;
    if (node.callFrame.functionName === IDLE) {
      idle += us;
      continue;
    }
    const name = frameName(node.callFrame, root);
    self.set(name, (self.get(name) ?? 0) + us);
    const a = area(node.callFrame);
    areas.set(a, (areas.get(a) ?? 0) + us);
    // Inclusive time: count this sample once for every distinct frame on its stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      if (cf.functionName === "(root)") continue;
      const key = frameName(cf, root);
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + us);
    }
  }
  const busy = all - idle;
  const list = (m: Map<string, number>, n: number): FrameTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([frame, us]) => ({
        frame,
        ms: Math.round(us / 100) / 10,
        pct: busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0,
      }));
  return {
    file,
    windowed: windows !== undefined,
    totalMs: Math.round(all / 1000),
    busyMs: Math.round(busy / 1000),
    areas: list(areas, 20),
    topSelf: list(self, top),
    topTotal: list(total, top),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const lines: string[] = [];
  lines.push(
    `profile ${s.file}: ${s.busyMs} ms busy of ${s.totalMs} ms${s.windowed ? " (scenario time only)" : ""}`,
  );
  lines.push("  by area (% of busy time):");
  for (const a of s.areas) lines.push(`    ${a.pct.toFixed(1).padStart(5)}%  ${a.frame}`);
  lines.push("  top frames by self time:");
  for (const f of s.topSelf) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.frame}`);
  lines.push("  top frames by total (inclusive) time:");
  for (const f of s.topTotal) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.frame}`);
  return lines.join("\n");
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1]);
if (isMain) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: tsx bench/lib/profile.ts FILE.cpuprofile [--top N]\n");
    process.exit(2);
  }
  const i = process.argv.indexOf("--top");
  const top = i > 0 ? Number(process.argv[i + 1]) : 15;
  console.log(formatProfile(summarizeProfile(file, process.cwd(), top)));
}
