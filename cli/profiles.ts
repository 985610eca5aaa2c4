/** `cf-orch profiles [NAME] [--json] [--vendor V]`: the GPU profile registry, offline. */
import type { Command } from "./main.js";
import {
  findGpuProfile,
  formatProfile,
  formatProfilesTable,
  listGpuProfiles,
  type Vendor,
} from "../profiles/index.js";

const HELP = `usage: cf-orch profiles [NAME] [--json] [--vendor nvidia|amd|apple|intel]

Without NAME: the table of known GPUs. With NAME: that GPU's profile ("rtx4090",
"NVIDIA H100 80GB HBM3", ...); an unknown name prints the closest suggestions and exits 1.`;

const VENDORS = ["nvidia", "amd", "apple", "intel"];

async function run(argv: string[]): Promise<number> {
  let json = false;
  let vendor: Vendor | undefined;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--help" || a === "-h") {
      process.stdout.write(`${HELP}\n`);
      return 0;
    } else if (a === "--json") json = true;
    else if (a === "--vendor" || a.startsWith("--vendor=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (v === undefined || !VENDORS.includes(v.toLowerCase())) {
        process.stderr.write(`cf-orch profiles: --vendor: expected one of ${VENDORS.join(", ")}\n`);
        return 2;
      }
      vendor = v.toLowerCase() as Vendor;
    } else if (a.startsWith("--")) {
      process.stderr.write(`cf-orch profiles: unknown option ${a}\n${HELP}\n`);
      return 2;
    } else names.push(a);
  }
  if (names.length === 0) {
    const list = listGpuProfiles(vendor ? { vendor } : {});
    process.stdout.write(
      json ? `${JSON.stringify(list, null, 2)}\n` : `${formatProfilesTable(list)}\n`,
    );
    return 0;
  }
  const name = names.join(" ");
  const found = findGpuProfile(name);
  if ("profile" in found) {
    process.stdout.write(
      json ? `${JSON.stringify(found.profile, null, 2)}\n` : `${formatProfile(found.profile)}\n`,
    );
    return 0;
  }
  const why = found.reason === "ambiguous" ? "is ambiguous" : "is not a known GPU";
  if (json)
    process.stdout.write(
      `${JSON.stringify({ error: "NOT_FOUND", name, suggestions: found.suggestions })}\n`,
    );
  process.stderr.write(
    `cf-orch profiles: ${JSON.stringify(name)} ${why}` +
      (found.suggestions.length ? `; did you mean: ${found.suggestions.join(", ")}?` : "") +
      "\n",
  );
  return 1;
}

export const command: Command = {
  summary: "show the GPU profile registry or one GPU's profile",
  run,
};
