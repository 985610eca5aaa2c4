/** GpuProfileService over the profile registry (profiles/). */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  checkFit,
  findGpuProfile,
  listGpuProfiles,
  type GpuProfile,
  type Vendor,
} from "../../profiles/index.js";
import {
  CheckFitResponseSchema,
  GetProfileResponseSchema,
  GpuProfileNotFoundSchema,
  GpuProfileService,
  ListProfilesResponseSchema,
} from "../../gen/ts/cforch/v1/profile_pb.js";
import { PRECISION_TO_PB, profileToPb } from "./convert.js";
import { invalid } from "./validate.js";
import type { GpuCatalog } from "../gpus.js";

const VENDORS: readonly Vendor[] = ["nvidia", "amd", "apple", "intel"];
const MAX_NAME = 128;

const FORMULA =
  "required_gb = (weights_gb + kv_cache_gb) × 1.10 + 1.0, where weights_gb = params × bytes " +
  "per parameter (fp16 2, int8 1, int4 0.5) / 2^30 and kv_cache_gb = an fp16 KV cache for " +
  "context_length tokens (128·L² bytes per token, L = cbrt(params / 196608) layers); 10 % for " +
  "activations and fragmentation, 1 GB for the runtime. fits = the precision is usable and " +
  "required_gb ≤ the GPU's memory.";

function checkName(name: string, field: string): void {
  if (name.trim().length === 0)
    throw invalid(field, 'required (a GPU model name such as "RTX 4090")');
  if (name.length > MAX_NAME)
    throw invalid(field, `at most ${MAX_NAME} characters, got ${name.length}`);
}

function lookup(name: string, vramMb: number | undefined, field: string): GpuProfile {
  const found = findGpuProfile(name, vramMb !== undefined ? { vramMb } : {});
  if ("profile" in found) return found.profile;
  const { suggestions } = found;
  const why = found.reason === "ambiguous" ? "is ambiguous" : "is not a known GPU";
  const hint = suggestions.length ? `; did you mean: ${suggestions.join(", ")}?` : "";
  throw new ConnectError(
    `${field}: GPU ${JSON.stringify(name)} ${why}${hint}`,
    Code.NotFound,
    undefined,
    [{ desc: GpuProfileNotFoundSchema, value: { name, suggestions } }],
  );
}

export function profileService(gpus: GpuCatalog): ServiceImpl<typeof GpuProfileService> {
  return {
    getProfile(req) {
      checkName(req.name, "name");
      const hint = req.vramMbHint > 0n ? Number(req.vramMbHint) : undefined;
      return create(GetProfileResponseSchema, {
        profile: profileToPb(lookup(req.name, hint, "name")),
      });
    },
    listProfiles(req) {
      let vendor: Vendor | undefined;
      if (req.vendor !== "") {
        const v = req.vendor.toLowerCase() as Vendor;
        if (!VENDORS.includes(v))
          throw invalid(
            "vendor",
            `expected one of ${VENDORS.join(", ")} or empty, got ${JSON.stringify(req.vendor)}`,
          );
        vendor = v;
      }
      const list = listGpuProfiles(vendor ? { vendor } : {});
      return create(ListProfilesResponseSchema, { profiles: list.map(profileToPb) });
    },
    checkFit(req) {
      const p = req.paramsBillions;
      if (!Number.isFinite(p) || p <= 0 || p > 10_000)
        throw invalid("params_billions", `must be a number in (0, 10000], got ${p}`);
      if (req.contextLength > 10_000_000)
        throw invalid(
          "context_length",
          `must be at most 10000000 tokens, got ${req.contextLength}`,
        );
      let profile: GpuProfile;
      let availableGb: number | undefined;
      const t = req.target;
      if (t.case === "gpuName") {
        checkName(t.value, "gpu_name");
        profile = lookup(t.value, undefined, "gpu_name");
      } else if (t.case === "gpuId") {
        if (t.value.length === 0 || t.value.length > MAX_NAME)
          throw invalid("gpu_id", `expected 1 to ${MAX_NAME} characters, got ${t.value.length}`);
        const id = gpus.resolve(t.value);
        const rec = id !== undefined ? gpus.get(id) : undefined;
        if (!rec)
          throw new ConnectError(
            `gpu_id: no managed GPU ${JSON.stringify(t.value)}`,
            Code.NotFound,
          );
        if (!rec.profile)
          throw new ConnectError(
            `gpu_id: GPU ${rec.id} (${rec.name || "unnamed"}) has no known profile; pass gpu_name instead`,
            Code.NotFound,
          );
        profile = rec.profile;
        availableGb = rec.capacityMb / 1024;
      } else {
        throw invalid("target", "one of gpu_name or gpu_id is required");
      }
      const results = checkFit(profile, {
        paramsBillions: p,
        contextLength: req.contextLength === 0 ? 4096 : req.contextLength,
        ...(availableGb !== undefined ? { availableGb } : {}),
      });
      return create(CheckFitResponseSchema, {
        profile: profileToPb(profile),
        formula: FORMULA,
        fits: results.map((r) => ({
          precision: PRECISION_TO_PB[r.precision],
          supported: r.supported,
          requiredGb: r.requiredGb,
          headroomGb: r.headroomGb,
          fits: r.fits,
        })),
      });
    },
  };
}
