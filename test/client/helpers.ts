/** Test helpers for the client tests: captured pino logs, closed ports, bounded waits. */
import * as net from "node:net";
import { pino, type Logger } from "pino";

export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: Array<{ level: number; msg: string; [key: string]: unknown }>;
  /** Lines at warn level (40). */
  warnings(): Array<{ level: number; msg: string }>;
}

export function captureLogger(): CapturedLog {
  const lines: CapturedLog["lines"] = [];
  const logger = pino(
    { level: "debug" },
    {
      write(line: string) {
        lines.push(JSON.parse(line));
      },
    },
  );
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

/** A loopback port nobody listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns true, at most `attempts` times `everyMs` apart; throws with
 * `what` otherwise. Every wait in these tests is bounded in count and time.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  { attempts = 200, everyMs = 25 }: { attempts?: number; everyMs?: number } = {},
): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what} (${attempts} × ${everyMs} ms)`);
}

/** Resolves when the signal aborts, or rejects after `ms` (bounded wait for a lease's signal). */
export function aborted(signal: AbortSignal, ms: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve(signal.reason);
    const timer = setTimeout(() => reject(new Error(`signal did not abort within ${ms} ms`)), ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve(signal.reason);
      },
      { once: true },
    );
  });
}
