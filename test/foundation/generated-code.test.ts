// gen/ is committed and must be exactly what `buf generate` makes from proto/:
// regenerate into a scratch directory and compare byte for byte.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(__dirname, "..", "..");

function listFiles(dir: string, keep: (rel: string) => boolean, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return listFiles(full, keep, base);
    const rel = relative(base, full);
    return keep(rel) ? [rel] : [];
  });
}

// Hand-written module files live beside the Go stubs and are not generated.
const isGenerated = (rel: string) =>
  !/^go\/go\.(mod|sum)$/.test(rel) && !rel.includes("__pycache__");
// generate.sh drops the vendored gRPC protos' Python and Go output.
const isShipped = (rel: string) => !/^(python|go)\/grpc\//.test(rel);

test("gen/ equals a fresh buf generate of proto/", () => {
  const scratch = mkdtempSync(join(tmpdir(), "cforch-gen-"));
  try {
    execFileSync(join(root, "node_modules/.bin/buf"), ["generate", "-o", scratch], {
      cwd: root,
      stdio: "pipe",
    });
    // The documented image for reflection, made as scripts/generate.sh makes it.
    const image = join(scratch, "image.binpb");
    execFileSync(join(root, "node_modules/.bin/buf"), ["build", "-o", image], { cwd: root });
    execFileSync(process.execPath, [
      join(root, "scripts/embed-image.mjs"),
      image,
      join(scratch, "gen/ts/proto-image.ts"),
    ]);
    const fresh = listFiles(join(scratch, "gen"), (r) => isGenerated(r) && isShipped(r)).sort();
    const committed = listFiles(join(root, "gen"), isGenerated).sort();
    expect(committed).toEqual(fresh);
    expect(fresh.length).toBeGreaterThan(20);
    const differing = fresh.filter(
      (rel) =>
        !readFileSync(join(scratch, "gen", rel)).equals(readFileSync(join(root, "gen", rel))),
    );
    expect(differing).toEqual([]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}, 120_000);
