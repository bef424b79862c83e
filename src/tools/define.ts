// A tool is one value: name, toolset, schemas, annotations and a handler that just throws on
// failure. registerTools filters by toolset and read-only mode, maps every error once, renders
// every result's text once (resultText) and reports each call to the metrics.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  type Tool,
  type CallToolResult,
  type ResourceLink,
  type ServerNotification,
  type ServerRequest,
  type ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Access, Scope } from '../access.js';
import type { DownloadLinks, Progress, ToolCallObserver } from '../call-context.js';
import type { Toolset } from '../config.js';
import { forbidden, invalidInput, reportInternal, StowageError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Stowage } from '../store/stowage.js';
import { parseArguments } from './arguments.js';
import { resultText } from './result-text.js';
import { prepareTool, type ToolLimits, type ToolListing } from './tool-list.js';

export interface ToolContext {
  stowage: Stowage;
  /** The caller's name and default workspace (access.principal). */
  principal: string;
  /** What this request's caller may do; registerTools checks it before the handler runs. */
  access: Access;
  signal: AbortSignal;
  /** Sends MCP progress notifications when the caller gave a progress token; else does nothing. */
  progress: Progress;
  downloads?: DownloadLinks | undefined;
}

export interface ToolResult<O> {
  structured: O;
  /** One line for the model; the text content is this line, then all of `structured` (resultText). */
  summary: string;
  links?: ResourceLink[];
}

type Annotations = Required<
  Pick<ToolAnnotations, 'readOnlyHint' | 'destructiveHint' | 'idempotentHint' | 'openWorldHint'>
>;

/** A tool: what tools/list shows of it (tool-list.ts), its toolset and how it is called. */
export interface ToolDefinition<I extends z.ZodRawShape, O extends z.ZodRawShape> extends ToolListing<I, O> {
  toolset: Toolset;
  annotations: Annotations;
  /** The project the arguments name, checked against the caller's projects; default: `project`. */
  projectOf?(args: z.infer<z.ZodObject<I>>): string | undefined;
  handle(args: z.infer<z.ZodObject<I>>, ctx: ToolContext): Promise<ToolResult<z.infer<z.ZodObject<O>>>>;
}

export type AnyTool = ToolDefinition<z.ZodRawShape, z.ZodRawShape>;

export const defineTool = <I extends z.ZodRawShape, O extends z.ZodRawShape>(def: ToolDefinition<I, O>) =>
  def as unknown as AnyTool;

export interface RegisterOptions {
  toolsets: readonly Toolset[];
  limits: ToolLimits;
  readOnly: boolean;
  logger: Logger;
  /** The context of one call; `auth` is the bearer of the request that carries it (HTTP). */
  context(call: {
    signal: AbortSignal;
    progress: Progress;
    auth: AuthInfo | undefined;
  }): Promise<ToolContext>;
  /** Told of every call whose arguments are valid, those refused by authorisation included. */
  metrics?: ToolCallObserver | undefined;
}

/** The tools this server lists: the chosen toolsets, and only read-only ones in read-only mode. */
export const selectTools = (tools: readonly AnyTool[], toolsets: readonly Toolset[], readOnly: boolean) =>
  tools.filter((t) => toolsets.includes(t.toolset) && (!readOnly || t.annotations.readOnlyHint));

export function registerTools(server: McpServer, tools: readonly AnyTool[], options: RegisterOptions): void {
  const calls = new Map<string, (args: unknown, extra: ToolExtra) => Promise<CallToolResult>>();
  const listed: Tool[] = [];
  for (const tool of selectTools(tools, options.toolsets, options.readOnly)) {
    const { input, listed: definition } = prepareTool(tool, options.limits);
    listed.push(definition);
    calls.set(tool.name, async (raw, extra) => {
      let args: unknown;
      try {
        args = await parseArguments(input, raw);
      } catch (err) {
        return toolError(err, tool.name, options.logger);
      }
      const started = performance.now();
      let error: ErrorCode | undefined;
      try {
        const context = await options.context({
          signal: extra.signal,
          progress: progressOf(extra, options.logger),
          auth: extra.authInfo,
        });
        await authorize(tool, args, context);
        const result = await tool.handle(args as never, context);
        return {
          content: [
            { type: 'text', text: resultText(result.summary, result.structured) },
            ...(result.links ?? []),
          ],
          structuredContent: result.structured,
        };
      } catch (err) {
        error = err instanceof StowageError ? err.code : 'internal';
        return toolError(err, tool.name, options.logger);
      } finally {
        options.metrics?.observe({ tool: tool.name, seconds: (performance.now() - started) / 1000, error });
      }
    });
  }
  if (!calls.size) return; // no tools listed, so no tools capability to answer calls under
  // tools/list and tools/call are both this module's: the listing is computed once, compacted
  // (tool-list.ts); the SDK's tool registry is not used.
  server.server.registerCapabilities({ tools: { listChanged: false } });
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));
  // The SDK's own tools/call handler validates arguments with messages of its own and drops
  // unknown ones; this one answers every argument problem as an invalid_input result naming the
  // argument and the fix. tools/list stays the SDK's.
  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const call = calls.get(request.params.name);
    if (call) return call(request.params.arguments, extra);
    return toolError(
      unavailableTool(request.params.name, tools, options, [...calls.keys()]),
      request.params.name,
      options.logger,
    );
  });
}

/** Why a tool cannot be called here: read-only mode or a toolset this server leaves out (each
 *  with the setting that changes it), or no such tool. */
function unavailableTool(
  name: string,
  tools: readonly AnyTool[],
  { toolsets, readOnly }: Pick<RegisterOptions, 'toolsets' | 'readOnly'>,
  listed: readonly string[],
): StowageError {
  const tool = tools.find((t) => t.name === name);
  if (tool && readOnly && !tool.annotations.readOnlyHint) {
    return forbidden(
      `${name} changes data and this server is read-only (STOWAGE_READ_ONLY=true): restart it without STOWAGE_READ_ONLY to use it`,
    );
  }
  if (tool && !toolsets.includes(tool.toolset)) {
    return forbidden(
      `${name} is in the '${tool.toolset}' toolset, which this server leaves out: add ${tool.toolset} to STOWAGE_TOOLSETS (now ${toolsets.join(',')})`,
    );
  }
  return invalidInput(`unknown tool ${name}: call one of ${listed.join(', ')}`);
}

/** The one authorisation check of a tool call: the scope its kind needs, its project (patterns,
 *  or a job's owner) and the workspace it names (its owner). */
async function authorize(tool: AnyTool, args: unknown, { access, stowage }: ToolContext): Promise<void> {
  const needed: Scope = tool.toolset === 'admin' ? 'admin' : tool.annotations.readOnlyHint ? 'read' : 'write';
  if (!access.scopes.includes(needed)) {
    throw forbidden(
      `${tool.name} needs the '${needed}' scope and this token has ${access.scopes.join(', ')}: use a token created with --scopes including ${needed}`,
    );
  }
  const fields = args as Record<string, unknown>;
  const project = tool.projectOf
    ? tool.projectOf(args as never)
    : typeof fields.project === 'string'
      ? fields.project
      : undefined;
  if (project === undefined) return;
  await stowage.ownership.assertProject(access, project);
  if (typeof fields.workspace === 'string') {
    await stowage.ownership.assertWorkspace(access, project, fields.workspace, needed !== 'read');
  }
}

type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Progress notifications for this call, at most one per 100 ms, or nothing without a token. */
function progressOf(extra: ToolExtra, logger: Logger): Progress {
  const token = extra._meta?.progressToken;
  if (token === undefined) return () => undefined;
  let last = 0;
  return (progress, total, message) => {
    const now = Date.now();
    if (now - last < 100 && progress !== total) return;
    last = now;
    extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress, ...(total !== undefined ? { total } : {}), message },
      })
      .catch((err: unknown) => logger.debug({ err }, 'progress notification not sent'));
  };
}

/** The one place errors become tool results: StowageErrors say what to do; anything else is
 *  logged with its stack and reported by reference only (reportInternal, as resources do). */
export function toolError(err: unknown, tool: string, logger: Logger): CallToolResult {
  const text =
    err instanceof StowageError
      ? `${err.code}: ${err.message}`
      : reportInternal(err, logger, { tool }, 'tool failed');
  return { isError: true, content: [{ type: 'text', text }] };
}

// Arguments and results shared across toolsets.
// The arguments every tool shares say what they are by name; the server's instructions explain
// workspaces and etags once rather than in every definition.
export const projectArg = z.string();
/** The refusal of a batch over MAX_BATCH_FILES, with the fix. */
export const batchError = (limits: ToolLimits, what: string) => ({
  error: `at most ${limits.batchFiles} ${what} in one call (MAX_BATCH_FILES): split the batch`,
});
export const workspaceArg = z.string().optional();
/** A point in time (store/history/points.ts). */
export const atArg = z.string().optional().describe('See file_history');

/** Lets a read as of a point into another workspace as the caller may read it, or refuses. */
export const mayReadOf = (stowage: Stowage, access: Access, project: string) => (workspace: string) =>
  stowage.ownership.assertWorkspace(access, project, workspace, false);
export const stateSchema = z.enum(['committed', 'added', 'modified', 'deleted']);

export const READ: Annotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};
export const WRITE: Annotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};
export const DESTRUCTIVE: Annotations = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: false,
};
