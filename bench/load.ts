/**
 * The load generator: a child process of bench/run.ts that runs one scenario per IPC message
 * ({ id, scenario, params }) and answers { id, result } or { id, error }. It talks to the
 * coordinator only over loopback (or, for "core", runs the scheduling core in-process).
 */
import * as net from "./scenarios/net.js";
import { coreBench } from "./core-bench.js";

type Handler = (params: never) => Promise<unknown>;

const scenarios: Record<string, Handler> = {
  warmup: net.warmup as Handler,
  baseline: net.baseline as Handler,
  leaseCycle: net.leaseCycle as Handler,
  handoff: net.handoff as Handler,
  eviction: net.eviction as Handler,
  scale: net.scale as Handler,
  core: coreBench as Handler,
};

interface Request {
  id: number;
  scenario: string;
  params: unknown;
}

if (!process.send) {
  process.stderr.write("bench/load.ts is started by bench/run.ts (it needs an IPC channel)\n");
  process.exit(2);
}

process.on("message", (raw: unknown) => {
  const msg = raw as Request;
  const handler = scenarios[msg.scenario];
  void (async () => {
    try {
      if (!handler) throw new Error(`unknown scenario ${msg.scenario}`);
      const result = await handler(msg.params as never);
      process.send!({ id: msg.id, result });
    } catch (err) {
      process.send!({ id: msg.id, error: (err as Error).stack ?? String(err) });
    }
  })();
});
process.on("disconnect", () => process.exit(0));
