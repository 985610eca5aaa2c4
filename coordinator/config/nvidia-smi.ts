/**
 * GPU discovery and usage measurement through `nvidia-smi`.
 *
 * Query: `nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used
 *         --format=csv,noheader,nounits`, which prints one line per GPU such as
 * `0, NVIDIA GeForce RTX 4090, GPU-4b2c9f7e-..., 24564, 1021` (memory in MiB).
 */
import { execFile } from "node:child_process";

export const NVIDIA_SMI_ARGS = [
  "--query-gpu=index,name,uuid,memory.total,memory.used",
  "--format=csv,noheader,nounits",
] as const;

export interface SmiGpu {
  index: number;
  name: string;
  uuid: string;
  memoryTotalMb: number;
  /** undefined when nvidia-smi printed "[N/A]" or similar. */
  memoryUsedMb?: number;
}

export class NvidiaSmiError extends Error {
  constructor(
    message: string,
    readonly notFound = false,
  ) {
    super(message);
    this.name = "NvidiaSmiError";
  }
}

const num = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const t = s.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
};

/** Parses the CSV output. Throws on a line that does not have the expected shape. */
export function parseNvidiaSmiCsv(text: string): SmiGpu[] {
  const out: SmiGpu[] = [];
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  for (const [i, line] of lines.entries()) {
    const cols = line.split(",").map((c) => c.trim());
    // A model name could contain a comma: index first, uuid, total, used are the last three.
    if (cols.length < 5)
      throw new NvidiaSmiError(
        `nvidia-smi output line ${i + 1} has ${cols.length} columns, expected 5: ${JSON.stringify(line)}`,
      );
    const index = num(cols[0]);
    const used = cols[cols.length - 1];
    const total = num(cols[cols.length - 2]);
    const uuid = cols[cols.length - 3]!;
    const name = cols.slice(1, cols.length - 3).join(", ");
    if (index === undefined || total === undefined || total <= 0 || name.length === 0)
      throw new NvidiaSmiError(
        `cannot parse nvidia-smi output line ${i + 1}: ${JSON.stringify(line)}`,
      );
    const gpu: SmiGpu = { index, name, uuid, memoryTotalMb: total };
    const usedMb = num(used);
    if (usedMb !== undefined) gpu.memoryUsedMb = usedMb;
    out.push(gpu);
  }
  return out;
}

/** Runs nvidia-smi (at most `timeoutMs`) and parses its output. */
export function queryNvidiaSmi(path: string, timeoutMs = 10_000): Promise<SmiGpu[]> {
  return new Promise((resolve, reject) => {
    execFile(
      path,
      [...NVIDIA_SMI_ARGS],
      { timeout: timeoutMs, maxBuffer: 1024 * 1024, windowsHide: true },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown };
          if (e.code === "ENOENT")
            return reject(
              new NvidiaSmiError(`nvidia-smi not found at ${JSON.stringify(path)}`, true),
            );
          const detail = String(stderr || stdout || err.message)
            .trim()
            .split("\n")[0];
          return reject(new NvidiaSmiError(`${path} failed: ${detail}`));
        }
        try {
          resolve(parseNvidiaSmiCsv(String(stdout)));
        } catch (parseErr) {
          reject(parseErr);
        }
      },
    );
  });
}
