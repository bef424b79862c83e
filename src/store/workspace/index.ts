// Workspaces: drafts overlaid on the committed tree (view.ts), what every operation shares
// (core.ts), draft writes with group commit (writer.ts), the workspace service (service.ts) and
// reads at scale (reader.ts): listings (listing.ts), batch reads (batch-read.ts), search (search.ts).
// Re-exports what the composition (stowage.ts) uses; tools take shownState from view.ts itself,
// which loads without the rest.
export { createWorkspaceCore } from './core.js';
export { createReader } from './reader.js';
export { createWorkspaceService, type Limits } from './service.js';
