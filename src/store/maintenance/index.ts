// Keeping storage in bounds: cleanup and project deletion (cleanup.ts), blob and artifact garbage
// collection with what crashes left in the stores (blob-gc.ts, artifact-gc.ts, strays.ts), the
// sweeper that runs cleanup on one instance, storage statistics, and cleanup as the tool and the
// CLI run it, with its one-line summary (run-cleanup.ts). Re-exports what the composition
// (stowage.ts), the tools and the CLI use.
export { createMaintenanceService, type CleanupOptions, type CleanupReport } from './cleanup.js';
export { runCleanup } from './run-cleanup.js';
