import { findGpuProfile, GPU_PROFILES, resolveGpuProfile } from "../../profiles/index.js";

/** [what a tool or a person writes, expected canonical name, optional memory.total MiB hint] */
const RESOLVES: readonly [string, string, number?][] = [
  // nvidia-smi --query-gpu=name, and how people type the same parts.
  ["NVIDIA GeForce RTX 4090", "GeForce RTX 4090"],
  ["rtx4090", "GeForce RTX 4090"],
  ["GeForce RTX 4090", "GeForce RTX 4090"],
  ["RTX 4090", "GeForce RTX 4090"],
  ["4090", "GeForce RTX 4090"],
  ["NVIDIA GeForce RTX 4090 Laptop GPU", "GeForce RTX 4090 Laptop GPU"],
  ["RTX 4090 Mobile", "GeForce RTX 4090 Laptop GPU"],
  ["NVIDIA GeForce RTX 4080 Laptop GPU", "GeForce RTX 4080 Laptop GPU"],
  ["NVIDIA GeForce RTX 3080 Ti Laptop GPU", "GeForce RTX 3080 Ti Laptop GPU"],
  ["NVIDIA GeForce RTX 5090", "GeForce RTX 5090"],
  ["NVIDIA GeForce RTX 5090 Laptop GPU", "GeForce RTX 5090 Laptop GPU"],
  ["NVIDIA GeForce RTX 4070 Ti SUPER", "GeForce RTX 4070 Ti SUPER"],
  ["RTX 4070 super", "GeForce RTX 4070 SUPER"],
  ["GeForce RTX 2080 SUPER", "GeForce RTX 2080 SUPER"],
  ["GeForce GTX 1080 Ti", "GeForce GTX 1080 Ti"],
  ["gtx 1080ti", "GeForce GTX 1080 Ti"],
  ["GeForce GTX 1060 6GB", "GeForce GTX 1060 6GB"],
  ["GeForce GTX 1060 3GB", "GeForce GTX 1060 3GB"],
  ["NVIDIA TITAN RTX", "TITAN RTX"],
  ["NVIDIA GeForce RTX 4060 Ti 16GB", "GeForce RTX 4060 Ti 16GB"],
  ["RTX 4090 24GB", "GeForce RTX 4090"],
  ["NVIDIA H100 80GB HBM3", "H100 SXM"],
  ["H100 SXM5 80GB", "H100 SXM"],
  ["NVIDIA H100 PCIe", "H100 PCIe"],
  ["H100 PCIe 80GB", "H100 PCIe"],
  ["NVIDIA H100 NVL", "H100 NVL"],
  ["NVIDIA H200", "H200"],
  ["NVIDIA H200 NVL", "H200 NVL"],
  ["NVIDIA GH200 480GB", "GH200 96GB"],
  ["NVIDIA B200", "B200"],
  ["Tesla T4", "T4"],
  ["NVIDIA T4", "T4"],
  ["Tesla P40", "P40"],
  ["Tesla P100-PCIE-16GB", "P100 PCIe 16GB"],
  ["Tesla V100-SXM2-32GB", "V100 SXM2 32GB"],
  ["Tesla V100-SXM2-16GB", "V100 SXM2 16GB"],
  ["Tesla V100-PCIE-16GB", "V100 PCIe 16GB"],
  ["Tesla V100S-PCIE-32GB", "V100S PCIe 32GB"],
  ["Tesla V100-SXM3-32GB", "V100 SXM2 32GB"],
  ["NVIDIA A100-SXM4-80GB", "A100 SXM4 80GB"],
  ["NVIDIA A100-SXM4-40GB", "A100 SXM4 40GB"],
  ["NVIDIA A100-PCIE-40GB", "A100 PCIe 40GB"],
  ["NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"],
  ["NVIDIA A10", "A10"],
  ["NVIDIA A10G", "A10G"],
  ["NVIDIA A16", "A16"],
  ["NVIDIA L4", "L4"],
  ["NVIDIA L40", "L40"],
  ["NVIDIA L40S", "L40S"],
  ["NVIDIA RTX A6000", "RTX A6000"],
  ["A6000", "RTX A6000"],
  ["NVIDIA RTX A2000 12GB", "RTX A2000 12GB"],
  ["NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada Generation"],
  ["RTX 6000 Ada", "RTX 6000 Ada Generation"],
  ["Quadro RTX 6000", "Quadro RTX 6000"],
  ["NVIDIA RTX 4000 SFF Ada Generation", "RTX 4000 SFF Ada Generation"],
  ["NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "RTX PRO 6000 Blackwell"],
  ["NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "RTX PRO 6000 Blackwell"],
  // rocminfo / rocm-smi marketing names.
  ["AMD Instinct MI300X", "Instinct MI300X"],
  ["MI300X", "Instinct MI300X"],
  ["AMD Instinct MI300X OAM", "Instinct MI300X"],
  ["AMD Instinct MI250X", "Instinct MI250X"],
  ["AMD Instinct MI210", "Instinct MI210"],
  ["AMD Radeon RX 7900 XTX", "Radeon RX 7900 XTX"],
  ["Radeon RX 7900 XT", "Radeon RX 7900 XT"],
  ["rx 7900xtx", "Radeon RX 7900 XTX"],
  ["7900 GRE", "Radeon RX 7900 GRE"],
  ["AMD Radeon RX 6800 XT", "Radeon RX 6800 XT"],
  ["AMD Radeon PRO W7900", "Radeon PRO W7900"],
  // system_profiler SPDisplaysDataType "Chipset Model", and people.
  ["Apple M2 Max", "M2 Max"],
  ["Apple M1", "M1"],
  ["M3 Max (40-core GPU)", "M3 Max"],
  ["apple m4 pro", "M4 Pro"],
  // Intel drivers.
  ["Intel(R) Arc(TM) B580 Graphics", "Arc B580"],
  // Same nvidia-smi name for two memory sizes: memory.total settles it.
  ["NVIDIA GeForce RTX 3060", "GeForce RTX 3060 12GB", 12288],
  ["NVIDIA GeForce RTX 3060", "GeForce RTX 3060 8GB", 8192],
  ["NVIDIA GeForce RTX 4060 Ti", "GeForce RTX 4060 Ti 16GB", 16380],
  ["NVIDIA GeForce RTX 4060 Ti", "GeForce RTX 4060 Ti 8GB", 8188],
  ["NVIDIA GeForce RTX 3080 Laptop GPU", "GeForce RTX 3080 Laptop GPU 16GB", 16384],
  ["NVIDIA GeForce RTX 3080 Laptop GPU", "GeForce RTX 3080 Laptop GPU 8GB", 8192],
  ["NVIDIA GeForce RTX 2060", "GeForce RTX 2060 12GB", 12288],
  ["NVIDIA GeForce RTX 2060", "GeForce RTX 2060"],
  ["Intel(R) Arc(TM) A770 Graphics", "Arc A770 16GB", 16256],
  ["A100 SXM4", "A100 SXM4 80GB", 81920],
  ["NVIDIA GH200", "GH200 144GB", 146000],
  // A hint never overrides an unambiguous name.
  ["Tesla T4", "T4", 15360],
  ["NVIDIA GeForce RTX 4090", "GeForce RTX 4090", 16376],
];

/** [name, canonical name it must NOT resolve to] */
const MUST_NOT_RESOLVE_TO: readonly [string, string, number?][] = [
  ["NVIDIA GeForce RTX 4090 Laptop GPU", "GeForce RTX 4090"],
  ["RTX 4090 Laptop GPU", "GeForce RTX 4090"],
  ["RTX 4090", "GeForce RTX 4090 Laptop GPU"],
  ["NVIDIA GeForce RTX 5090 Laptop GPU", "GeForce RTX 5090"],
  ["NVIDIA GeForce RTX 4080 Laptop GPU", "GeForce RTX 4080"],
  ["NVIDIA A100-PCIE-40GB", "A100 PCIe 80GB"],
  ["NVIDIA A100-SXM4-40GB", "A100 SXM4 80GB"],
  ["NVIDIA A100-SXM4-80GB", "A100 PCIe 80GB"],
  ["NVIDIA H100 PCIe", "H100 SXM"],
  ["NVIDIA H100 80GB HBM3", "H100 PCIe"],
  ["NVIDIA H100 NVL", "H100 PCIe"],
  ["NVIDIA H200 NVL", "H200"],
  ["Tesla V100-SXM2-16GB", "V100 SXM2 32GB"],
  ["Tesla V100-PCIE-32GB", "V100 SXM2 32GB"],
  ["Radeon RX 7900 XT", "Radeon RX 7900 XTX"],
  ["Radeon RX 7900 XTX", "Radeon RX 7900 XT"],
  ["Radeon RX 6800", "Radeon RX 6800 XT"],
  ["RTX 3080 Ti", "GeForce RTX 3080"],
  ["RTX 3080", "GeForce RTX 3080 Ti"],
  ["RTX 4070", "GeForce RTX 4070 SUPER"],
  ["RTX 4070 SUPER", "GeForce RTX 4070 Ti SUPER"],
  ["RTX 6000 Ada", "Quadro RTX 6000"],
  ["RTX 6000 Ada", "RTX A6000"],
  ["Quadro RTX 6000", "RTX 6000 Ada Generation"],
  ["RTX A6000", "RTX 6000 Ada Generation"],
  ["RTX PRO 6000 Blackwell", "RTX 6000 Ada Generation"],
  ["Apple M2", "M2 Max"],
  ["Apple M2 Max", "M2 Pro"],
  ["NVIDIA L40", "L40S"],
  ["NVIDIA A10", "A100 PCIe 40GB"],
  ["NVIDIA A10", "A10G"],
  ["NVIDIA GeForce RTX 3060", "GeForce RTX 3060 12GB", 8192],
  ["NVIDIA GeForce RTX 4060 Ti", "GeForce RTX 4060 Ti 8GB", 16380],
  ["Instinct MI300A", "Instinct MI300X"],
  ["MI250", "Instinct MI250X"],
];

/** Names that must not resolve at all: ambiguous, contradictory, or not in the registry. */
const UNRESOLVED: readonly string[] = [
  "NVIDIA GeForce RTX 3060", // 8 GB and 12 GB share the name; no hint
  "NVIDIA GeForce RTX 4060 Ti",
  "NVIDIA GeForce RTX 3080 Laptop GPU",
  "A100 40GB", // PCIe or SXM4
  "A100 80GB",
  "H100 80GB", // PCIe or SXM
  "H100",
  "RTX 6000", // Quadro RTX 6000, RTX A6000, RTX 6000 Ada, RTX PRO 6000
  "MI300",
  "RTX 4090 16GB", // the size contradicts the name
  "A100 48GB",
  "GTX 1650 SUPER", // not in the registry: neither the GTX 1650 nor the GTX 1660 SUPER
  "RTX 2080 with Max-Q Design", // a laptop part, not the desktop RTX 2080
  "RTX 5070 Ti Laptop GPU",
  "",
  "   ",
];

function rows(
  table: readonly [string, string, number?][],
): { input: string; name: string; vramMb: number | undefined }[] {
  return table.map(([input, name, vramMb]) => ({ input, name, vramMb }));
}

describe("resolveGpuProfile", () => {
  it("has a table of at least 40 real names", () => {
    expect(RESOLVES.length).toBeGreaterThanOrEqual(40);
  });

  // Object rows: with array rows of uneven length, jest would pass `done` as the missing
  // third argument and wait for it.
  it.each(rows(RESOLVES))("$input → $name (vramMb $vramMb)", ({ input, name, vramMb }) => {
    const profile = resolveGpuProfile(input, vramMb === undefined ? {} : { vramMb });
    expect(profile?.name).toBe(name);
  });

  it.each(rows(MUST_NOT_RESOLVE_TO))("$input is not $name", ({ input, name, vramMb }) => {
    const profile = resolveGpuProfile(input, vramMb === undefined ? {} : { vramMb });
    expect(profile?.name).not.toBe(name);
  });

  it.each(UNRESOLVED)("%j does not resolve", (input) => {
    expect(resolveGpuProfile(input)).toBeUndefined();
  });

  it("resolves every canonical name and alias to its own profile", () => {
    for (const profile of GPU_PROFILES) {
      for (const name of [profile.name, ...profile.aliases]) {
        expect([name, resolveGpuProfile(name)?.name]).toEqual([name, profile.name]);
      }
    }
  });

  it("is case-, spacing- and punctuation-insensitive", () => {
    for (const input of ["NVIDIA-GeForce-RTX-4090", "  nvidia geforce rtx 4090  ", "RTX_4090"]) {
      expect(resolveGpuProfile(input)?.name).toBe("GeForce RTX 4090");
    }
  });

  it("ignores a non-finite hint rather than guessing", () => {
    expect(resolveGpuProfile("NVIDIA GeForce RTX 3060", { vramMb: Number.NaN })).toBeUndefined();
  });

  it("ignores a hint that matches no variant", () => {
    expect(resolveGpuProfile("NVIDIA GeForce RTX 3060", { vramMb: 40960 })).toBeUndefined();
    expect(resolveGpuProfile("NVIDIA GeForce RTX 2060", { vramMb: 40960 })?.name).toBe(
      "GeForce RTX 2060",
    );
  });
});

describe("findGpuProfile suggestions", () => {
  function suggestionsFor(name: string): { suggestions: string[]; reason: string } {
    const found = findGpuProfile(name);
    if ("profile" in found)
      throw new Error(`${name} unexpectedly resolved to ${found.profile.name}`);
    return found;
  }

  it("returns the profile when the name resolves", () => {
    const found = findGpuProfile("NVIDIA L40S");
    expect("profile" in found && found.profile.name).toBe("L40S");
  });

  it("suggests the RTX 4090 for the typo RTX 4009", () => {
    const { suggestions, reason } = suggestionsFor("RTX 4009");
    expect(reason).toBe("unknown");
    expect(suggestions[0]).toBe("GeForce RTX 4090");
  });

  it("suggests the H100 variants for H10", () => {
    const { suggestions } = suggestionsFor("H10");
    expect(suggestions).toEqual(expect.arrayContaining(["H100 PCIe", "H100 SXM", "H100 NVL"]));
  });

  it("lists exactly the variants of an ambiguous name", () => {
    expect(suggestionsFor("H100")).toEqual({
      suggestions: expect.arrayContaining(["H100 PCIe", "H100 SXM", "H100 NVL"]),
      reason: "ambiguous",
    });
    expect(suggestionsFor("H100").suggestions).toHaveLength(3);
    expect(new Set(suggestionsFor("A100").suggestions)).toEqual(
      new Set(["A100 PCIe 40GB", "A100 PCIe 80GB", "A100 SXM4 40GB", "A100 SXM4 80GB"]),
    );
    expect(new Set(suggestionsFor("A100 80GB").suggestions)).toEqual(
      new Set(["A100 PCIe 80GB", "A100 SXM4 80GB"]),
    );
    expect(suggestionsFor("NVIDIA GeForce RTX 3060")).toEqual({
      suggestions: ["GeForce RTX 3060 8GB", "GeForce RTX 3060 12GB"],
      reason: "ambiguous",
    });
    expect(new Set(suggestionsFor("RTX 6000").suggestions)).toEqual(
      new Set([
        "Quadro RTX 6000",
        "RTX A6000",
        "RTX 6000 Ada Generation",
        "RTX PRO 6000 Blackwell",
      ]),
    );
    expect(new Set(suggestionsFor("MI300").suggestions)).toEqual(
      new Set(["Instinct MI300A", "Instinct MI300X"]),
    );
  });

  it("tolerates a misspelt brand word", () => {
    expect(suggestionsFor("Raedon RX 7900 XTX").suggestions[0]).toBe("Radeon RX 7900 XTX");
  });

  it("suggests the nearby real parts for a part that does not exist", () => {
    expect(suggestionsFor("GTX 1650 SUPER").suggestions).toEqual(
      expect.arrayContaining(["GeForce GTX 1650", "GeForce GTX 1660 SUPER"]),
    );
  });

  it("never returns more than 5 suggestions, all canonical names", () => {
    const names = new Set(GPU_PROFILES.map((p) => p.name));
    for (const input of ["RTX", "Tesla V100", "M2", "RX", "GeForce 40", "Instinct", "xx1"]) {
      const found = findGpuProfile(input);
      if ("profile" in found) continue;
      expect(found.suggestions.length).toBeLessThanOrEqual(5);
      for (const s of found.suggestions) expect(names.has(s)).toBe(true);
    }
  });

  it("returns no suggestions for noise", () => {
    expect(suggestionsFor("zzzzzz")).toEqual({ suggestions: [], reason: "unknown" });
    expect(suggestionsFor("")).toEqual({ suggestions: [], reason: "unknown" });
  });
});
