// Commits: commit_task (push first, apply second: commit.ts, push.ts, apply.ts) and project
// history; push intents, so a crash between push and apply is settled, not repeated; drafts
// rebased when the committed tree moves under them; a remote's tree brought in (remote-sync.ts)
// and a committed tree streamed out and in (tree-transfer.ts, for lifecycle). Re-exports what the
// composition (stowage.ts, runtime.ts) and other layers use.
export { createCommitApplier } from './apply.js';
export { createCommitService, type AuthorConfig } from './commit.js';
export { createDraftRebaser } from './draft-rebase.js';
export { createPushIntents, startIntentRecovery } from './push-intents.js';
export { createRemoteSync } from './remote-sync.js';
