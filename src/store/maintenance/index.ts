// Keeping storage in bounds: cleanup and project deletion (cleanup.ts), blob and artifact garbage
// collection with what crashes left in the stores (blob-gc.ts, artifact-gc.ts, strays.ts), the
// sweeper that runs cleanup on one instance, and storage statistics. Re-exports what the
// composition (stowage.ts) and the tools use.
export { createMaintenanceService, type CleanupOptions, type CleanupReport } from './cleanup.js';
