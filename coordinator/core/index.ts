/** Public surface of the scheduling core. The server imports from here only. */
export { CoreError, type CoreErrorCode } from "./errors.js";
export { Scheduler } from "./scheduler.js";
export type { PersistedLease, PersistedState } from "./persist.js";
export * from "./types.js";
