/**
 * `cf-orch <command> [options]`. Commands live in one table: adding one is one line here plus
 * its module exporting `run(argv): Promise<number>` (the exit code).
 */
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  coordinator: async () => (await import("./coordinator.js")).command,
  profiles: async () => (await import("./profiles.js")).command,
  run: async () => (await import("./run.js")).command,
  status: async () => (await import("./status.js")).command,
};

/** Lets other modules add commands (e.g. tests, plugins) without editing the table. */
export function registerCommand(name: string, load: () => Promise<Command>): void {
  COMMANDS[name] = load;
}

export async function usage(): Promise<string> {
  const lines = ["usage: cf-orch <command> [options]", "", "commands:"];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const cmd = await load();
    lines.push(`  ${name.padEnd(14)} ${cmd.summary}`);
  }
  lines.push("", "Run `cf-orch <command> --help` for the options of one command.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${await usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`cf-orch: unknown command ${JSON.stringify(name)}\n\n${await usage()}\n`);
    return 2;
  }
  return (await load()).run(rest);
}
