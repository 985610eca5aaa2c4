/** `cf-orch run`'s pure parts: argument parsing, CUDA_VISIBLE_DEVICES, the child's environment. */
import {
  cudaVisibleDevices,
  leaseEnvironment,
  parseRunArgs,
  signalExitCode,
  type RunArgs,
} from "../../cli/run.js";

function parsed(argv: string[]): RunArgs {
  const r = parseRunArgs(argv);
  if (r === "help") throw new Error("unexpected help");
  return r;
}

describe("parseRunArgs", () => {
  test("defaults and every option, in both --opt value and --opt=value spellings", () => {
    expect(parsed(["--vram", "4", "--", "python", "x.py"])).toEqual({
      vramGb: 4,
      vramMb: undefined,
      service: "cli",
      taskType: undefined,
      priority: undefined,
      gpu: undefined,
      node: undefined,
      ttlMs: undefined,
      url: undefined,
      fallback: "local",
      verbose: false,
      command: ["python", "x.py"],
    });
    expect(
      parsed([
        "--vram-mb=1500",
        "--service=kiwi",
        "--task-type",
        "recipe_llm",
        "--priority=HIGH",
        "--gpu",
        "local/1",
        "--node=local",
        "--ttl-ms",
        "1500",
        "--url=http://10.0.0.1:7700",
        "--fallback",
        "error",
        "-v",
        "--",
        "sh",
        "-c",
        "echo --vram 9 -- x",
      ]),
    ).toEqual({
      vramGb: undefined,
      vramMb: 1500,
      service: "kiwi",
      taskType: "recipe_llm",
      priority: "high",
      gpu: "local/1",
      node: "local",
      ttlMs: 1500,
      url: "http://10.0.0.1:7700",
      fallback: "error",
      verbose: true,
      command: ["sh", "-c", "echo --vram 9 -- x"],
    });
  });

  test("fractional GB", () => {
    expect(parsed(["--vram", "0.5", "--", "x"]).vramGb).toBe(0.5);
    expect(parsed(["--vram", ".25", "--", "x"]).vramGb).toBe(0.25);
    expect(parsed(["--vram", "3.", "--", "x"]).vramGb).toBe(3);
  });

  test("--help anywhere before --", () => {
    expect(parseRunArgs(["--vram", "x", "--help"])).toBe("help");
    expect(parseRunArgs(["-h"])).toBe("help");
    // After "--" it belongs to the command.
    expect(parsed(["--vram", "1", "--", "cmd", "--help"]).command).toEqual(["cmd", "--help"]);
  });

  test.each([
    [
      ["--vram", "4", "echo", "hi"],
      'missing "--" before the command: write cf-orch run [options] -- echo hi',
    ],
    [["--vram", "4"], 'missing "-- CMD [ARGS...]"'],
    [["--vram", "4", "--"], 'missing the command after "--"'],
    [["--vram", "4", "--", ""], 'missing the command after "--"'],
    [["--", "echo"], "--vram GB (or --vram-mb MIB) is required"],
    [["--vram", "abc", "--", "echo"], '--vram: expected a number of GB greater than 0, got "abc"'],
    [["--vram", "-1", "--", "echo"], '--vram: expected a number of GB greater than 0, got "-1"'],
    [["--vram", "0", "--", "echo"], '--vram: expected a number of GB greater than 0, got "0"'],
    [["--vram", "1e3", "--", "echo"], '--vram: expected a number of GB greater than 0, got "1e3"'],
    [["--vram", "NaN", "--", "echo"], "--vram: expected a number of GB"],
    [["--vram", "Infinity", "--", "echo"], "--vram: expected a number of GB"],
    [
      ["--vram-mb", "1.5", "--", "echo"],
      '--vram-mb: expected a whole number of MiB, at least 1, got "1.5"',
    ],
    [["--vram-mb", "0", "--", "echo"], "--vram-mb: expected a whole number of MiB"],
    [["--vram-mb", "99999999999999999999", "--", "echo"], "--vram-mb: expected a whole number"],
    [["--vram", "1", "--vram-mb", "2", "--", "echo"], "give --vram or --vram-mb, not both"],
    [
      ["--vram", "1", "--ttl-ms", "0", "--", "echo"],
      '--ttl-ms: expected whole milliseconds from 1 to 3600000, got "0"',
    ],
    [["--vram", "1", "--ttl-ms", "3600001", "--", "echo"], "--ttl-ms: expected whole milliseconds"],
    [["--vram", "1", "--ttl-ms", "1.5", "--", "echo"], "--ttl-ms: expected whole milliseconds"],
    [
      ["--vram", "1", "--priority", "urgent", "--", "echo"],
      "--priority: expected one of batch, low, normal, high, critical",
    ],
    [
      ["--vram", "1", "--fallback", "maybe", "--", "echo"],
      '--fallback: expected "local" or "error", got "maybe"',
    ],
    [["--vram", "1", "--bogus", "--", "echo"], "unknown option --bogus"],
    [["--vram", "--", "echo"], "--vram: a value is required"],
    [["--vram", "1", "--service"], "--service: a value is required"],
  ])("%j → %s", (argv, message) => {
    expect(() => parseRunArgs(argv)).toThrow(message);
  });
});

describe("cudaVisibleDevices", () => {
  test.each([
    ["local/0", "0"],
    ["gpu-host-3/7", "7"],
    ["a/b/12", "12"],
    ["3", "3"],
    ["GPU-8f3c2d1e-1111-2222-3333-444455556666", "GPU-8f3c2d1e-1111-2222-3333-444455556666"],
    ["node/GPU-8f3c2d1e", "GPU-8f3c2d1e"],
    ["", undefined],
  ])("%s → %s", (id, expected) => {
    expect(cudaVisibleDevices(id)).toBe(expected);
  });
});

describe("leaseEnvironment", () => {
  const base = { PATH: "/bin", CUDA_VISIBLE_DEVICES: "5", CF_ORCH_GPU_ID: "stale" };

  test("coordinated lease", () => {
    const env = leaseEnvironment(
      base,
      { id: "lease_1", gpuId: "local/1", vramMb: 4096, fencingToken: 17n, mode: "coordinated" },
      undefined,
    );
    expect(env).toEqual({
      PATH: "/bin",
      CUDA_VISIBLE_DEVICES: "1",
      CF_ORCH_GPU_ID: "local/1",
      CF_ORCH_LEASE_ID: "lease_1",
      CF_ORCH_VRAM_MB: "4096",
      CF_ORCH_FENCING_TOKEN: "17",
      CF_ORCH_MODE: "coordinated",
    });
  });

  test("local lease without --gpu: CUDA_VISIBLE_DEVICES is left as it was, no GPU id", () => {
    const env = leaseEnvironment(
      base,
      { id: "local-x", gpuId: "", vramMb: 1024, fencingToken: 0n, mode: "local" },
      undefined,
    );
    expect(env.CUDA_VISIBLE_DEVICES).toBe("5");
    expect(env.CF_ORCH_GPU_ID).toBeUndefined();
    expect(env.CF_ORCH_MODE).toBe("local");
  });

  test("local lease with --gpu", () => {
    const env = leaseEnvironment(
      {},
      { id: "local-x", gpuId: "", vramMb: 1024, fencingToken: 0n, mode: "local" },
      "box/2",
    );
    expect(env.CUDA_VISIBLE_DEVICES).toBe("2");
    expect(env.CF_ORCH_GPU_ID).toBe("box/2");
  });
});

test("signalExitCode is 128 + the signal number", () => {
  expect(signalExitCode("SIGINT")).toBe(130);
  expect(signalExitCode("SIGKILL")).toBe(137);
  expect(signalExitCode("SIGTERM")).toBe(143);
});
