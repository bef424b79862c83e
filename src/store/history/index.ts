// History: every version of every path (recorded by the database's triggers, migration 0013),
// points in time (points.ts) and the service that lists versions, reads as of a point and takes
// checkpoints (service.ts).
export { createHistoryService, type FileVersion, type HistoryService } from './service.js';
export type { Point } from './points.js';
