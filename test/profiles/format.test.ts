import {
  formatProfile,
  formatProfilesTable,
  GPU_PROFILES,
  listGpuProfiles,
  profileSupports,
  resolveGpuProfile,
  type GpuProfile,
} from "../../profiles/index.js";

function profile(name: string): GpuProfile {
  const p = resolveGpuProfile(name);
  if (p === undefined) throw new Error(`${name} does not resolve`);
  return p;
}

describe("formatProfilesTable", () => {
  const profiles = [profile("RTX 4090"), profile("H100 NVL"), profile("Apple M2 Max")];
  const lines = formatProfilesTable(profiles).split("\n");

  it("has a header, one row per profile and a legend", () => {
    expect(lines[0]).toMatch(
      /^NAME\s+VENDOR\s+ARCH\s+VRAM\s+FP16\s+BF16\s+FP8\s+INT8\s+INT4\s+MAXBATCH$/,
    );
    expect(lines.slice(1, 4).map((l) => l.split(/\s{2,}/)[0])).toEqual([
      "GeForce RTX 4090",
      "H100 NVL",
      "M2 Max",
    ]);
    expect(lines.at(-1)).toContain("✓ hardware");
  });

  it("aligns every column", () => {
    const header = lines[0] ?? "";
    const vendorAt = header.indexOf("VENDOR");
    const fp16At = header.indexOf("FP16");
    for (const row of lines.slice(1, 4)) {
      expect(row[vendorAt - 1]).toBe(" ");
      expect(row.slice(vendorAt)).toMatch(/^(nvidia|apple) /);
      expect(row[fp16At]).toBe("✓");
    }
    // The numeric MAXBATCH column is right-aligned to the header's end.
    const rows = lines.slice(1, 4);
    expect(rows.map((r) => r.length)).toEqual(rows.map(() => header.length));
  });

  it("marks hardware, software and missing support differently", () => {
    const h100 = lines[2] ?? "";
    // H100: fp16 ✓ bf16 ✓ fp8 ✓ int8 ✓ int4 ~ (software); M2 Max: fp8 - (none).
    expect(h100).toMatch(/✓\s+✓\s+✓\s+✓\s+~\s+64$/); // 94 GB / 0.75 → 125 → 64
    expect(lines[3]).toMatch(/✓\s+✓\s+-\s+~\s+~\s+128$/);
  });

  it("renders the whole registry", () => {
    expect(formatProfilesTable(GPU_PROFILES).split("\n")).toHaveLength(GPU_PROFILES.length + 3);
  });
});

describe("formatProfile", () => {
  it("prints key: value lines", () => {
    const text = formatProfile(profile("NVIDIA GeForce RTX 4090"));
    expect(text).toContain("name:");
    expect(text).toMatch(/^name:\s+GeForce RTX 4090$/m);
    expect(text).toMatch(/^vram:\s+24 GB \(24576 MiB\)$/m);
    expect(text).toMatch(/^computeCapability:\s+8\.9$/m);
    expect(text).toMatch(/^int4:\s+hardware$/m);
    expect(text).toMatch(/^maxBatch:\s+32$/m);
    expect(text).toMatch(/^source:\s+\S/m);
    for (const line of text.split("\n")) expect(line).toMatch(/^[a-zA-Z0-9]+:\s+\S/);
  });

  it("shows per-device caveats where they apply", () => {
    const text = formatProfile(profile("AMD Instinct MI250X"));
    expect(text).toMatch(/^devicesPerPackage:\s+2$/m);
    expect(text).not.toContain("computeCapability");
    expect(formatProfile(profile("Apple M1"))).toMatch(/^unifiedMemory:\s+true$/m);
  });
});

describe("profileSupports and listGpuProfiles", () => {
  it("answers hardware support, software only when asked", () => {
    const h100 = profile("H100 SXM");
    expect(profileSupports(h100, "fp8")).toBe(true);
    expect(profileSupports(h100, "int4")).toBe(false);
    expect(profileSupports(h100, "int4", { allowSoftware: true })).toBe(true);
    const t4 = profile("Tesla T4");
    expect(profileSupports(t4, "bf16")).toBe(false);
    expect(profileSupports(t4, "bf16", { allowSoftware: true })).toBe(false);
  });

  it("lists everything, or filters", () => {
    expect(listGpuProfiles()).toEqual([...GPU_PROFILES]);
    const apple = listGpuProfiles({ vendor: "apple" });
    expect(apple.length).toBeGreaterThanOrEqual(12);
    expect(apple.every((p) => p.vendor === "apple")).toBe(true);
    const big = listGpuProfiles({ vendor: "nvidia", minVramGb: 80, supports: ["fp8"] });
    expect(big.map((p) => p.name)).toEqual(
      expect.arrayContaining(["H100 SXM", "H100 NVL", "H200", "B200", "RTX PRO 6000 Blackwell"]),
    );
    expect(big.some((p) => p.name.startsWith("A100"))).toBe(false);
    const laptops = listGpuProfiles({ formFactor: "laptop" });
    expect(laptops.length).toBeGreaterThan(10);
    expect(laptops.every((p) => p.name.includes("Laptop GPU"))).toBe(true);
  });
});
