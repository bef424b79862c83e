// The metadata seam, as supabase/storage's `Database` interface is: every statement the domain runs
// against Postgres, as a typed function over a Queryable (the pool, or a transaction) taking its
// parameters and returning typed rows. One module per table; the reads that span tables have
// their own (view.ts: the workspace view and case probes; usage.ts: sums for statistics and
// quotas; cleanup.ts: what cleanup measures and removes), and session.ts holds the statements
// about a connection. SQL text lives only here: services call these functions, or send the
// Statements built here with a transaction's BEGIN (Sql.transaction's `opening`).
export * from './tokens.js';
export * from './artifacts.js';
export * from './commits.js';
export * from './projects.js';
export * from './files.js';
export * from './drafts.js';
export * from './events.js';
export * from './view.js';
export * from './session.js';
export * from './blobs.js';
export * from './search.js';
export * from './cleanup.js';
export * from './usage.js';
export * from './workspaces.js';
export * from './history.js';
export * from './secret-findings.js';
export * from './facts.js';
export * from './backups.js';
