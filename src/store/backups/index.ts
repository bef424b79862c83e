// Backups to a target elsewhere (BACKUP_TARGET): take, list, restore, prune and schedule them.
// Re-exports what the composition (stowage.ts), the runtime, the tools and the CLI use.
export {
  createBackupService,
  type BackupListing,
  type BackupService,
  type BackupSettings,
  type BackupSummary,
  type PruneReport,
  type RestoredBackup,
  type TakenBackup,
} from './service.js';
export { openBackupTarget, type BackupTarget } from './target.js';
