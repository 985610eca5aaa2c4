/**
 * Plain-text renderings for `cf-orch profiles [NAME]`: a table of many profiles and the
 * key: value detail of one. No colours or terminal codes, so the output pipes cleanly.
 */
import { PRECISIONS, type GpuProfile, type SupportLevel } from "./types.js";

/** ✓ native, ~ software kernels only, - not usable. */
const MARK: Readonly<Record<SupportLevel, string>> = { hardware: "✓", software: "~", none: "-" };

function formatGb(gb: number): string {
  return Number.isInteger(gb) ? `${gb} GB` : `${gb.toFixed(1)} GB`;
}

export function formatProfilesTable(profiles: readonly GpuProfile[]): string {
  const header = [
    "NAME",
    "VENDOR",
    "ARCH",
    "VRAM",
    ...PRECISIONS.map((p) => p.toUpperCase()),
    "MAXBATCH",
  ];
  const rows = profiles.map((p) => [
    p.name,
    p.vendor,
    p.architecture,
    formatGb(p.vramGb),
    ...PRECISIONS.map((precision) => MARK[p.precisionSupport[precision]]),
    String(p.maxBatch),
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => (row[col] ?? "").length)));
  // Numbers read best right-aligned; VRAM (col 3) and MAXBATCH (last) are numeric.
  const rightAligned = new Set([3, header.length - 1]);
  const lines = all.map((row) =>
    row
      .map((cell, col) => {
        const width = widths[col] ?? 0;
        return rightAligned.has(col) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join("  ")
      .trimEnd(),
  );
  lines.push("", "✓ hardware   ~ software kernels only   - not supported");
  return lines.join("\n");
}

export function formatProfile(profile: GpuProfile): string {
  const fields: [string, string][] = [
    ["name", profile.name],
    ["vendor", profile.vendor],
    ["architecture", profile.architecture],
    ["formFactor", profile.formFactor],
    ["vram", `${formatGb(profile.vramGb)} (${profile.vramMb} MiB)`],
    ["unifiedMemory", String(profile.unifiedMemory)],
    ["memoryBandwidth", `${profile.memoryBandwidthGBs} GB/s`],
  ];
  if (profile.computeCapability !== undefined) {
    fields.push(["computeCapability", profile.computeCapability]);
  }
  if (profile.devicesPerPackage !== 1) {
    fields.push(["devicesPerPackage", String(profile.devicesPerPackage)]);
  }
  for (const precision of PRECISIONS) {
    fields.push([precision, profile.precisionSupport[precision]]);
  }
  fields.push(["maxBatch", String(profile.maxBatch)]);
  if (profile.aliases.length > 0) fields.push(["aliases", profile.aliases.join(", ")]);
  fields.push(["source", profile.source]);
  if (profile.notes !== undefined) fields.push(["notes", profile.notes]);
  const width = Math.max(...fields.map(([key]) => key.length)) + 1;
  return fields.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}`).join("\n");
}
