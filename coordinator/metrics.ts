/**
 * Prometheus metrics at GET /metrics (text exposition format 0.0.4): counters fed by the core's
 * events, gauges read from the scheduler at scrape time.
 */
import type { CoreEvent, Scheduler } from "./core/index.js";

type Labels = Record<string, string>;

class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = JSON.stringify(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, { labels, value: by });
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    if (this.values.size === 0) out.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values())
      out.push(`${this.name}${fmt(labels)} ${value}`);
  }
}

const esc = (v: string): string =>
  v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const fmt = (labels: Labels): string => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
};

export class Metrics {
  readonly grants = new Counter(
    "cforch_grants_total",
    "Leases granted (first grants, not resumes).",
  );
  readonly releases = new Counter(
    "cforch_releases_total",
    "Leases ended, by reason (released, expired, holder-gone).",
  );
  readonly expiries = new Counter(
    "cforch_expiries_total",
    "Leases reclaimed because their holder stopped keeping them alive.",
  );
  readonly evictions = new Counter(
    "cforch_evictions_total",
    "Checkpoint requests sent to eviction victims.",
  );
  readonly pauses = new Counter("cforch_pauses_total", "Leases paused after a checkpoint.");
  readonly resumes = new Counter("cforch_resumes_total", "Paused leases re-granted.");
  readonly abandoned = new Counter(
    "cforch_evictions_abandoned_total",
    "Evictions given up, by reason (refused, deadline, ...).",
  );
  readonly failed = new Counter(
    "cforch_requests_failed_total",
    "Waiting requests failed because they can no longer fit.",
  );
  readonly cancelled = new Counter(
    "cforch_requests_cancelled_total",
    "Waiting requests withdrawn (cancelled calls, Release by request id).",
  );
  readonly dropped = new Counter(
    "cforch_paused_dropped_total",
    "Paused leases dropped, by reason.",
  );
  readonly rpcErrors = new Counter(
    "cforch_rpc_errors_total",
    "RPCs that ended in an error, by method and code.",
  );
  readonly nvidiaSmiRuns = new Counter(
    "cforch_nvidia_smi_runs_total",
    "nvidia-smi runs measuring usage, by trigger (period, release, retry) and result (ok, error).",
  );
  /** Gauges maintained by the server (streams, sessions). */
  readonly gauges = new Map<string, { help: string; value: () => number }>();

  count(e: CoreEvent): void {
    switch (e.type) {
      case "granted":
        this.grants.inc();
        return;
      case "released":
        this.releases.inc({ reason: e.reason });
        if (e.reason === "expired") this.expiries.inc();
        return;
      case "checkpoint-requested":
        this.evictions.inc();
        return;
      case "paused":
        this.pauses.inc();
        return;
      case "resumed":
        this.resumes.inc();
        return;
      case "eviction-abandoned":
        this.abandoned.inc({ reason: e.reason });
        return;
      case "request-failed":
        this.failed.inc({ code: e.code });
        return;
      case "cancelled":
        this.cancelled.inc();
        return;
      case "paused-dropped":
        this.dropped.inc({ reason: e.reason });
        return;
      default:
        return;
    }
  }

  render(scheduler: Scheduler): string {
    const out: string[] = [];
    const gauge = (name: string, help: string, rows: Array<[Labels, number]>) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const [labels, v] of rows) out.push(`${name}${fmt(labels)} ${v}`);
    };
    const leases = scheduler.leases();
    const byState: Record<string, number> = { active: 0, checkpointing: 0, paused: 0 };
    for (const l of leases) byState[l.state] = (byState[l.state] ?? 0) + 1;
    gauge(
      "cforch_leases",
      "Live leases by state.",
      Object.entries(byState).map(([state, n]) => [{ state }, n]),
    );
    const queue = scheduler.queue();
    gauge("cforch_queue_length", "Waiting requests (paused leases included).", [
      [{}, queue.length],
    ]);
    gauge("cforch_queue_vram_mb", "VRAM asked for by waiting requests, MiB.", [
      [{}, queue.reduce((s, q) => s + q.slot.vramMb, 0)],
    ]);
    gauge(
      "cforch_evictions_in_flight",
      "Victims asked to checkpoint and not yet answered or paused for a preemptor.",
      [[{}, scheduler.evictions().length]],
    );
    const gpus = scheduler.gpus();
    const per = (name: string, help: string, pick: (g: (typeof gpus)[number]) => number) =>
      gauge(
        name,
        help,
        gpus.map((g) => [{ gpu: g.spec.id, node: g.spec.node }, pick(g)]),
      );
    per(
      "cforch_gpu_capacity_mb",
      "VRAM cf-orch may hand out per GPU, MiB.",
      (g) => g.spec.capacityMb,
    );
    per(
      "cforch_gpu_leased_mb",
      "VRAM of live (active and checkpointing) leases per GPU, MiB.",
      (g) => g.leasedMb,
    );
    per(
      "cforch_gpu_reserved_mb",
      "VRAM reserved for evictions in flight per GPU, MiB.",
      (g) => g.reservedMb,
    );
    per("cforch_gpu_measured_mb", "Last measured VRAM use per GPU, MiB.", (g) => g.measuredUsedMb);
    per(
      "cforch_gpu_unaccounted_mb",
      "Measured use no lease accounts for, plus memory released since the last measurement, per GPU, MiB.",
      (g) => g.unaccountedMb,
    );
    per("cforch_gpu_free_mb", "VRAM that can be granted now per GPU, MiB.", (g) => g.freeMb);
    for (const [name, g] of this.gauges) gauge(name, g.help, [[{}, g.value()]]);
    for (const c of [
      this.grants,
      this.releases,
      this.expiries,
      this.evictions,
      this.pauses,
      this.resumes,
      this.abandoned,
      this.failed,
      this.cancelled,
      this.dropped,
      this.rpcErrors,
      this.nvidiaSmiRuns,
    ])
      c.render(out);
    return out.join("\n") + "\n";
  }
}
