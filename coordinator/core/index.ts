/**
 * Public surface of the scheduling core (PRODUCT.md §2, §3). The server imports from here only.
 *
 * Usage contract for the server:
 * - Every mutating call first processes deadlines that are due at clock.now(), then does its
 *   work, then places everything placeable and emits "queued" for every waiting entry whose
 *   view changed. Events are synchronous, in order, inside the call; listeners must not call
 *   back into the scheduler (that throws failed-precondition).
 * - Events describe every state change, including the caller's own: an acquire that is granted
 *   at once emits "granted" (waitedMs 0) and returns the same lease; one that waits emits
 *   "queued" and returns the same entry.
 * - After a timer for nextDeadline() fires, call advance(). After restore(), attach listeners
 *   and call advance() so paused leases that fit are resumed.
 * - Fencing tokens are bigint (persisted as decimal strings).
 */
export { CoreError, type CoreErrorCode } from "./errors.js";
export { Scheduler } from "./scheduler.js";
export type { PersistedLease, PersistedState } from "./persist.js";
export * from "./types.js";
