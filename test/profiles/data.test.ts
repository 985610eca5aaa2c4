import { ARCHITECTURES } from "../../profiles/architectures.js";
import { GB_PER_SEQUENCE, MAX_BATCH_CAP } from "../../profiles/max-batch.js";
import { normalizeName } from "../../profiles/normalize.js";
import { ambiguousKeys, nameForms } from "../../profiles/resolve.js";
import {
  GPU_PROFILES,
  PRECISIONS,
  resolveGpuProfile,
  type GpuProfile,
} from "../../profiles/index.js";

function byName(name: string): GpuProfile {
  const profile = GPU_PROFILES.find((p) => p.name === name);
  if (profile === undefined) throw new Error(`no profile named ${name}`);
  return profile;
}

function cc(profile: GpuProfile): number {
  return Number(profile.computeCapability);
}

describe("GPU_PROFILES data", () => {
  it("has at least 60 profiles", () => {
    expect(GPU_PROFILES.length).toBeGreaterThanOrEqual(60);
  });

  it("has unique canonical names", () => {
    const names = GPU_PROFILES.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it("has no spelling (name, alias, short form) that two profiles answer to", () => {
    expect(ambiguousKeys()).toEqual([]);
    const owner = new Map<string, string>();
    for (const profile of GPU_PROFILES) {
      for (const form of nameForms(profile)) {
        const previous = owner.get(form.key);
        if (previous !== undefined) expect([form.key, previous]).toEqual([form.key, profile.name]);
        owner.set(form.key, profile.name);
      }
    }
  });

  it("resolves each alias to its own profile", () => {
    for (const profile of GPU_PROFILES) {
      for (const alias of profile.aliases) {
        expect([alias, resolveGpuProfile(alias)?.name]).toEqual([alias, profile.name]);
      }
    }
  });

  it.each(GPU_PROFILES.map((p) => ({ p, name: p.name })))("$name is well formed", ({ p }) => {
    expect(p.vramGb).toBeGreaterThan(0);
    expect(p.vramMb).toBe(p.vramGb * 1024);
    expect(p.memoryBandwidthGBs).toBeGreaterThan(0);
    expect(p.source.trim().length).toBeGreaterThan(10);
    expect(p.architecture.length).toBeGreaterThan(0);
    expect(p.devicesPerPackage).toBeGreaterThanOrEqual(1);
    expect(normalizeName(p.name).atoms.length).toBeGreaterThan(0);
    // The boolean flags are the "hardware" level of precisionSupport.
    for (const precision of PRECISIONS) {
      expect(p[precision]).toBe(p.precisionSupport[precision] === "hardware");
    }
    // Every listed part runs fp16 natively, and int8/int4 models at least through software.
    expect(p.fp16).toBe(true);
    expect(p.precisionSupport.int8).not.toBe("none");
    expect(p.precisionSupport.int4).not.toBe("none");
    expect(Object.isFrozen(p)).toBe(true);
  });

  it("follows the NVIDIA compute-capability rules for bf16, fp8 and int4", () => {
    for (const p of GPU_PROFILES.filter((q) => q.vendor === "nvidia")) {
      expect([p.name, p.computeCapability]).toEqual([p.name, expect.stringMatching(/^\d+\.\d$/)]);
      expect([p.name, p.bf16]).toEqual([p.name, cc(p) >= 8.0]);
      expect([p.name, p.fp8]).toEqual([p.name, cc(p) >= 8.9]);
      // INT4 tensor cores: Turing (with tensor cores: not GTX 16), Ampere, Ada.
      const tensorInt4 = cc(p) >= 7.5 && cc(p) < 9.0 && !p.name.includes("GTX 16");
      expect([p.name, p.int4]).toEqual([p.name, tensorInt4]);
      // DP4A from sm_61: every NVIDIA part but GP100.
      expect([p.name, p.int8]).toEqual([p.name, cc(p) >= 6.1]);
    }
  });

  it("follows the AMD rules: bf16 on CDNA and RDNA 3+, fp8 on CDNA 3+ and RDNA 4", () => {
    for (const p of GPU_PROFILES.filter((q) => q.vendor === "amd")) {
      expect(p.computeCapability).toBeUndefined();
      expect([p.name, p.bf16]).toEqual([p.name, p.architecture !== "RDNA 2"]);
      expect([p.name, p.fp8]).toEqual([p.name, /^(CDNA [34]|RDNA 4)$/.test(p.architecture)]);
    }
  });

  it("follows the Apple and Intel rules", () => {
    for (const p of GPU_PROFILES.filter((q) => q.vendor === "apple")) {
      expect(p.unifiedMemory).toBe(true);
      expect(p.formFactor).toBe("soc");
      expect([p.name, p.bf16]).toEqual([p.name, !p.name.startsWith("M1")]);
      expect(p.fp8).toBe(false);
      expect(p.precisionSupport.int4).toBe("software");
    }
    for (const p of GPU_PROFILES.filter((q) => q.vendor === "intel")) {
      expect(p.bf16).toBe(true);
      expect(p.fp8).toBe(false);
    }
  });

  it("marks unified memory only on Apple silicon and the MI300A APU", () => {
    const unified = GPU_PROFILES.filter((p) => p.unifiedMemory && p.vendor !== "apple");
    expect(unified.map((p) => p.name)).toEqual(["Instinct MI300A"]);
  });

  it("names laptop parts as laptop parts", () => {
    for (const p of GPU_PROFILES) {
      expect([p.name, p.formFactor === "laptop"]).toEqual([p.name, p.name.includes("Laptop GPU")]);
    }
  });

  it("takes every profile's flags from its architecture", () => {
    for (const p of GPU_PROFILES) {
      const matching = Object.values(ARCHITECTURES).filter(
        (a) =>
          a.vendor === p.vendor &&
          a.name === p.architecture &&
          PRECISIONS.every((q) => a.support[q] === p.precisionSupport[q]),
      );
      expect([p.name, matching.length > 0]).toEqual([p.name, true]);
    }
  });

  it("derives maxBatch from VRAM: power of two of vramGb / 0.75, capped at 256", () => {
    for (const p of GPU_PROFILES) {
      const expected = Math.min(
        MAX_BATCH_CAP,
        2 ** Math.floor(Math.log2(p.vramGb / GB_PER_SEQUENCE)),
      );
      expect([p.name, p.maxBatch]).toEqual([p.name, expected]);
    }
    // PRODUCT.md §4's example.
    expect(byName("GeForce RTX 4090").maxBatch).toBe(32);
    expect(byName("H100 SXM").maxBatch).toBe(64);
  });

  it("matches §4's RTX 4090 example", () => {
    expect(resolveGpuProfile("RTX 4090")).toMatchObject({
      vramGb: 24,
      fp16: true,
      int8: true,
      int4: true,
      maxBatch: 32,
      computeCapability: "8.9",
    });
  });

  it("covers the families PRODUCT.md §4 and the issue name", () => {
    const required = [
      "GeForce GTX 1080",
      "GeForce RTX 2080 Ti",
      "GeForce RTX 3090",
      "GeForce RTX 4090",
      "GeForce RTX 5090",
      "RTX A6000",
      "RTX 6000 Ada Generation",
      "RTX PRO 6000 Blackwell",
      "T4",
      "V100 SXM2 16GB",
      "V100 SXM2 32GB",
      "A10",
      "A30",
      "A40",
      "A100 PCIe 40GB",
      "A100 SXM4 80GB",
      "L4",
      "L40S",
      "H100 PCIe",
      "H100 SXM",
      "H100 NVL",
      "H200",
      "B200",
      "Instinct MI210",
      "Instinct MI250",
      "Instinct MI300X",
      "Radeon RX 7900 XTX",
      "Radeon RX 7900 XT",
      "M1",
      "M4 Max",
    ];
    const names = new Set(GPU_PROFILES.map((p) => p.name));
    expect(required.filter((n) => !names.has(n))).toEqual([]);
  });

  it.each([
    ["GeForce RTX 4060 Ti 8GB", 8],
    ["GeForce RTX 4060 Ti 16GB", 16],
    ["GeForce RTX 3060 12GB", 12],
    ["GeForce RTX 3060 8GB", 8],
    ["GeForce RTX 3080", 10],
    ["GeForce RTX 5090", 32],
    ["GeForce RTX 4090 Laptop GPU", 16],
    ["GeForce RTX 4080 Laptop GPU", 12],
    ["GeForce RTX 3080 Laptop GPU 8GB", 8],
    ["GeForce RTX 3080 Laptop GPU 16GB", 16],
    ["GeForce RTX 5090 Laptop GPU", 24],
    ["GeForce GTX 1080 Ti", 11],
    ["Quadro RTX 6000", 24],
    ["RTX A6000", 48],
    ["RTX 6000 Ada Generation", 48],
    ["RTX PRO 6000 Blackwell", 96],
    ["T4", 16],
    ["A100 PCIe 40GB", 40],
    ["A100 SXM4 80GB", 80],
    ["H100 NVL", 94],
    ["H200", 141],
    ["B200", 180],
    ["Instinct MI300X", 192],
    ["Instinct MI325X", 256],
    ["Radeon RX 7900 XTX", 24],
    ["Radeon RX 7900 XT", 20],
    ["Radeon RX 7900 GRE", 16],
    ["M2 Ultra", 192],
    ["M4 Max", 128],
  ] as const)("%s has %d GB", (name, gb) => {
    expect(byName(name).vramGb).toBe(gb);
  });
});
