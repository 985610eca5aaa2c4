/**
 * Classifies RPC failures. Two questions matter to the client: "is the coordinator there at
 * all?" (decides local fallback) and "is this worth retrying?" (decides keep-alive and Acquire
 * retries). Node reports network failures as error codes on a chain of causes; connect-node
 * maps some of them to Code.Unavailable, but inside jest (a separate realm) its `instanceof
 * Error` checks fail and the same failure surfaces as Code.Internal. So the classification reads
 * `code` properties and messages along the cause chain instead of trusting the status code.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { CfOrchError, InvalidSlotError, NotFittableError } from "./errors.js";

/** Failures to open a connection at all: nobody is listening, DNS failed, or connect timed out. */
const CONNECT_FAILURES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EADDRNOTAVAIL",
]);

/** Failures of an established connection: the peer vanished or the HTTP/2 session broke. */
const CONNECTION_BREAKS = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_STREAM_ERROR",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_ERROR",
  "ERR_HTTP2_PING_CANCEL",
]);

const ERROR_CODE_IN_TEXT = /\b(E[A-Z]{4,}|ERR_[A-Z0-9_]+)\b/g;
const BROKEN_STREAM_TEXT = /http\/2 stream closed|premature close|socket hang up|session closed/i;

/**
 * "connect": the coordinator could not be reached at all (fall back or fail fast).
 * "transient": the call broke or the server is momentarily unavailable (retry).
 * "fatal": the server answered with an error that retrying will not fix.
 */
export type FailureKind = "connect" | "transient" | "fatal";

export interface Failure {
  readonly kind: FailureKind;
  /** The Connect status code (after cross-realm normalisation). */
  readonly code: Code;
  /** The Node error codes found along the cause chain, for logs. */
  readonly errnos: readonly string[];
  readonly message: string;
}

/** Node error codes on the error, its causes and their messages (at most 8 levels deep). */
export function nodeErrorCodes(err: unknown): string[] {
  const found = new Set<string>();
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current !== null && typeof current === "object"; depth++) {
    const record = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof record.code === "string") found.add(record.code);
    if (typeof record.message === "string") {
      for (const match of record.message.matchAll(ERROR_CODE_IN_TEXT)) found.add(match[1]!);
    }
    current = record.cause;
  }
  return [...found];
}

export function classifyFailure(err: unknown): Failure {
  const connectError = ConnectError.from(err);
  const errnos = nodeErrorCodes(err);
  const message = connectError.rawMessage;
  let kind: FailureKind;
  if (errnos.some((c) => CONNECT_FAILURES.has(c))) {
    kind = "connect";
  } else if (
    connectError.code === Code.Unavailable ||
    connectError.code === Code.DeadlineExceeded ||
    errnos.some((c) => CONNECTION_BREAKS.has(c)) ||
    // A coordinator killed mid-stream: the client's HTTP/2 layer resets the stream (CANCEL,
    // INTERNAL_ERROR), which connect-node reports as CANCELED or INTERNAL with this text. A
    // cancel by the caller never gets here (its own signal is checked first).
    ((connectError.code === Code.Internal ||
      connectError.code === Code.Unknown ||
      connectError.code === Code.Aborted ||
      connectError.code === Code.Canceled) &&
      BROKEN_STREAM_TEXT.test(message))
  ) {
    kind = "transient";
  } else {
    kind = "fatal";
  }
  return { kind, code: connectError.code, errnos, message };
}

/** True when the error means the coordinator could not be reached or the connection broke. */
export function isUnreachable(err: unknown): boolean {
  return classifyFailure(err).kind !== "fatal";
}

/** "InvalidArgument" → "INVALID_ARGUMENT", the spelling of the gRPC docs and our protos. */
export function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The status code of an error (cross-realm safe), or undefined for non-RPC errors. */
export function rpcCode(err: unknown): Code {
  return ConnectError.from(err).code;
}

const FIELD_IN_MESSAGE =
  /\b((?:slot|constraints|request|lease)\.[a-z_.]+|[a-z]+_(?:id|mb|ms)|service|task_type|priority|requires)\b/;

/** Maps a fatal server answer to the typed error a caller can act on. */
export function toTypedError(err: unknown, what: string): CfOrchError {
  if (err instanceof CfOrchError) return err;
  const connectError = ConnectError.from(err);
  const code = codeName(connectError.code);
  const text = `${what}: ${connectError.rawMessage}`;
  switch (connectError.code) {
    case Code.InvalidArgument: {
      const field = FIELD_IN_MESSAGE.exec(connectError.rawMessage)?.[1] ?? "slot";
      return new InvalidSlotError(field, text, { cause: err, code });
    }
    case Code.FailedPrecondition:
    case Code.NotFound:
      return new NotFittableError(text, { cause: err, code });
    default:
      return new CfOrchError(text, { cause: err, code });
  }
}
