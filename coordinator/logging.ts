/**
 * pino logger of the coordinator: JSON lines on stdout by default; `pretty` switches to
 * pino-pretty (a dev dependency: without it we stay on JSON and say so).
 */
import pino, { type Logger } from "pino";
import type { LogLevel } from "./config/schema.js";

export async function createLogger(opts: { level: LogLevel; pretty: boolean }): Promise<Logger> {
  const base = { name: "cf-orch" };
  if (opts.pretty) {
    try {
      const mod = (await import("pino-pretty")) as unknown as {
        default: (o: object) => NodeJS.WritableStream;
      };
      const stream = mod.default({
        colorize: process.stdout.isTTY === true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname,name",
        sync: true,
      });
      return pino({ level: opts.level, base }, stream);
    } catch {
      const logger = pino({ level: opts.level, base });
      logger.warn("pino-pretty is not installed; logging JSON");
      return logger;
    }
  }
  return pino({ level: opts.level, base });
}
