/** Configuration: file, environment, flags, validation messages, nvidia-smi parsing. */
import {
  ConfigError,
  configFromEnv,
  isLoopbackHost,
  loadCliConfig,
  parseConfigText,
  parseFlags,
  resolveConfig,
} from "../../coordinator/config/load.js";
import { parseNvidiaSmiCsv, queryNvidiaSmi } from "../../coordinator/config/nvidia-smi.js";
import { DEFAULTS } from "../../coordinator/config/schema.js";
import { FAKE_NVIDIA_SMI, REPO_ROOT } from "../support/coordinator.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describeGpu, toGpuSpec } from "../../coordinator/gpus.js";

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

test("defaults: loopback, port 7700, 30 s TTL", () => {
  const c = resolveConfig();
  expect(c).toMatchObject({
    host: "127.0.0.1",
    port: 7700,
    defaultTtlMs: 30_000,
    nvidiaSmi: "auto",
  });
});

test("the bundled example config has a 24 GB and an 8 GB GPU on node local", () => {
  const { config } = loadCliConfig(["--config", join(REPO_ROOT, "config/example.yaml")], {});
  expect(config.gpus).toEqual([
    { node: "local", index: 0, name: "NVIDIA GeForce RTX 4090", capacityMb: 24576 },
    { node: "local", index: 1, name: "NVIDIA GeForce RTX 3070", capacityMb: 8192 },
  ]);
  expect(config.port).toBe(7700);
});

test("layers: file < env < flags", () => {
  const file = parseConfigText("port: 7000\nlog_level: warn\nhost: localhost\n");
  const env = configFromEnv({
    CF_ORCH_PORT: "7100",
    CF_ORCH_LOG_LEVEL: "debug",
    CF_ORCH_URL: "ignored",
  });
  const flags = parseFlags(["--port=7200", "--pretty"]).config;
  const c = resolveConfig(file, env, flags);
  expect(c).toMatchObject({ port: 7200, logLevel: "debug", host: "localhost", pretty: true });
});

test.each([
  ["port: abc", 'port: expected an integer from 0 to 65535, got "abc"'],
  ["port: 70000", "port: expected an integer from 0 to 65535, got 70000"],
  [
    "log_level: loud",
    'log_level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
  ],
  ["prot: 1", 'prot: unknown key (did you mean "port"?)'],
  ["pretty: maybe", 'pretty: expected true or false, got "maybe"'],
  ["gpus: 3", "gpus: expected a list of GPUs, got 3"],
  ["gpus:\n  - index: 0", "gpus[0].capacity_mb: required (VRAM to hand out, in MiB, e.g. 24576)"],
  ["gpus:\n  - capacity_mb: 100", "gpus[0].index: required (the device index, e.g. 0)"],
  [
    "gpus:\n  - index: -1\n    capacity_mb: 1",
    "gpus[0].index: expected an integer from 0 to 1023, got -1",
  ],
  [
    "gpus:\n  - index: 0\n    capacity_mb: 0",
    "gpus[0].capacity_mb: expected a positive integer (MiB) up to 16777216, got 0",
  ],
  [
    "gpus:\n  - index: 0\n    capacity_mb: 1\n    colour: red",
    "gpus[0].colour: unknown key; known keys: node, index, name, uuid, capacity_mb, capacity_gb, memory_total_mb",
  ],
  [
    "gpus:\n  - index: 0\n    capacity_mb: 1\n    node: 'a b'",
    'gpus[0].node: expected 1 to 128 of [A-Za-z0-9._-], got "a b"',
  ],
  [
    "gpus:\n  - index: 0\n    capacity_mb: 1\n  - index: 0\n    capacity_mb: 2",
    "gpus[1]: duplicate GPU local/0 (also gpus[0])",
  ],
  ["min_ttl_ms: 5000\nmax_ttl_ms: 4000", "min_ttl_ms: must not exceed max_ttl_ms (5000 > 4000)"],
  ["- a\n- b", "config: expected a mapping of keys (host, port, gpus, ...) at the top"],
])("file %j → %s", (text, message) => {
  expect(problems(() => resolveConfig(parseConfigText(text)))).toContain(message);
});

test("capacity_gb rounds up to MiB", () => {
  const c = resolveConfig(parseConfigText("gpus:\n  - index: 0\n    capacity_gb: 7.5\n"));
  expect(c.gpus[0]!.capacityMb).toBe(7680);
});

test("several problems are reported together", () => {
  const p = problems(() => resolveConfig(parseConfigText("port: x\nlog_level: y\n")));
  expect(p).toHaveLength(2);
});

test("environment and flag errors name the variable and the flag", () => {
  expect(problems(() => configFromEnv({ CF_ORCH_PORT: "x" }))).toEqual([
    'CF_ORCH_PORT: expected an integer from 0 to 65535, got "x"',
  ]);
  expect(problems(() => parseFlags(["--default-ttl-ms", "5"]))).toEqual([
    '--default-ttl-ms: expected an integer from 100 to 86400000 (ms), got "5"',
  ]);
  expect(problems(() => parseFlags(["--port"]))).toEqual(["--port: expects a value"]);
  expect(problems(() => parseFlags(["stray"]))[0]).toMatch(/unexpected argument "stray"/);
  expect(problems(() => parseFlags(["--no-port"]))).toEqual([
    "--no-port: only boolean options can be negated",
  ]);
});

test("binding beyond loopback needs allow_insecure_remote", () => {
  expect(problems(() => resolveConfig({ host: "0.0.0.0" }))[0]).toMatch(
    /^host: "0.0.0.0" is reachable beyond this machine/,
  );
  expect(resolveConfig({ host: "0.0.0.0", allowInsecureRemote: true }).host).toBe("0.0.0.0");
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
    expect(isLoopbackHost(h)).toBe(true);
  for (const h of ["0.0.0.0", "::", "10.1.10.71", "example.com"])
    expect(isLoopbackHost(h)).toBe(false);
});

test("programmatic values get the same checks", () => {
  expect(problems(() => resolveConfig({ port: -1 }))).toEqual([
    "port: expected an integer from 0 to 65535, got -1",
  ]);
  expect(problems(() => resolveConfig({ gpus: [{ index: 0, capacityMb: 1.5 }] }))).toEqual([
    "gpus[0].capacity_mb: expected a positive integer (MiB) up to 16777216, got 1.5",
  ]);
  expect(resolveConfig({ ...DEFAULTS, port: 0 }).port).toBe(0);
});

describe("nvidia-smi", () => {
  test("parses the real CSV format", () => {
    const text =
      "0, NVIDIA GeForce RTX 4090, GPU-4b2c9f7e-1d3a-6e5f-8a9b-0c1d2e3f4a5b, 24564, 1021\n" +
      "1, NVIDIA H100 80GB HBM3, GPU-aaaa, 81559, [N/A]\n";
    expect(parseNvidiaSmiCsv(text)).toEqual([
      {
        index: 0,
        name: "NVIDIA GeForce RTX 4090",
        uuid: "GPU-4b2c9f7e-1d3a-6e5f-8a9b-0c1d2e3f4a5b",
        memoryTotalMb: 24564,
        memoryUsedMb: 1021,
      },
      { index: 1, name: "NVIDIA H100 80GB HBM3", uuid: "GPU-aaaa", memoryTotalMb: 81559 },
    ]);
  });

  test("rejects output of another shape", () => {
    expect(() => parseNvidiaSmiCsv("index, name\n0, x\n")).toThrow(/expected 5/);
    expect(() => parseNvidiaSmiCsv("x, NVIDIA, GPU-1, 100, 1\n")).toThrow(/cannot parse/);
  });

  test("runs the fake script with the real arguments; a missing binary is 'not found'", async () => {
    const gpus = await queryNvidiaSmi(FAKE_NVIDIA_SMI);
    expect(gpus.map((g) => [g.index, g.memoryTotalMb])).toEqual([
      [0, 24564],
      [1, 8192],
    ]);
    await expect(queryNvidiaSmi("/nonexistent/nvidia-smi")).rejects.toMatchObject({
      notFound: true,
    });
  });
});

test("real nvidia-smi output (captured on an H100 host, driver 580.159) parses and resolves its profile", () => {
  const text = readFileSync(join(REPO_ROOT, "test/server/fixtures/nvidia-smi-h100.csv"), "utf8");
  const [gpu] = parseNvidiaSmiCsv(text);
  expect(gpu).toMatchObject({
    index: 0,
    name: "NVIDIA H100 80GB HBM3",
    memoryTotalMb: 81559,
    memoryUsedMb: 0,
  });
  expect(gpu!.uuid).toMatch(/^GPU-[0-9a-f-]{36}$/);
  const rec = describeGpu({
    node: "local",
    index: gpu!.index,
    name: gpu!.name,
    uuid: gpu!.uuid,
    capacityMb: gpu!.memoryTotalMb,
    memoryTotalMb: gpu!.memoryTotalMb,
  });
  expect(rec.profile?.name).toBe("H100 SXM");
  expect(toGpuSpec(rec).capabilities).toEqual(
    expect.arrayContaining(["fp16", "bf16", "fp8", "int8"]),
  );
});

test("the lease store: data_dir, persist, store_sync, drop_missing_gpu_leases by file, env and flag", () => {
  expect(resolveConfig()).toMatchObject({
    dataDir: ".data",
    persist: true,
    storeSync: "normal",
    dropMissingGpuLeases: false,
  });
  const file = parseConfigText("data_dir: /var/lib/cf-orch\nstore_sync: full\n");
  expect(resolveConfig(file)).toMatchObject({ dataDir: "/var/lib/cf-orch", storeSync: "full" });
  const env = configFromEnv({ CF_ORCH_DATA_DIR: "/srv/cf", CF_ORCH_PERSIST: "0" });
  expect(resolveConfig(file, env)).toMatchObject({ dataDir: "/srv/cf", persist: false });
  const flags = parseFlags(["--data-dir", ":memory:", "--drop-missing-gpu-leases"]).config;
  expect(resolveConfig(file, env, flags)).toMatchObject({
    dataDir: ":memory:",
    dropMissingGpuLeases: true,
  });
  expect(parseFlags(["--no-persist"]).config).toEqual({ persist: false });
  expect(problems(() => parseConfigText("store_sync: sometimes\n"))).toEqual([
    'store_sync: expected one of full, normal, got "sometimes"',
  ]);
  expect(problems(() => parseConfigText("data_dir: ''\n"))).toEqual([
    'data_dir: expected a directory path or ":memory:", got ""',
  ]);
});
