/**
 * Real clients for the integration tests: node:http (HTTP/1.1), node:http2 (h2c and TLS h2) and
 * node:https (HTTP/1.1 over TLS), behind one `request()` shape so one suite runs on each.
 */

import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { after, before, describe } from 'node:test';

export const TLS_CERT = readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url), 'utf8');
export const TLS_KEY = readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url), 'utf8');

export interface SimpleResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  text(): string;
  json(): unknown;
}

export interface RequestInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
  /** Send the body without content-length (chunked on HTTP/1.1, plain DATA frames on HTTP/2). */
  readonly chunked?: boolean;
}

export interface Client {
  readonly name: string;
  request(path: string, init?: RequestInit): Promise<SimpleResponse>;
  close(): Promise<void>;
}

function simple(status: number, headers: SimpleResponse['headers'], body: Buffer): SimpleResponse {
  return { status, headers, body, text: () => body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) };
}

export type ClientKind = 'h1' | 'h2c' | 'h2-tls' | 'h1-tls';
export const CLIENT_KINDS: readonly ClientKind[] = ['h1', 'h2c', 'h2-tls', 'h1-tls'];

export function createClient(kind: ClientKind, port: number): Client {
  return kind === 'h1' || kind === 'h1-tls' ? http1Client(kind, port) : http2Client(kind, port);
}

function http1Client(kind: 'h1' | 'h1-tls', port: number): Client {
  const tls = kind === 'h1-tls';
  const agent = tls ? new https.Agent({ keepAlive: true, ca: TLS_CERT }) : new http.Agent({ keepAlive: true });
  return {
    name: kind,
    request(path, init = {}) {
      return new Promise((resolve, reject) => {
        const headers: Record<string, string> = { ...init.headers };
        if (init.body !== undefined && !init.chunked) headers['content-length'] = String(Buffer.byteLength(init.body));
        // Said outright: given the whole body at once, node:http would compute a content-length.
        if (init.body !== undefined && init.chunked === true) headers['transfer-encoding'] = 'chunked';
        const req = (tls ? https : http).request(
          { host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers, agent },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(simple(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(init.body);
      });
    },
    async close() {
      agent.destroy();
    },
  };
}

function http2Client(kind: 'h2c' | 'h2-tls', port: number): Client {
  const tls = kind === 'h2-tls';
  let session: http2.ClientHttp2Session | null = null;
  const connect = (): http2.ClientHttp2Session => {
    if (session !== null && !session.closed && !session.destroyed) return session;
    session = tls
      ? http2.connect(`https://127.0.0.1:${port}`, { ca: TLS_CERT })
      : http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    return session;
  };
  return {
    name: kind,
    request(path, init = {}) {
      return new Promise((resolve, reject) => {
        const headers: http2.OutgoingHttpHeaders = { ':method': init.method ?? 'GET', ':path': path, ...init.headers };
        if (init.body !== undefined && !init.chunked) headers['content-length'] = Buffer.byteLength(init.body);
        const stream = connect().request(headers, { endStream: init.body === undefined });
        let status = 0;
        let responseHeaders: SimpleResponse['headers'] = {};
        const chunks: Buffer[] = [];
        stream.on('response', (h) => {
          status = Number(h[':status']);
          responseHeaders = { ...h };
          delete responseHeaders[':status'];
        });
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => resolve(simple(status, responseHeaders, Buffer.concat(chunks))));
        stream.on('error', reject);
        if (init.body !== undefined) stream.end(init.body);
      });
    },
    async close() {
      const s = session;
      session = null;
      if (s === null || s.destroyed) return;
      // Node's client session can wait forever on close() when one of its streams was reset while
      // it still had request body queued (the 413 tests do that on purpose), so a session that
      // has not closed shortly after is destroyed.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          s.destroy();
          resolve();
        }, 500);
        s.close(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/**
 * One `describe` per client kind (`over h1`, `over h2c`, …), each with a client to the server on
 * `port()` made before its tests and closed after them; `client()` is that suite's client.
 */
export function overEachClient(kinds: readonly ClientKind[], port: () => number, suite: (client: () => Client, kind: ClientKind) => void): void {
  for (const kind of kinds) {
    describe(`over ${kind}`, () => {
      let current: Client | undefined;
      before(() => {
        current = createClient(kind, port());
      });
      after(() => current?.close());
      suite(() => {
        if (current === undefined) throw new Error(`the ${kind} client is made before the suite's tests`);
        return current;
      }, kind);
    });
  }
}
