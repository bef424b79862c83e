// A scripted stand-in for the model APIs of real coding agents, on loopback. The real model
// services cannot be reached from tests, yet what an MCP tool result becomes is decided by each
// client's own MCP code (what it forwards of `content` and `structuredContent`), which only runs
// inside the real client. So the client runs for real, with its base URL pointed here, and this
// plays the model: it answers each turn by calling the next scripted Stowage tool, records the
// tool result exactly as the client sends it back (that is what a model would see), and ends the
// turn once the script is done.
//
// One server speaks three wire protocols, picked by path:
// - Gemini API (Gemini CLI, GOOGLE_GEMINI_BASE_URL): POST …/models/M:generateContent and
//   :streamGenerateContent?alt=sse; tool results are `functionResponse` parts.
// - OpenAI Responses API (Codex, `wire_api = "responses"`): POST …/responses, always streamed;
//   tool results are `function_call_output` items.
// - Anthropic Messages API (Claude Code, ANTHROPIC_BASE_URL): POST /v1/messages, streamed or not;
//   tool results are `tool_result` blocks.
// Anything else (token counts, model lists, telemetry) gets a harmless answer and is recorded.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One step of the script: call this Stowage tool (its MCP name) with these arguments. */
export interface ScriptedCall {
  tool: string;
  arguments: Record<string, unknown>;
}

export type Protocol = 'gemini' | 'responses' | 'anthropic';

/** A tool result as the client sent it back to the model. */
export interface SeenResult {
  protocol: Protocol;
  call: ScriptedCall;
  /** How the client declared the tool to the model (e.g. mcp__stowage__read_file). */
  declaredAs: ToolRef;
  /** The part, item or block of the request body that carries the result, untouched. */
  raw: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface ModelStandin {
  /** http://127.0.0.1:PORT, without a trailing slash. */
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Each scripted call's result, once the client has sent it back. */
  results: SeenResult[];
  /** Replaces the script; the next conversation starts from its first call. */
  script(calls: ScriptedCall[]): void;
  close(): Promise<void>;
}

/** A tool as a request offers it: Codex groups MCP tools in a namespace per server. */
export interface ToolRef {
  name: string;
  namespace?: string;
}

/** What one model request amounts to, whatever its protocol. */
interface Turn {
  tools: ToolRef[];
  /** The tool results in the conversation so far, oldest first. */
  results: unknown[];
  stream: boolean;
}

type Reply =
  | { kind: 'call'; index: number; tool: ToolRef; args: Record<string, unknown> }
  | { kind: 'text'; text: string };

/** The members of each protocol's request body the stand-in reads. */
interface GeminiRequest {
  tools?: { functionDeclarations?: { name: string }[] }[];
  contents?: { parts?: { functionResponse?: unknown }[] }[];
}
interface ResponsesRequest {
  tools?: { type: string; name?: string; tools?: { name: string }[] }[];
  input?: string | { type?: string }[];
}
interface MessagesRequest {
  tools?: { name: string }[];
  messages?: { content: string | { type: string }[] }[];
  stream?: boolean;
}

interface Wire {
  protocol: Protocol;
  parse(body: object, url: URL): Turn;
  send(res: ServerResponse, reply: Reply, stream: boolean): void;
}

const callId = (index: number) => `call_${index}`;

const gemini: Wire = {
  protocol: 'gemini',
  parse(body: GeminiRequest, url) {
    const tools = (body.tools ?? []).flatMap((t) =>
      (t.functionDeclarations ?? []).map((d) => ({ name: d.name })),
    );
    const parts = (body.contents ?? []).flatMap((c) => c.parts ?? []);
    return {
      tools,
      results: parts.filter((p) => p.functionResponse),
      stream: url.pathname.endsWith(':streamGenerateContent'),
    };
  },
  send(res, reply, stream) {
    const part =
      reply.kind === 'call'
        ? { functionCall: { id: callId(reply.index), name: reply.tool.name, args: reply.args } }
        : { text: reply.text };
    const chunk = {
      candidates: [{ content: { role: 'model', parts: [part] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
      modelVersion: 'standin',
    };
    if (stream) sse(res, [[undefined, chunk]]);
    else json(res, chunk);
  },
};

const responses: Wire = {
  protocol: 'responses',
  parse(body: ResponsesRequest) {
    const input = Array.isArray(body.input) ? body.input : [];
    return {
      tools: (body.tools ?? []).flatMap((t): ToolRef[] =>
        t.type === 'namespace'
          ? (t.tools ?? []).map((f) => ({ name: f.name, namespace: t.name! }))
          : t.name
            ? [{ name: t.name }]
            : [],
      ),
      results: input.filter((i) => i.type === 'function_call_output'),
      stream: true,
    };
  },
  send(res, reply) {
    const item =
      reply.kind === 'call'
        ? {
            type: 'function_call',
            id: `fc_${reply.index}`,
            call_id: callId(reply.index),
            ...reply.tool,
            arguments: JSON.stringify(reply.args),
          }
        : {
            type: 'message',
            id: 'msg_0',
            role: 'assistant',
            content: [{ type: 'output_text', text: reply.text, annotations: [] }],
          };
    const response = { id: 'resp_0', object: 'response', status: 'completed', output: [item] };
    const usage = { input_tokens: 1, output_tokens: 1, total_tokens: 2 };
    sse(res, [
      [
        'response.created',
        { type: 'response.created', response: { ...response, status: 'in_progress', output: [] } },
      ],
      ['response.output_item.done', { type: 'response.output_item.done', output_index: 0, item }],
      ['response.completed', { type: 'response.completed', response: { ...response, usage } }],
    ]);
  },
};

const anthropic: Wire = {
  protocol: 'anthropic',
  parse(body: MessagesRequest) {
    const blocks = (body.messages ?? []).flatMap((m) => (Array.isArray(m.content) ? m.content : []));
    return {
      tools: (body.tools ?? []).map((t) => ({ name: t.name })),
      results: blocks.filter((b) => b.type === 'tool_result'),
      stream: body.stream === true,
    };
  },
  send(res, reply, stream) {
    const block =
      reply.kind === 'call'
        ? { type: 'tool_use', id: `toolu_${reply.index}`, name: reply.tool.name, input: reply.args }
        : { type: 'text', text: reply.text };
    const message = {
      id: 'msg_0',
      type: 'message',
      role: 'assistant',
      model: 'standin',
      content: [block],
      stop_reason: reply.kind === 'call' ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 1, output_tokens: 1 },
    };
    if (!stream) return json(res, message);
    const start = reply.kind === 'call' ? { ...block, input: {} } : { ...block, text: '' };
    const delta =
      reply.kind === 'call'
        ? { type: 'input_json_delta', partial_json: JSON.stringify(reply.args) }
        : { type: 'text_delta', text: reply.text };
    sse(res, [
      ['message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: start }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      [
        'message_delta',
        {
          type: 'message_delta',
          delta: { stop_reason: message.stop_reason, stop_sequence: null },
          usage: { output_tokens: 1 },
        },
      ],
      ['message_stop', { type: 'message_stop' }],
    ]);
  },
};

/** A tool result as the model reads it: the text the client put in its part, item or block. */
export function seenText(result: SeenResult): string {
  const raw = result.raw as {
    functionResponse?: { response?: { output?: unknown } };
    output?: unknown;
    content?: unknown;
  };
  const text = (value: unknown): string => {
    if (typeof value === 'string') return value;
    if (!Array.isArray(value)) return JSON.stringify(value);
    return value
      .map((v: { text?: unknown }) => (typeof v.text === 'string' ? v.text : JSON.stringify(v)))
      .join('\n');
  };
  if (result.protocol === 'gemini') {
    const response = raw.functionResponse?.response;
    return typeof response?.output === 'string' ? response.output : JSON.stringify(response);
  }
  return text(result.protocol === 'responses' ? raw.output : raw.content);
}

function wireOf(method: string, url: URL): Wire | undefined {
  if (method !== 'POST') return undefined;
  if (/:(stream)?generateContent$/i.test(url.pathname)) return gemini;
  if (url.pathname.endsWith('/responses')) return responses;
  if (url.pathname.endsWith('/v1/messages')) return anthropic;
  return undefined;
}

/** The name a client declared a Stowage tool under: clients prefix MCP tools with the server's
 *  name in their own ways, and some have built-in tools of the same bare name (read_file). */
function declared(tools: readonly ToolRef[], tool: string): ToolRef | undefined {
  const full = (t: ToolRef) => (t.namespace ?? '') + t.name;
  const prefixed = tools.find(
    (t) => full(t).endsWith(tool) && /stowage/i.test(full(t).slice(0, -tool.length)),
  );
  return prefixed ?? tools.find((t) => full(t) === tool);
}

export async function startModelStandin(): Promise<ModelStandin> {
  let calls: ScriptedCall[] = [];
  const requests: RecordedRequest[] = [];
  const results: SeenResult[] = [];
  const offered = new Map<number, ToolRef>();

  const answer = (wire: Wire, turn: Turn): Reply => {
    // A request carries the whole conversation: results past those already recorded are new.
    for (let i = results.length; i < Math.min(turn.results.length, calls.length); i++) {
      results.push({
        protocol: wire.protocol,
        call: calls[i]!,
        declaredAs: offered.get(i)!,
        raw: turn.results[i],
      });
    }
    const next = turn.results.length;
    const tool = next < calls.length ? declared(turn.tools, calls[next]!.tool) : undefined;
    // Side requests (titles, routing, summaries) offer no Stowage tools and get plain text.
    if (!tool) return { kind: 'text', text: 'done' };
    offered.set(next, tool);
    return { kind: 'call', index: next, tool, args: calls[next]!.arguments };
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const data = Buffer.concat(chunks).toString('utf8'); // whole, so no character is split
      const url = new URL(req.url ?? '/', 'http://standin');
      let body: unknown = data;
      try {
        body = data ? JSON.parse(data) : undefined;
      } catch {
        // not JSON: recorded as text
      }
      requests.push({ method: req.method ?? '', path: url.pathname + url.search, body });
      const wire = wireOf(req.method ?? '', url);
      if (wire && body && typeof body === 'object') {
        const turn = wire.parse(body, url);
        return wire.send(res, answer(wire, turn), turn.stream);
      }
      if (url.pathname.endsWith(':countTokens')) return json(res, { totalTokens: 1 });
      if (url.pathname.endsWith('/count_tokens')) return json(res, { input_tokens: 1 });
      if (url.pathname.endsWith('/models')) return json(res, { object: 'list', data: [], models: [] });
      res.statusCode = 404;
      res.end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    results,
    script(next) {
      calls = next;
      results.length = 0;
      offered.clear();
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function json(res: ServerResponse, body: unknown) {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

/** Server-sent events: [event name or undefined, data] each. */
function sse(res: ServerResponse, events: ReadonlyArray<readonly [string | undefined, unknown]>) {
  res.setHeader('content-type', 'text/event-stream');
  res.setHeader('cache-control', 'no-cache');
  for (const [event, data] of events) {
    res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  }
  res.end();
}
