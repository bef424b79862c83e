// What a call carries across the layers, in one place every layer may import: its cancellation
// signal and progress reports (tools → services → git adapters), the download links a transport
// can offer for artifacts (tools, resources), and who is told of each tool call (metrics).
import type { ErrorCode } from './errors.js';
import type { Artifact } from './store/artifacts.js';

export interface Progress {
  /** Reports progress; `total` when known. Never throws. */
  (progress: number, total: number | undefined, message: string): void;
}

/** A long call's cancellation and progress, handed from the transport down to git. */
export interface CallContext {
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
}

/** Counts tool calls (the Prometheus metrics over HTTP); `error` is absent when the call succeeded. */
export interface ToolCallObserver {
  observe(call: { tool: string; seconds: number; error?: ErrorCode | undefined }): void;
}

/** Download links for artifacts: signed URLs to this server, or the store's presigned URLs.
 *  Present only when something can serve them (HTTP); over stdio there is none. */
export interface DownloadLinks {
  link(artifact: Artifact): Promise<{ url: string; expires_at: string }>;
}
