/** The coordinator's durable state: the SQLite store, its schema, and recovery at start. */
export {
  ENDED_MEMORY,
  LeaseStore,
  STORE_FILE,
  StoreError,
  type LeaseUpsert,
  type StoreBatch,
  type StoredGpu,
  type StoredLease,
  type StoredState,
  type StoreOptions,
} from "./store.js";
export { APPLICATION_ID, SCHEMA_VERSION } from "./schema.js";
export { recover, type Recovery, type RecoveryOptions } from "./recovery.js";
