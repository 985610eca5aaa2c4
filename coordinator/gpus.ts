/**
 * The coordinator's catalogue of GPUs: what the core needs (id, node, capacity, capabilities)
 * plus what only people and tools need (device index, model name, UUID, profile). GPUs come
 * from the config file, from nvidia-smi on this host, and from node agents (RegisterNode).
 */
import type { GpuSpec, Precision } from "./core/index.js";
import {
  PRECISIONS,
  profileSupports,
  resolveGpuProfile,
  type GpuProfile,
} from "../profiles/index.js";

export interface GpuRecord {
  id: string;
  node: string;
  index: number;
  name: string;
  uuid: string;
  capacityMb: number;
  memoryTotalMb?: number;
  profile?: GpuProfile;
}

export interface GpuDescription {
  node: string;
  index: number;
  name?: string;
  uuid?: string;
  capacityMb: number;
  memoryTotalMb?: number;
}

export const gpuId = (node: string, index: number): string => `${node}/${index}`;

/** Builds a record and looks up its profile (by name, disambiguated by memory size). */
export function describeGpu(d: GpuDescription): GpuRecord {
  const rec: GpuRecord = {
    id: gpuId(d.node, d.index),
    node: d.node,
    index: d.index,
    name: d.name ?? "",
    uuid: d.uuid ?? "",
    capacityMb: d.capacityMb,
  };
  if (d.memoryTotalMb !== undefined) rec.memoryTotalMb = d.memoryTotalMb;
  if (rec.name) {
    const profile = resolveGpuProfile(rec.name, { vramMb: d.memoryTotalMb ?? d.capacityMb });
    if (profile) rec.profile = profile;
  }
  return rec;
}

/**
 * Precisions the GPU runs natively according to its profile (the same booleans GetProfile
 * shows). A GPU without a known profile has unknown capabilities: slots with `requires` never
 * go there.
 */
export function capabilitiesOf(rec: GpuRecord): Precision[] | undefined {
  if (!rec.profile) return undefined;
  const profile = rec.profile;
  return PRECISIONS.filter((p) => profileSupports(profile, p));
}

export function toGpuSpec(rec: GpuRecord): GpuSpec {
  const spec: GpuSpec = {
    id: rec.id,
    node: rec.node,
    index: rec.index,
    capacityMb: rec.capacityMb,
  };
  if (rec.name) spec.name = rec.name;
  const caps = capabilitiesOf(rec);
  if (caps) spec.capabilities = caps;
  return spec;
}

export class GpuCatalog {
  private readonly byId = new Map<string, GpuRecord>();
  private readonly byUuid = new Map<string, string>();

  set(rec: GpuRecord): void {
    const prev = this.byId.get(rec.id);
    if (prev?.uuid) this.byUuid.delete(prev.uuid);
    this.byId.set(rec.id, rec);
    if (rec.uuid) this.byUuid.set(rec.uuid, rec.id);
  }

  get(id: string): GpuRecord | undefined {
    return this.byId.get(id);
  }

  /** "<node>/<index>" or a UUID → the GPU id, if known. */
  resolve(idOrUuid: string): string | undefined {
    if (this.byId.has(idOrUuid)) return idOrUuid;
    return this.byUuid.get(idOrUuid);
  }

  hasNode(node: string): boolean {
    for (const r of this.byId.values()) if (r.node === node) return true;
    return false;
  }

  nodeOf = (id: string): string => this.byId.get(id)?.node ?? id.split("/")[0] ?? "";

  all(): GpuRecord[] {
    return [...this.byId.values()];
  }
}
