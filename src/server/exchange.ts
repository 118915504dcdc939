/**
 * One request, from either protocol engine to a response: route, check limits, build the
 * `Request`, run the handler inline, send. This is the per-request hot path of a pinned worker:
 * no per-request allocation beyond the request and response objects, no promise for a
 * synchronous handler.
 */

import type http from 'node:http';
import type http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { AppTable, Route } from '../app/app.ts';
import { errorResponse, faultResponse, invoke, type Execution, type Fault } from '../app/dispatch.ts';
import type { HttpError } from '../core/errors.ts';
import { bodyTooLarge, Request, type IncomingHeaders, type IsolateInfo } from '../app/request.ts';
import { Response, type Outgoing } from '../app/response.ts';
import type { Logger } from '../core/log.ts';
import { http1Adapter } from '../protocol/http1.ts';
import { http2Adapter } from '../protocol/http2.ts';
import type { ProtocolAdapter } from '../protocol/adapter.ts';

export interface ExchangeContext {
  readonly table: AppTable;
  readonly bodyLimit: number;
  readonly isolate: IsolateInfo;
  readonly log: Logger;
  /** Requests whose response has not been sent yet. */
  inFlight: number;
  /** Set during shutdown: HTTP/1.1 responses then close their connection. */
  draining: boolean;
}

export function createExchange(ctx: ExchangeContext): {
  onHttp1Request: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  onHttp2Stream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;
} {
  function finish<N>(adapter: ProtocolAdapter<N>, native: N, outgoing: Outgoing, head: boolean): void {
    ctx.inFlight--;
    // After a 413 the rest of the body is not read: the connection (HTTP/1.1) or the stream's
    // request side (HTTP/2) is closed instead of draining an oversized upload.
    const closeAfter = ctx.draining || outgoing.status === 413;
    try {
      adapter.send(native, outgoing, head, closeAfter);
    } catch (thrown) {
      // The client went away between the check and the write; nothing is left to answer.
      ctx.log.debug(`response on ${adapter.name} not sent: ${(thrown as Error).message}`);
    }
  }

  function settle<N>(adapter: ProtocolAdapter<N>, native: N, result: Execution, head: boolean): void {
    finish(adapter, native, result.ok ? result.value : faultResponse(result.error), head);
  }

  function handle<N>(
    adapter: ProtocolAdapter<N>,
    native: N,
    method: string,
    target: string,
    headers: IncomingHeaders,
    hasPseudoHeaders: boolean,
    body: Readable,
  ): void {
    ctx.inFlight++;
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const head = method === 'HEAD';
    const match = ctx.table.router.find(method, path);

    if (match.kind !== 'found') {
      const outgoing =
        match.kind === 'not-found'
          ? errorResponse(404, 'Not Found')
          : match.kind === 'bad-request'
            ? errorResponse(400, `Bad Request: ${match.reason}`)
            : method === 'OPTIONS'
              ? { status: 204, headers: { allow: match.allow }, body: null }
              : errorResponse(405, 'Method Not Allowed', { headers: { allow: match.allow } });
      finish(adapter, native, outgoing, head);
      return;
    }

    const declared = headers['content-length'];
    if (declared !== undefined && Number(declared) > ctx.bodyLimit) {
      finish(adapter, native, faultResponse(httpFault(bodyTooLarge(ctx.bodyLimit))), head);
      return;
    }

    const route: Route = match.value;
    const req = new Request(
      method,
      path,
      q === -1 ? '' : target.slice(q + 1),
      match.params,
      headers,
      hasPseudoHeaders,
      body,
      ctx.bodyLimit,
      ctx.isolate,
    );
    const res = new Response();
    const result = invoke(route, req, res, ctx.log);
    if (result instanceof Promise) {
      result.then((settled) => settle(adapter, native, settled, head));
    } else {
      settle(adapter, native, result, head);
    }
  }

  return {
    onHttp1Request(req, res) {
      handle(http1Adapter, res, req.method ?? 'GET', requestTarget(req.url ?? '/'), req.headers, false, req);
    },
    onHttp2Stream(stream, headers) {
      handle(
        http2Adapter,
        stream,
        (headers[':method'] as string | undefined) ?? 'GET',
        (headers[':path'] as string | undefined) ?? '/',
        headers,
        true,
        stream,
      );
    },
  };
}

/** An absolute-form target (`GET http://host/path`) is routed by its path. */
function requestTarget(url: string): string {
  if (url.charCodeAt(0) === 47 /* '/' */) return url;
  const scheme = url.indexOf('://');
  if (scheme === -1) return url;
  const slash = url.indexOf('/', scheme + 3);
  return slash === -1 ? '/' : url.slice(slash);
}

function httpFault(error: HttpError): Fault {
  return { kind: 'http', status: error.status, detail: error.message, code: error.code, headers: undefined };
}
