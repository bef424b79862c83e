// Project lifecycle: archive a committed tree into a tar.gz artifact and restore it, export and
// import backups, archive idle projects for the sweeper. Re-exports what the composition
// (stowage.ts), the tools and the CLI use.
export {
  createLifecycleService,
  type ArchiveResult,
  type ExportResult,
  type ImportResult,
} from './service.js';
