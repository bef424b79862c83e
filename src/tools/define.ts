// A tool is one value: name, toolset, schemas, annotations and a handler that just throws on
// failure. registerTools filters by toolset and read-only mode and maps every error once.
import { randomBytes } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ResourceLink, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Toolset } from '../config.js';
import { StowageError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Stowage } from '../store/stowage.js';

export interface ToolContext {
  stowage: Stowage;
  principal: string;
  signal: AbortSignal;
}

export interface ToolResult<O> {
  structured: O;
  /** One line for the model; the details are in `structured`. */
  summary: string;
  links?: ResourceLink[];
}

type Annotations = Required<
  Pick<ToolAnnotations, 'readOnlyHint' | 'destructiveHint' | 'idempotentHint' | 'openWorldHint'>
>;

export interface ToolDefinition<I extends z.ZodRawShape, O extends z.ZodRawShape> {
  name: string;
  toolset: Toolset;
  title: string;
  description: string;
  input: I;
  output: O;
  annotations: Annotations;
  handle(args: z.infer<z.ZodObject<I>>, ctx: ToolContext): Promise<ToolResult<z.infer<z.ZodObject<O>>>>;
}

export type AnyTool = ToolDefinition<z.ZodRawShape, z.ZodRawShape>;

export const defineTool = <I extends z.ZodRawShape, O extends z.ZodRawShape>(def: ToolDefinition<I, O>) =>
  def as unknown as AnyTool;

export interface RegisterOptions {
  toolsets: readonly Toolset[];
  readOnly: boolean;
  logger: Logger;
  context(signal: AbortSignal): ToolContext;
}

/** The tools this server lists: the chosen toolsets, and only read-only ones in read-only mode. */
export const selectTools = (tools: readonly AnyTool[], toolsets: readonly Toolset[], readOnly: boolean) =>
  tools.filter((t) => toolsets.includes(t.toolset) && (!readOnly || t.annotations.readOnlyHint));

export function registerTools(server: McpServer, tools: readonly AnyTool[], options: RegisterOptions): void {
  for (const tool of selectTools(tools, options.toolsets, options.readOnly)) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.input,
        outputSchema: tool.output,
        annotations: { title: tool.title, ...tool.annotations },
      },
      async (args: unknown, extra: { signal: AbortSignal }): Promise<CallToolResult> => {
        try {
          const result = await tool.handle(args as never, options.context(extra.signal));
          return {
            content: [{ type: 'text', text: result.summary }, ...(result.links ?? [])],
            structuredContent: result.structured,
          };
        } catch (err) {
          return toolError(err, tool.name, options.logger);
        }
      },
    );
  }
}

/** The one place errors become tool results: StowageErrors say what to do; anything else is
 *  logged with its stack and reported by reference only. */
export function toolError(err: unknown, tool: string, logger: Logger): CallToolResult {
  if (err instanceof StowageError) {
    return { isError: true, content: [{ type: 'text', text: `${err.code}: ${err.message}` }] };
  }
  const ref = randomBytes(4).toString('hex');
  logger.error({ err, tool, ref }, 'tool failed');
  return {
    isError: true,
    content: [{ type: 'text', text: `internal error (ref ${ref}): retry, or report the ref` }],
  };
}

// Arguments and results shared across toolsets.
export const projectArg = z.string().describe('Project name');
export const workspaceArg = z.string().optional().describe('Workspace (default: your principal)');
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

export const fileUri = (project: string, path: string) =>
  `stowage://${project}/${path.split('/').map(encodeURIComponent).join('/')}`;
