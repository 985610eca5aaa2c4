/**
 * Pure formatting for `cf-orch status` (and the queue line of `cf-orch run`): human units,
 * durations, aligned tables, and the whole status snapshot as text. No I/O here.
 */
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  EvictionState,
  type Eviction,
  type GetStatusResponse,
  type GpuStatus,
  type QueuedRequest,
} from "../gen/ts/cforch/v1/cluster_pb.js";
import { PriorityClass } from "../gen/ts/cforch/v1/common_pb.js";
import { LeaseState, WaitReason, type Lease } from "../gen/ts/cforch/v1/lease_pb.js";

const MIB_PER_GIB = 1024;
const MIB_PER_TIB = 1024 * 1024;

/** MiB in human units: "512 MiB", "24.0 GiB", "1.5 TiB". */
export function formatMb(mb: number | bigint): string {
  const n = Number(mb);
  if (!Number.isFinite(n)) return "?";
  if (Math.abs(n) < MIB_PER_GIB) return `${Math.round(n)} MiB`;
  if (Math.abs(n) < MIB_PER_TIB) return `${(n / MIB_PER_GIB).toFixed(1)} GiB`;
  return `${(n / MIB_PER_TIB).toFixed(1)} TiB`;
}

/** A duration for a table cell: "850ms", "9.5s", "42s", "2m05s", "1h02m", "3d04h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1_000) return `${Math.floor(ms)}ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  const pad = (v: number): string => String(v).padStart(2, "0");
  if (s < 3_600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${pad(Math.floor((s % 3_600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3_600))}h`;
}

export type Align = "left" | "right";

/**
 * An aligned table: a header row and rows of cells, columns separated by two spaces, right-aligned
 * where `align` says so, no trailing spaces. Missing cells are blank.
 */
export function formatTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    headers
      .map((_, i) => {
        const cell = cells[i] ?? "";
        return align[i] === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

function enumName<T extends number>(
  names: Record<number, string>,
  value: T,
  fallback = "unspecified",
): string {
  const name = names[value];
  return name === undefined || name === "UNSPECIFIED" ? fallback : name.toLowerCase();
}

/** "normal", "high"... (unspecified is normal on the wire). */
export function priorityName(p: PriorityClass): string {
  return enumName(PriorityClass, p, "normal");
}

export function leaseStateName(s: LeaseState): string {
  return enumName(LeaseState, s);
}

export function waitReasonName(r: WaitReason): string {
  return enumName(WaitReason, r);
}

export function evictionStateName(s: EvictionState): string {
  return enumName(EvictionState, s);
}

function msOf(t: Timestamp | undefined): number | undefined {
  return t ? timestampMs(t) : undefined;
}

/** Time from `now` until `t` ("-" when unknown). */
function until(t: Timestamp | undefined, now: number): string {
  const at = msOf(t);
  if (at === undefined) return "-";
  const d = at - now;
  return d <= 0 ? `overdue ${formatDuration(-d)}` : formatDuration(d);
}

/** Time from `t` until `now` ("-" when unknown). */
function since(t: Timestamp | undefined, now: number): string {
  const at = msOf(t);
  return at === undefined ? "-" : formatDuration(Math.max(0, now - at));
}

const dash = (s: string): string => (s === "" ? "-" : s);

export function gpuTable(gpus: readonly GpuStatus[]): string {
  const unaccounted = gpus.some((g) => g.unaccountedMb > 0n);
  const headers = ["GPU", "NAME", "CAPACITY", "LEASED", "RESERVED", "MEASURED"];
  if (unaccounted) headers.push("UNACCOUNTED");
  headers.push("FREE");
  const rows = gpus.map((g) => {
    const row = [
      g.gpuId,
      dash(g.name),
      formatMb(g.capacityMb),
      formatMb(g.leasedMb),
      formatMb(g.reservedMb),
      g.measuredMb > 0n ? formatMb(g.measuredMb) : "-",
    ];
    if (unaccounted) row.push(formatMb(g.unaccountedMb));
    row.push(formatMb(g.freeMb));
    return row;
  });
  if (gpus.length > 1) {
    const sum = (f: (g: GpuStatus) => bigint): bigint => gpus.reduce((a, g) => a + f(g), 0n);
    const total = [
      "total",
      `${gpus.length} GPUs`,
      formatMb(sum((g) => g.capacityMb)),
      formatMb(sum((g) => g.leasedMb)),
      formatMb(sum((g) => g.reservedMb)),
      gpus.some((g) => g.measuredMb > 0n) ? formatMb(sum((g) => g.measuredMb)) : "-",
    ];
    if (unaccounted) total.push(formatMb(sum((g) => g.unaccountedMb)));
    total.push(formatMb(sum((g) => g.freeMb)));
    rows.push(total);
  }
  const align: Align[] = headers.map((_, i) => (i >= 2 ? "right" : "left"));
  return formatTable(headers, rows, align);
}

export function leaseTable(leases: readonly Lease[], now: number): string {
  const headers = [
    "LEASE",
    "SERVICE",
    "TASK",
    "GPU",
    "VRAM",
    "STATE",
    "PRIORITY",
    "EXPIRES IN",
    "FENCE",
  ];
  const rows = leases.map((l) => {
    let state = leaseStateName(l.state);
    if (l.evictable && l.state === LeaseState.ACTIVE) state += " (evictable)";
    return [
      l.leaseId,
      dash(l.slot?.service ?? ""),
      dash(l.slot?.taskType ?? ""),
      dash(l.gpuId),
      formatMb(l.vramMb),
      state,
      priorityName(l.slot?.priority ?? PriorityClass.UNSPECIFIED),
      l.state === LeaseState.PAUSED ? "-" : until(l.expiresAt, now),
      String(l.fencingToken),
    ];
  });
  const align: Align[] = headers.map((h) =>
    h === "VRAM" || h === "EXPIRES IN" || h === "FENCE" ? "right" : "left",
  );
  return formatTable(headers, rows, align);
}

export function queueTable(queue: readonly QueuedRequest[], now: number): string {
  const headers = [
    "POS",
    "REQUEST",
    "SERVICE",
    "TASK",
    "VRAM",
    "PRIORITY",
    "AHEAD",
    "WAITING",
    "REASON",
  ];
  const rows = queue.map((q) => {
    const st = q.status;
    let reason = st?.reasonText || waitReasonName(st?.reason ?? WaitReason.UNSPECIFIED);
    if (q.pausedLeaseId) reason = `paused lease ${q.pausedLeaseId}: ${reason}`;
    const pin = q.slot?.constraints?.gpuId || q.slot?.constraints?.node;
    return [
      String(st?.position ?? "?"),
      dash(st?.requestId ?? ""),
      dash(q.slot?.service ?? ""),
      dash(q.slot?.taskType ?? ""),
      formatMb(q.slot?.vramMb ?? 0n) + (pin ? ` @${pin}` : ""),
      priorityName(q.slot?.priority ?? PriorityClass.UNSPECIFIED),
      st && st.vramAheadMb > 0n ? formatMb(st.vramAheadMb) : "-",
      since(st?.enqueuedAt, now),
      reason,
    ];
  });
  const align: Align[] = headers.map((h) =>
    h === "POS" || h === "VRAM" || h === "AHEAD" || h === "WAITING" ? "right" : "left",
  );
  return formatTable(headers, rows, align);
}

export function evictionTable(evictions: readonly Eviction[], now: number): string {
  const headers = [
    "PREEMPTOR",
    "VICTIM LEASE",
    "HOLDER",
    "GPU",
    "VRAM",
    "STATE",
    "FOR",
    "DEADLINE",
  ];
  const rows = evictions.map((e) => [
    e.preemptorRequestId,
    e.victimLeaseId,
    dash(e.victimHolderId),
    dash(e.gpuId),
    formatMb(e.vramMb),
    evictionStateName(e.state),
    since(e.startedAt, now),
    until(e.deadline, now),
  ]);
  const align: Align[] = headers.map((h) =>
    h === "VRAM" || h === "FOR" || h === "DEADLINE" ? "right" : "left",
  );
  return formatTable(headers, rows, align);
}

export interface StatusTextOptions {
  /** The coordinator's URL, for the header line. */
  url?: string;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The whole snapshot as the text `cf-orch status` prints (no trailing newline). */
export function formatStatus(status: GetStatusResponse, options: StatusTextOptions = {}): string {
  const now = msOf(status.now) ?? Date.now();
  const header = [
    "cf-orch status",
    ...(options.url ? [options.url] : []),
    new Date(now)
      .toISOString()
      .replace("T", " ")
      .replace(/\.\d+Z$/, "Z"),
    `revision ${status.revision}`,
  ].join("  ·  ");
  const out = [header, ""];
  out.push(`GPUs: ${status.gpus.length}`);
  out.push(status.gpus.length ? gpuTable(status.gpus) : "  (no GPUs registered)");
  out.push("", `Leases: ${status.leases.length}`);
  if (status.leases.length) out.push(leaseTable(status.leases, now));
  out.push("", `Queue: ${plural(status.queue.length, "waiting request")}`);
  if (status.queue.length) out.push(queueTable(status.queue, now));
  out.push("", `Evictions in flight: ${status.evictions.length}`);
  if (status.evictions.length) out.push(evictionTable(status.evictions, now));
  return out.join("\n");
}
