/** Shared fixtures for the core tests: a settable clock, a scheduler with an event log. */
import {
  Scheduler,
  type CoreEvent,
  type GpuSpec,
  type SchedulerOptions,
  type SlotSpec,
} from "../../coordinator/core/index.js";

export class FakeClock {
  constructor(public t = 1_000_000) {}
  now(): number {
    return this.t;
  }
  tick(ms: number): void {
    this.t += ms;
  }
}

export function gpu(id: string, capacityMb: number, extra: Partial<GpuSpec> = {}): GpuSpec {
  const [node, index] = id.split("/");
  return { id, node: node ?? id, index: Number(index ?? 0), capacityMb, ...extra };
}

export function slot(
  vramMb: number,
  priority: SlotSpec["priority"] = 3,
  extra: Partial<SlotSpec> = {},
): SlotSpec {
  return { service: "svc", taskType: "t", vramMb, priority, ...extra };
}

export interface Harness {
  s: Scheduler;
  clock: FakeClock;
  events: CoreEvent[];
  /** Events of the given types, in order, and clears the log. */
  take(...types: CoreEvent["type"][]): CoreEvent[];
}

export function harness(gpus: GpuSpec[], opts: Partial<SchedulerOptions> = {}): Harness {
  const clock = new FakeClock();
  let n = 0;
  const s = new Scheduler({ clock, gpus, newLeaseId: () => `L${++n}`, ...opts });
  const events: CoreEvent[] = [];
  s.onEvent((e) => events.push(e));
  return {
    s,
    clock,
    events,
    take(...types) {
      const out = types.length ? events.filter((e) => types.includes(e.type)) : [...events];
      events.length = 0;
      return out;
    },
  };
}

let req = 0;
/** Acquire with a fresh request id; returns the request id and the result. */
export function acq(
  h: Harness,
  vramMb: number,
  priority: SlotSpec["priority"] = 3,
  extra: Partial<SlotSpec> = {},
  holderId = "h1",
) {
  const requestId = `r${++req}`;
  const result = h.s.acquire({ requestId, holderId, slot: slot(vramMb, priority, extra) });
  return { requestId, result };
}

export function leaseOf(r: ReturnType<typeof acq>): string {
  if (r.result.kind !== "granted") throw new Error(`expected a grant, got ${r.result.kind}`);
  return r.result.lease.leaseId;
}
