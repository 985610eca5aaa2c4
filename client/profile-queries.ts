/**
 * GPU profile questions asked through the coordinator (GpuProfileService), answered from the
 * bundled registry instead while the coordinator is unreachable. A registry lookup is static
 * data, so unlike leasing it falls back whatever the `fallback` setting says.
 */
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import {
  GpuProfileNotFoundSchema,
  type GpuProfileService,
} from "../gen/ts/cforch/v1/profile_pb.js";
import {
  CfOrchError,
  CoordinatorUnavailableError,
  GpuProfileNotFoundError,
  InvalidSlotError,
} from "./errors.js";
import {
  checkFitBundled,
  fromProtoFit,
  fromProtoProfile,
  getGpuProfile as bundledProfile,
  type CheckFitQuery,
  type CheckFitResult,
  type GpuProfileInfo,
} from "./gpu-profiles.js";
import { RPC_TIMEOUT_MS } from "./lease-rpc.js";
import { isUnreachable, rpcCode, toTypedError } from "./rpc-errors.js";

export interface ProfileQueriesDeps {
  readonly client: Client<typeof GpuProfileService>;
  readonly url: string;
  /** True in local mode: skip the network. */
  readonly offline: () => boolean;
  /** Aborted by close(). */
  readonly signal: AbortSignal;
}

export class ProfileQueries {
  constructor(private readonly deps: ProfileQueriesDeps) {}

  async getGpuProfile(name: string, options: { vramMb?: number } = {}): Promise<GpuProfileInfo> {
    if (this.deps.offline()) return bundledProfile(name, options);
    try {
      const response = await this.deps.client.getProfile(
        { name, vramMbHint: BigInt(Math.max(0, Math.floor(options.vramMb ?? 0))) },
        { timeoutMs: RPC_TIMEOUT_MS, signal: this.deps.signal },
      );
      if (!response.profile) throw new CfOrchError("GetProfile answer without a profile");
      return fromProtoProfile(response.profile);
    } catch (err) {
      if (err instanceof CfOrchError) throw err;
      if (isUnreachable(err)) return bundledProfile(name, options);
      throw profileError(err, name, "getGpuProfile");
    }
  }

  async checkFit(query: CheckFitQuery): Promise<CheckFitResult> {
    if ((query.gpuName === undefined) === (query.gpuId === undefined)) {
      throw new InvalidSlotError("gpuName", "checkFit needs exactly one of gpuName and gpuId");
    }
    if (this.deps.offline() && query.gpuName !== undefined) return checkFitBundled(query);
    try {
      const response = await this.deps.client.checkFit(
        {
          target:
            query.gpuName !== undefined
              ? { case: "gpuName", value: query.gpuName }
              : { case: "gpuId", value: query.gpuId ?? "" },
          paramsBillions: query.paramsBillions,
          contextLength: query.contextLength ?? 0,
        },
        { timeoutMs: RPC_TIMEOUT_MS, signal: this.deps.signal },
      );
      return fromProtoFit(response);
    } catch (err) {
      if (err instanceof CfOrchError) throw err;
      if (isUnreachable(err) && query.gpuName !== undefined) return checkFitBundled(query);
      if (isUnreachable(err)) throw new CoordinatorUnavailableError(this.deps.url, err);
      throw profileError(err, query.gpuName ?? query.gpuId ?? "", "checkFit");
    }
  }
}

function profileError(err: unknown, name: string, what: string): CfOrchError {
  if (rpcCode(err) === Code.NotFound) {
    const detail = ConnectError.from(err).findDetails(GpuProfileNotFoundSchema)[0];
    return new GpuProfileNotFoundError(name, detail?.suggestions ?? [], err);
  }
  return toTypedError(err, what);
}
