/**
 * Name → profile. Forgiving about spelling, exact about variants.
 *
 * 1. The name is normalised to sorted atoms (normalize.ts) and looked up exactly among the
 *    keys of every canonical name and alias (and, for GeForce/Radeon parts, the same without
 *    "RTX"/"GTX"/"RX"). Because variant words and sizes are atoms, "RTX 4090 Laptop GPU" can
 *    only match the laptop part and "A100 40GB" only the 40 GB part.
 * 2. A name that states a memory size no key carries ("RTX 4090 24GB") matches the one part of
 *    that family (same atoms without sizes) with that size.
 * 3. A name without a size that several memory variants share ("NVIDIA GeForce RTX 3060", as
 *    nvidia-smi prints both the 8 GB and 12 GB cards) is settled by the vramMb hint
 *    (nvidia-smi's memory.total): the variant nearest to it within 12.5 % (drivers report
 *    a little less than the marketing size: a T4 shows 15360 MiB). Without a hint, an exact
 *    key wins; otherwise the name is ambiguous and the variants come back as suggestions.
 * 4. Anything else is unknown: up to 5 suggestions, ranked by edit distance between the
 *    compact forms (whole, or the query against a same-length prefix, so "H10" finds the
 *    H100s) minus credit for shared atoms. When some names contain every atom typed ("H100",
 *    "A100 80GB") only those come back, and the reason is "ambiguous" if there are several.
 */
import { GPU_PROFILES } from "./data.js";
import { editDistance } from "./edit-distance.js";
import { normalizeName, withoutSeriesWord, type NormalizedName } from "./normalize.js";
import type { GpuProfile } from "./types.js";

export interface ResolveOptions {
  /** Device memory as the driver reports it (nvidia-smi memory.total, MiB). */
  readonly vramMb?: number;
}

export type FindResult =
  | { readonly profile: GpuProfile }
  | { readonly suggestions: string[]; readonly reason: "ambiguous" | "unknown" };

export const MAX_SUGGESTIONS = 5;
/** How far a driver-reported size may sit from the marketing size and still match. */
export const VRAM_HINT_TOLERANCE = 0.125;

interface NameForm {
  readonly profile: GpuProfile;
  readonly norm: NormalizedName;
}

interface RegistryIndex {
  readonly forms: readonly NameForm[];
  readonly byKey: ReadonlyMap<string, ReadonlySet<GpuProfile>>;
  readonly byFamily: ReadonlyMap<string, ReadonlySet<GpuProfile>>;
}

function addTo(map: Map<string, Set<GpuProfile>>, key: string, profile: GpuProfile): void {
  if (key === "") return;
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(profile);
}

/** Every normalised spelling a profile answers to. */
export function nameForms(profile: GpuProfile): NormalizedName[] {
  const forms = [profile.name, ...profile.aliases].map(normalizeName);
  const consumer =
    (profile.vendor === "nvidia" || profile.vendor === "amd") &&
    (profile.formFactor === "desktop" || profile.formFactor === "laptop");
  if (consumer) {
    for (const form of [...forms]) {
      const short = withoutSeriesWord(form.atoms);
      if (short !== undefined) forms.push(normalizeName(short.join(" ")));
    }
  }
  return forms;
}

function buildIndex(profiles: readonly GpuProfile[]): RegistryIndex {
  const forms: NameForm[] = [];
  const byKey = new Map<string, Set<GpuProfile>>();
  const byFamily = new Map<string, Set<GpuProfile>>();
  for (const profile of profiles) {
    for (const norm of nameForms(profile)) {
      forms.push({ profile, norm });
      addTo(byKey, norm.key, profile);
      addTo(byFamily, norm.familyKey, profile);
    }
  }
  return { forms, byKey, byFamily };
}

let index: RegistryIndex | undefined;
// Built on first use: importing the module stays cheap for callers that never resolve.
function registryIndex(): RegistryIndex {
  index ??= buildIndex(GPU_PROFILES);
  return index;
}

/** Keys that more than one profile answers to: a data error (the tests assert there are none). */
export function ambiguousKeys(): string[] {
  return [...registryIndex().byKey]
    .filter(([, set]) => set.size > 1)
    .map(([key, set]) => `${key}: ${[...set].map((p) => p.name).join(" | ")}`);
}

function byVram(a: GpuProfile, b: GpuProfile): number {
  return a.vramGb - b.vramGb || a.name.localeCompare(b.name);
}

function nearestToHint(candidates: readonly GpuProfile[], vramMb: number): GpuProfile | undefined {
  let best: GpuProfile | undefined;
  let bestDiff = Infinity;
  for (const p of candidates) {
    const diff = Math.abs(p.vramMb - vramMb);
    if (diff <= p.vramMb * VRAM_HINT_TOLERANCE && diff < bestDiff) {
      best = p;
      bestDiff = diff;
    }
  }
  return best;
}

function only(set: ReadonlySet<GpuProfile> | undefined): GpuProfile | undefined {
  if (set === undefined || set.size !== 1) return undefined;
  return set.values().next().value;
}

export function findGpuProfile(name: string, options: ResolveOptions = {}): FindResult {
  const query = normalizeName(name);
  if (query.atoms.length === 0) return { suggestions: [], reason: "unknown" };
  const { byKey, byFamily } = registryIndex();
  const exactSet = byKey.get(query.key);
  const exact = only(exactSet);

  if (query.memoryGb.length > 0) {
    if (exact !== undefined) return { profile: exact };
    const sized = [...(byFamily.get(query.familyKey) ?? [])].filter((p) =>
      query.memoryGb.some((gb) => Math.abs(gb - p.vramGb) < 0.5),
    );
    if (sized.length === 1 && sized[0] !== undefined) return { profile: sized[0] };
  } else {
    const variants = new Set([...(exactSet ?? []), ...(byFamily.get(query.key) ?? [])]);
    const list = [...variants].sort(byVram);
    if (list.length === 1 && list[0] !== undefined) return { profile: list[0] };
    if (list.length > 1) {
      const hinted =
        options.vramMb !== undefined && Number.isFinite(options.vramMb)
          ? nearestToHint(list, options.vramMb)
          : undefined;
      if (hinted !== undefined) return { profile: hinted };
      if (exact !== undefined) return { profile: exact };
      return {
        suggestions: list.slice(0, MAX_SUGGESTIONS).map((p) => p.name),
        reason: "ambiguous",
      };
    }
  }
  return suggest(query);
}

export function resolveGpuProfile(name: string, options?: ResolveOptions): GpuProfile | undefined {
  const found = findGpuProfile(name, options);
  return "profile" in found ? found.profile : undefined;
}

/** Credit for atoms the query shares with a name: long atoms (model numbers) count more. */
function sharedAtomCredit(query: readonly string[], form: readonly string[]): number {
  let credit = 0;
  for (const atom of query) {
    if (form.includes(atom)) credit += atom.length;
    else if (atom.length >= 2 && form.some((f) => f.startsWith(atom))) credit += atom.length / 2;
  }
  return credit;
}

function suggest(query: NormalizedName): FindResult {
  const best = new Map<GpuProfile, { score: number; covers: boolean }>();
  for (const { profile, norm } of registryIndex().forms) {
    const whole = editDistance(query.compact, norm.compact);
    const prefix = editDistance(query.compact, norm.compact.slice(0, query.compact.length)) + 0.5;
    const distance = Math.min(whole, prefix);
    const credit = sharedAtomCredit(query.atoms, norm.atoms);
    // Too far and nothing in common: not a suggestion, just noise.
    if (credit === 0 && distance > Math.max(2, query.compact.length / 2)) continue;
    const covers = query.atoms.every((a) => norm.atoms.includes(a));
    const score = distance - credit;
    const previous = best.get(profile);
    if (
      previous === undefined ||
      (covers && !previous.covers) ||
      (covers === previous.covers && score < previous.score)
    ) {
      best.set(profile, { score, covers });
    }
  }
  const all = [...best];
  const covering = all.filter(([, r]) => r.covers);
  // Names containing everything typed ("H100" → the three H100s) beat near-misses; only
  // when there are none do near-misses by spelling come back.
  const pool = covering.length > 0 ? covering : all;
  const ranked = pool
    .sort(([pa, a], [pb, b]) => a.score - b.score || byVram(pa, pb))
    .slice(0, MAX_SUGGESTIONS);
  const reason = covering.length > 1 ? "ambiguous" : "unknown";
  return { suggestions: ranked.map(([p]) => p.name), reason };
}
