// A loopback HTTP front for an S3-compatible server that can refuse writes, as a bucket does to
// credentials that may only read (or over its quota): while closed, PUT, POST and DELETE get
// 403 AccessDenied; reads (HEAD, GET) always pass through, untouched. It can also close itself
// after a number of writes, to fail a long run of them partway.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3WriteGate {
  /** The endpoint to give the S3 client in place of the server's. */
  endpoint: string;
  refuseWrites(refuse: boolean): void;
  /** Lets `writes` more writes through, then refuses the rest (as a bucket filling up would). */
  refuseWritesAfter(writes: number): void;
  close(): Promise<void>;
}

const DENIED = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`;

export async function startS3WriteGate(target: string): Promise<S3WriteGate> {
  const upstream = new URL(target);
  let refusing = false;
  let allowed = Infinity; // writes let through before refusing
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const write = req.method !== 'GET' && req.method !== 'HEAD';
    if (write && !refusing && --allowed < 0) refusing = true;
    if (refusing && write) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' }).end(DENIED);
      return;
    }
    // Headers go as they came: the client signed them with this front's Host.
    const forward = request(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    refuseWrites(refuse) {
      refusing = refuse;
      allowed = Infinity;
    },
    refuseWritesAfter(writes) {
      refusing = false;
      allowed = writes;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
