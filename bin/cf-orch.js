#!/usr/bin/env node
// cf-orch command-line entry point. The sources are TypeScript run through tsx (no build
// step): register its loader, then hand over to cli/main.ts.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
