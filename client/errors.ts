/**
 * Typed errors a caller can act on. Every error the client throws is a CfOrchError, so
 * `err instanceof CfOrchError` separates cf-orch failures from the caller's own; the subclasses
 * say what to do next (fix the request, give up, retry later, stop using the GPU).
 */

/** Base class of every error thrown by the cf-orch client. */
export class CfOrchError extends Error {
  /** The gRPC status code name behind the error when it came from the coordinator. */
  readonly code: string | undefined;

  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code;
  }
}

/**
 * A slot or query argument breaks a documented rule: caught client-side, or the coordinator
 * answered INVALID_ARGUMENT. `field` names the offending field.
 */
export class InvalidSlotError extends CfOrchError {
  /** The offending field, for example "vramGb" or "slot.vram_mb". */
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown; code?: string }) {
    super(message, { code: "INVALID_ARGUMENT", ...options });
    this.field = field;
  }
}

/** A ResourceCoordinator option is invalid (bad URL, holder id, timing). */
export class InvalidOptionError extends CfOrchError {
  readonly field: string;

  constructor(field: string, message: string) {
    super(`invalid ResourceCoordinator option ${field}: ${message}`, { code: "INVALID_ARGUMENT" });
    this.field = field;
  }
}

/**
 * The slot can never be granted: bigger than every eligible GPU (FAILED_PRECONDITION), or its
 * constraints name a GPU or node the coordinator does not know (NOT_FOUND). Waiting would be
 * forever, so the coordinator says so at once.
 */
export class NotFittableError extends CfOrchError {}

/** Waiting for a lease stopped because the caller's AbortSignal fired or its timeout passed. */
export class CancelledError extends CfOrchError {
  /** "aborted" when the caller's signal fired, "timeout" when timeoutMs passed, "closed" on close(). */
  readonly reason: "aborted" | "timeout" | "closed";

  constructor(reason: "aborted" | "timeout" | "closed", message: string, cause?: unknown) {
    super(message, { cause, code: "CANCELLED" });
    this.reason = reason;
  }
}

/** Why a held lease stopped being valid. */
export type LeaseLostReason =
  /** The coordinator no longer knows it (expired, released elsewhere, dropped). */
  | "not_found"
  /** The coordinator told the holder so (LeaseLost on the eviction session) or refused access. */
  | "revoked"
  /** The coordinator could not be reached for longer than the lease's TTL. */
  | "unreachable"
  /** The ResourceCoordinator was closed while the lease was held. */
  | "closed";

/** The lease is gone: stop using the GPU memory it covered. Used as `lease.signal.reason`. */
export class LeaseLostError extends CfOrchError {
  readonly leaseId: string;
  readonly reason: LeaseLostReason;

  constructor(
    leaseId: string,
    reason: LeaseLostReason,
    message: string,
    options?: { cause?: unknown; code?: string },
  ) {
    super(message, options);
    this.leaseId = leaseId;
    this.reason = reason;
  }
}

/** The coordinator cannot be reached and `fallback: "error"` forbids running locally. */
export class CoordinatorUnavailableError extends CfOrchError {
  readonly url: string;

  constructor(url: string, cause?: unknown) {
    super(`cf-orch coordinator at ${url} is unreachable`, { cause, code: "UNAVAILABLE" });
    this.url = url;
  }
}

/** No GPU profile matches the name; `suggestions` lists the closest known names. */
export class GpuProfileNotFoundError extends CfOrchError {
  readonly gpuName: string;
  readonly suggestions: readonly string[];

  constructor(gpuName: string, suggestions: readonly string[], cause?: unknown) {
    const hint = suggestions.length > 0 ? `; did you mean ${suggestions.join(", ")}?` : "";
    super(`unknown GPU "${gpuName}"${hint}`, { cause, code: "NOT_FOUND" });
    this.gpuName = gpuName;
    this.suggestions = suggestions;
  }
}
