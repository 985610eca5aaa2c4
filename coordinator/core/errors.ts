/**
 * The single error type the core throws. `code` maps 1:1 onto a gRPC status in the server and
 * `field` names the offending request field in proto spelling (e.g. "slot.vram_mb"), so a client
 * learns exactly what to fix.
 */
export type CoreErrorCode =
  "invalid-argument" | "not-found" | "not-fittable" | "failed-precondition" | "already-exists";

export class CoreError extends Error {
  readonly code: CoreErrorCode;
  readonly field?: string;

  constructor(code: CoreErrorCode, message: string, field?: string) {
    super(message);
    this.name = "CoreError";
    this.code = code;
    if (field !== undefined) this.field = field;
  }
}
