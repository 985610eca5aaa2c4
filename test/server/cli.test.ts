/** The `cf-orch` CLI: help, config errors, graceful SIGTERM, profiles. */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClusterService } from "../../gen/ts/cforch/v1/cluster_pb.js";
import { CLI, FAKE_NVIDIA_SMI, REPO_ROOT, spawnCoordinator } from "../support/coordinator.js";

jest.setTimeout(60_000);

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of Object.keys(e)) if (k.startsWith("CF_ORCH_") && !(k in env)) delete e[k];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: REPO_ROOT, env: e, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cf-orch-cli-"));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

test("cf-orch coordinator --help", async () => {
  const r = await cli(["coordinator", "--help"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("usage: cf-orch coordinator");
  expect(r.stdout).toContain("--port");
  expect(r.stdout).toContain("CF_ORCH_PORT");
  expect(r.stdout).toContain("--nvidia-smi");
});

test("cf-orch with no command prints the command table", async () => {
  const r = await cli([]);
  expect(r.code).toBe(2);
  expect(r.stdout).toContain("coordinator");
  expect(r.stdout).toContain("profiles");
});

test("a bad config file gives an error naming the key and exits non-zero", async () => {
  const file = tempFile(
    "bad.yaml",
    "gpus:\n  - index: 0\n    capacity_mb: 24576\n  - index: 1\n    capacity_mb: abc\n",
  );
  const r = await cli(["coordinator", "--config", file, "--port", "0"]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(
    'gpus[1].capacity_mb: expected a positive integer (MiB) up to 16777216, got "abc"',
  );
});

test("bad environment and flag values name the variable and the flag", async () => {
  const env = await cli(["coordinator", "--config", "config/example.yaml"], {
    CF_ORCH_PORT: "seventy",
  });
  expect(env.code).not.toBe(0);
  expect(env.stderr).toContain('CF_ORCH_PORT: expected an integer from 0 to 65535, got "seventy"');
  const flag = await cli(["coordinator", "--config", "config/example.yaml", "--log-level", "loud"]);
  expect(flag.code).not.toBe(0);
  expect(flag.stderr).toContain(
    '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
  );
  const unknown = await cli(["coordinator", "--prot", "1"]);
  expect(unknown.stderr).toContain("--prot: unknown option (did you mean --port?)");
});

test("refuses to bind beyond loopback unless allowed", async () => {
  const r = await cli([
    "coordinator",
    "--config",
    "config/example.yaml",
    "--host",
    "0.0.0.0",
    "--port",
    "0",
  ]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("allow_insecure_remote");
});

test("an explicit nvidia-smi that fails is a clear start error", async () => {
  const r = await cli(["coordinator", "--nvidia-smi", FAKE_NVIDIA_SMI, "--port", "0"], {
    FAKE_NVIDIA_SMI_EXIT: "9",
  });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/nvidia_smi: .*failed: NVIDIA-SMI has failed/);
});

test("spawned coordinator discovers GPUs with a fake nvidia-smi, serves, and exits 0 promptly on SIGTERM", async () => {
  const c = await spawnCoordinator({
    settings: { nvidia_smi: FAKE_NVIDIA_SMI },
    gpus: [],
  });
  const client = createClient(ClusterService, createGrpcTransport({ baseUrl: c.url }));
  const status = await client.getStatus({});
  expect(
    status.gpus.map((g) => [g.gpuId, g.name, g.uuid.slice(0, 8), g.capacityMb, g.measuredMb]),
  ).toEqual([
    ["local/0", "NVIDIA GeForce RTX 4090", "GPU-4b2c", 24564n, 1021n],
    ["local/1", "NVIDIA GeForce RTX 3070", "GPU-9e8d", 8192n, 312n],
  ]);
  expect(status.gpus[0]!.profile?.name).toBe("GeForce RTX 4090");
  // Measured use no lease accounts for is not granted.
  expect(status.gpus[0]!.freeMb).toBe(24564n - 1021n);
  const started = Date.now();
  const exit = await c.stop(10_000);
  expect(exit).toEqual({ code: 0, signal: null });
  expect(Date.now() - started).toBeLessThan(5000);
  expect(c.output.join("\n")).toContain('"msg":"stopped"');
});

test("cf-orch profiles: table, one profile, unknown name", async () => {
  const table = await cli(["profiles"]);
  expect(table.code).toBe(0);
  expect(table.stdout).toContain("GeForce RTX 4090");
  const one = await cli(["profiles", "rtx4090", "--json"]);
  expect(one.code).toBe(0);
  expect((JSON.parse(one.stdout) as { name: string }).name).toBe("GeForce RTX 4090");
  const missing = await cli(["profiles", "RTX 9999 Ultra"]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/did you mean/);
});

test("SIGINT exits 0 too; a port in use is a clear start error", async () => {
  const c = await spawnCoordinator();
  const busy = await cli([
    "coordinator",
    "--config",
    "config/example.yaml",
    "--port",
    String(c.port),
    "--no-persist", // not the repository's .data/, which another coordinator may hold
  ]);
  expect(busy.code).not.toBe(0);
  expect(busy.stderr).toContain(`port: ${c.port} is already in use on 127.0.0.1`);
  c.kill("SIGINT");
  expect(await c.exited).toEqual({ code: 0, signal: null });
});

test("Ctrl-C under npm (the same SIGINT twice at once) still shuts down gracefully", async () => {
  const c = await spawnCoordinator();
  c.kill("SIGINT"); // from the terminal, to the whole process group
  await new Promise((resolve) => setTimeout(resolve, 20));
  c.kill("SIGINT"); // npm forwarding its own
  expect(await c.exited).toEqual({ code: 0, signal: null });
  expect(c.output.join("\n")).toContain('"msg":"stopped"');
  expect(c.output.join("\n")).not.toContain("second signal");
});
