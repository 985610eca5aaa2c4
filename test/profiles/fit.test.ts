import {
  checkFit,
  FitInputError,
  GPU_PROFILES,
  type FitResult,
  type GpuProfile,
} from "../../profiles/index.js";

/*
 * The formula from profiles/fit.ts, restated here so the tests check the module against the
 * documentation rather than against its own output.
 */
const GIB = 2 ** 30;
function documentedRequiredGb(
  paramsBillions: number,
  bytesPerParam: number,
  contextLength = 4096,
  batchSize = 1,
): number {
  const params = paramsBillions * 1e9;
  const layers = Math.cbrt(params / (12 * 128 * 128));
  const kvBytes = 128 * layers * layers * contextLength * batchSize;
  return ((params * bytesPerParam + kvBytes) / GIB) * 1.1 + 1;
}

function byName(name: string): GpuProfile {
  const profile = GPU_PROFILES.find((p) => p.name === name);
  if (profile === undefined) throw new Error(`no profile named ${name}`);
  return profile;
}

function at(results: FitResult[], precision: FitResult["precision"]): FitResult {
  const result = results.find((r) => r.precision === precision);
  if (result === undefined) throw new Error(`no ${precision} result`);
  return result;
}

const RTX_4090 = byName("GeForce RTX 4090"); // 24 GB
const RTX_A6000 = byName("RTX A6000"); // 48 GB
const L40S = byName("L40S"); // 48 GB
const H100 = byName("H100 SXM"); // 80 GB

describe("checkFit", () => {
  it("answers fp16, int8 and int4, in that order", () => {
    expect(checkFit(RTX_4090, { paramsBillions: 8 }).map((r) => r.precision)).toEqual([
      "fp16",
      "int8",
      "int4",
    ]);
  });

  it("fits an 8B model at fp16 on a 24 GB card", () => {
    const fp16 = at(checkFit(RTX_4090, { paramsBillions: 8 }), "fp16");
    const expected = documentedRequiredGb(8, 2);
    expect(fp16.requiredGb).toBeCloseTo(expected, 9);
    expect(expected).toBeLessThan(24);
    expect(fp16).toMatchObject({ supported: true, fits: true, capacityGb: 24 });
    expect(fp16.headroomGb).toBeCloseTo(24 - expected, 9);
  });

  it("does not fit a 70B model at int4 on 24 GB, but fits it on 48 GB", () => {
    const expected = documentedRequiredGb(70, 0.5);
    expect(expected).toBeGreaterThan(24);
    expect(expected).toBeLessThanOrEqual(48);
    const on24 = at(checkFit(RTX_4090, { paramsBillions: 70 }), "int4");
    expect(on24.requiredGb).toBeCloseTo(expected, 9);
    expect(on24.fits).toBe(false);
    expect(on24.headroomGb).toBeLessThan(0);
    for (const card of [RTX_A6000, L40S]) {
      const on48 = at(checkFit(card, { paramsBillions: 70 }), "int4");
      expect(on48).toMatchObject({ fits: true, capacityGb: 48 });
      expect(on48.headroomGb).toBeCloseTo(48 - expected, 9);
    }
  });

  it("does not fit a 70B model at fp16 on 80 GB", () => {
    const fp16 = at(checkFit(H100, { paramsBillions: 70 }), "fp16");
    expect(fp16.requiredGb).toBeCloseTo(documentedRequiredGb(70, 2), 9);
    expect(fp16.fits).toBe(false);
  });

  it("applies the documented formula to every precision, context and batch", () => {
    const cases = [
      { paramsBillions: 1.5 },
      { paramsBillions: 8, contextLength: 32768 },
      { paramsBillions: 13, contextLength: 8192, batchSize: 4 },
      { paramsBillions: 34, contextLength: 0 },
      { paramsBillions: 405, contextLength: 131072, batchSize: 2 },
    ];
    const bytes = { fp16: 2, int8: 1, int4: 0.5 } as const;
    for (const request of cases) {
      for (const r of checkFit(H100, request)) {
        const expected = documentedRequiredGb(
          request.paramsBillions,
          bytes[r.precision],
          request.contextLength,
          request.batchSize,
        );
        expect(r.requiredGb).toBeCloseTo(expected, 9);
        expect(r.fits).toBe(expected <= 80);
        expect(r.headroomGb).toBeCloseTo(80 - expected, 9);
      }
    }
  });

  it("weights scale with bytes per parameter; the KV cache does not", () => {
    const [fp16, int8, int4] = checkFit(H100, { paramsBillions: 8 }) as [
      FitResult,
      FitResult,
      FitResult,
    ];
    expect(fp16.weightsGb).toBeCloseTo(2 * int8.weightsGb, 9);
    expect(int8.weightsGb).toBeCloseTo(2 * int4.weightsGb, 9);
    expect(fp16.kvCacheGb).toBe(int4.kvCacheGb);
    expect(int4.requiredGb).toBeLessThan(int8.requiredGb);
    expect(int8.requiredGb).toBeLessThan(fp16.requiredGb);
  });

  it("grows the KV cache linearly with context and batch", () => {
    const base = at(checkFit(H100, { paramsBillions: 8, contextLength: 1000 }), "fp16");
    const longer = at(checkFit(H100, { paramsBillions: 8, contextLength: 4000 }), "fp16");
    const wider = at(
      checkFit(H100, { paramsBillions: 8, contextLength: 1000, batchSize: 4 }),
      "fp16",
    );
    expect(longer.kvCacheGb).toBeCloseTo(4 * base.kvCacheGb, 9);
    expect(wider.kvCacheGb).toBeCloseTo(4 * base.kvCacheGb, 9);
  });

  it("fits against availableGb when given (measured free memory)", () => {
    const fp16 = at(checkFit(RTX_4090, { paramsBillions: 8, availableGb: 10 }), "fp16");
    expect(fp16).toMatchObject({ capacityGb: 10, fits: false });
    expect(fp16.headroomGb).toBeCloseTo(10 - documentedRequiredGb(8, 2), 9);
  });

  it("reports software-only support as supported, and unusable precisions as not fitting", () => {
    // Hopper has no INT4 tensor cores; int4 models still run through dequantizing kernels.
    const int4 = at(checkFit(H100, { paramsBillions: 8 }), "int4");
    expect(int4).toMatchObject({ support: "software", supported: true, fits: true });
    const noInt4: GpuProfile = {
      ...H100,
      int4: false,
      precisionSupport: { ...H100.precisionSupport, int4: "none" },
    };
    expect(at(checkFit(noInt4, { paramsBillions: 1 }), "int4")).toMatchObject({
      supported: false,
      fits: false,
    });
  });

  it.each([
    [{ paramsBillions: 0 }, "paramsBillions"],
    [{ paramsBillions: -8 }, "paramsBillions"],
    [{ paramsBillions: Number.NaN }, "paramsBillions"],
    [{ paramsBillions: Number.POSITIVE_INFINITY }, "paramsBillions"],
    [{ paramsBillions: 1e300 }, "paramsBillions"],
    [{ paramsBillions: "8" as unknown as number }, "paramsBillions"],
    [{ paramsBillions: 8, contextLength: -1 }, "contextLength"],
    [{ paramsBillions: 8, contextLength: 10.5 }, "contextLength"],
    [{ paramsBillions: 8, batchSize: 0 }, "batchSize"],
    [{ paramsBillions: 8, batchSize: Number.NaN }, "batchSize"],
    [{ paramsBillions: 8, availableGb: -1 }, "availableGb"],
    [{ paramsBillions: 8, availableGb: Number.NaN }, "availableGb"],
  ])("rejects %p, naming %s", (request, field) => {
    expect(() => checkFit(RTX_4090, request)).toThrow(FitInputError);
    try {
      checkFit(RTX_4090, request);
    } catch (error) {
      expect((error as FitInputError).field).toBe(field);
    }
  });
});
