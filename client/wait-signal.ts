/**
 * One AbortSignal for waiting on a lease: the caller's signal, its timeout and the client's
 * close(), each aborting with a CancelledError that says which it was, so the code that waits
 * (Acquire stream, retry back-off, local queue) only watches one signal and rethrows its reason.
 */
import { CancelledError, InvalidSlotError } from "./errors.js";

export interface WaitSignal {
  readonly signal: AbortSignal;
  /** Removes the listeners and the timer; call when the wait is over. */
  dispose(): void;
}

export function waitSignal(
  user: AbortSignal | undefined,
  timeoutMs: number | undefined,
  closing: AbortSignal,
): WaitSignal {
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0)
  ) {
    throw new InvalidSlotError("timeoutMs", "timeoutMs must be a finite number ≥ 0");
  }
  const controller = new AbortController();
  const onUser = (): void =>
    controller.abort(
      new CancelledError("aborted", "stopped waiting for a lease: aborted", user?.reason),
    );
  const onClose = (): void =>
    controller.abort(
      new CancelledError("closed", "stopped waiting for a lease: ResourceCoordinator closed"),
    );
  if (user?.aborted) onUser();
  else user?.addEventListener("abort", onUser, { once: true });
  if (closing.aborted) onClose();
  else closing.addEventListener("abort", onClose, { once: true });
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () => controller.abort(new CancelledError("timeout", `no lease within ${timeoutMs} ms`)),
          timeoutMs,
        );
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      user?.removeEventListener("abort", onUser);
      closing.removeEventListener("abort", onClose);
    },
  };
}
