/**
 * Turns a device name, as nvidia-smi, rocm-smi, system_profiler or a person writes it, into
 * comparable atoms.
 *
 * Steps: lowercase; drop trademark marks and Apple core counts ("40-core GPU"); unify
 * spellings that mean the same part ("PCI-E" → pcie, "SXM4" → sxm, "Mobile"/"Notebook" →
 * laptop, "Max-Q" → maxq); split into letter runs, digit runs and memory sizes ("80GB",
 * "80 GB" → one atom "80gb", so a size stays a size); drop words that name the company or
 * brand rather than the part (nvidia, geforce, tesla, amd, radeon, instinct, apple, intel,
 * gpu, graphics, generation, edition…). "rtx4090", "RTX 4090" and "NVIDIA GeForce RTX 4090"
 * all become [rtx, 4090].
 *
 * Variant words (laptop, maxq, ti, super, xt, xtx, gre, pcie, sxm, nvl, pro, max, ultra, ada,
 * quadro, sizes) are never dropped, so the exact-key match in resolve.ts keeps variants apart.
 * Keys sort the atoms, so word order does not matter ("A100 80GB PCIe" = "A100-PCIE-80GB").
 */

const NOISE_WORDS = new Set([
  "nvidia",
  "geforce",
  "tesla",
  "amd",
  "ati",
  "radeon",
  "instinct",
  "apple",
  "intel",
  "gpu",
  "graphics",
  "generation",
  "edition",
  "founders",
  "with",
  "design",
  "corporation",
  "chip",
  "oam",
]);

const SYNONYMS: ReadonlyMap<string, string> = new Map([
  ["mobile", "laptop"],
  ["notebook", "laptop"],
]);

export interface NormalizedName {
  /** Atoms in the order they appeared (sizes as "80gb"). */
  readonly atoms: readonly string[];
  /** Memory sizes the name states, in GB ("80gb" → 80). */
  readonly memoryGb: readonly number[];
  /** Sorted atoms joined by spaces: the exact-match key. */
  readonly key: string;
  /** Like key, without memory-size atoms: groups the memory variants of one part. */
  readonly familyKey: string;
  /** Atoms joined without separators, in order: what edit distance compares. */
  readonly compact: string;
}

const MEMORY_ATOM = /^(\d+(?:\.\d+)?)gb$/;

export function isMemoryAtom(atom: string): boolean {
  return MEMORY_ATOM.test(atom);
}

export function normalizeName(raw: string): NormalizedName {
  const text = raw
    .toLowerCase()
    .replace(/[®™]|\((?:r|tm|c)\)/g, " ")
    // Apple core counts ("M3 Max (40-core GPU)") describe a bin, not a different chip name.
    .replace(/\b\d+\s*-?\s*cores?\b(?:\s*(?:gpu|cpu))?/g, " ")
    .replace(/max\s*-?\s*q\b/g, " maxq ")
    .replace(/pci\s*-?\s*e(?:xpress)?\b/g, " pcie ")
    .replace(/sxm\d\b/g, " sxm ");
  const atoms: string[] = [];
  const memoryGb: number[] = [];
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)\s*gb\b|[a-z]+|\d+(?:\.\d+)?/g)) {
    const size = match[1];
    if (size !== undefined) {
      const gb = Number(size);
      atoms.push(`${gb}gb`);
      memoryGb.push(gb);
      continue;
    }
    const word = SYNONYMS.get(match[0]) ?? match[0];
    if (!NOISE_WORDS.has(word)) atoms.push(word);
  }
  return {
    atoms,
    memoryGb,
    key: [...atoms].sort().join(" "),
    familyKey: atoms
      .filter((a) => !isMemoryAtom(a))
      .sort()
      .join(" "),
    compact: atoms.join(""),
  };
}

/** Series words people leave out ("4090" for "RTX 4090", "7900 XTX" for "RX 7900 XTX"). */
const SERIES_WORDS = new Set(["rtx", "gtx", "rx"]);

/**
 * The atoms without the series word, when a 4-digit model number remains to carry the name;
 * undefined when nothing would be dropped or the rest would be too vague ("TITAN RTX").
 */
export function withoutSeriesWord(atoms: readonly string[]): string[] | undefined {
  if (!atoms.some((a) => SERIES_WORDS.has(a))) return undefined;
  const rest = atoms.filter((a) => !SERIES_WORDS.has(a));
  return rest.some((a) => /^\d{4}$/.test(a)) ? rest : undefined;
}
