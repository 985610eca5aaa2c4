/** `cf-orch coordinator`: run the coordinator until SIGINT / SIGTERM. */
import type { Command } from "./main.js";
import { ConfigError, configHelp, loadCliConfig } from "../coordinator/config/load.js";
import { startCoordinator } from "../coordinator/server.js";

/** Signals closer together than this are one signal delivered twice (process group + npm). */
const DUPLICATE_SIGNAL_MS = 500;
export const HELP = `usage: cf-orch coordinator [--config FILE] [options]

Runs the cf-orch coordinator: gRPC, gRPC-Web and Connect on one port, plus GET /healthz and
GET /metrics. Settings come from defaults < the YAML file (--config or CF_ORCH_CONFIG) <
CF_ORCH_* environment variables < flags. See config/example.yaml.

options:
  --config <file>                YAML configuration file (env: CF_ORCH_CONFIG)
${configHelp()}
  --help                         show this help

GPUs are listed under \`gpus:\` in the file (index, name, capacity_mb, optional node and uuid)
and/or discovered with nvidia-smi on this host (nvidia_smi: auto | off | PATH).
Stop it with Ctrl-C (SIGINT) or SIGTERM: it stops accepting, reports NOT_SERVING, ends
streams with UNAVAILABLE and exits 0.`;

async function run(argv: string[]): Promise<number> {
  let loaded;
  try {
    loaded = loadCliConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `cf-orch coordinator: ${err.message}\n(see cf-orch coordinator --help)\n`,
      );
      return 2;
    }
    throw err;
  }
  if (loaded.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  let coordinator;
  try {
    coordinator = await startCoordinator(loaded.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`cf-orch coordinator: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(
      `cf-orch coordinator: failed to start: ${(err as Error).stack ?? String(err)}\n`,
    );
    return 1;
  }
  const c = coordinator;
  // A second signal means "stop waiting, exit now" — but Ctrl-C under `npm start` reaches us
  // twice at once (the terminal signals the whole process group and npm forwards its own), so
  // only a signal that comes a moment after the first counts as the second.
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (firstSignalAt !== undefined) {
      if (now - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
      c.logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    firstSignalAt = now;
    c.logger.info({ signal }, "signal received");
    void c.close();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  await c.closed;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  // Nothing should keep the process alive now; if something does, do not hang.
  const code = c.failure ? 1 : 0;
  setTimeout(() => process.exit(code), 1000).unref();
  return code;
}

export const command: Command = {
  summary: "run the coordinator (gRPC/gRPC-Web/Connect on one port)",
  run,
};
