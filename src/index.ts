/**
 * FasterAPI for Node.js: HTTP/2 and HTTP/1.1 on several V8 isolates in one process.
 *
 *   import { App } from 'fasterapi';
 *   const app = new App();
 *   app.get('/', () => 'Hello');
 *   export default app;          // then: fasterapi serve app.ts
 */

export { App, type AppOptions, type Handler, type HandlerResult, type RequestFor, type RouteInfo, type RouteOptions, type StaticOptions } from './app/app.ts';
export type { OnErrorHook, OnRequestHook, OnResponseHook, Plugin, RequestInfo, ResponseDraft } from './app/hooks.ts';
export type { RunOptions, TaskFunction, TaskOptions } from './app/task.ts';
export type { InferOutput, RouteSchema, StandardSchemaV1, ValidationIssue } from './app/schema.ts';
export { formatEvent, sse, type ServerSentEvent, type SseOptions } from './app/sse.ts';
export { compression, type CompressionOptions, type Encoding } from './plugins/compression.ts';
export { cors, type CorsOptions } from './plugins/cors.ts';
export {
  clearCookie,
  MAX_ATTRIBUTE_LENGTH,
  MAX_COOKIE_LENGTH,
  parseCookies,
  serializeCookie,
  setCookie,
  type ClearCookieOptions,
  type CookieOptions,
  type CookieTarget,
} from './app/cookies.ts';
export { MIN_KEY_BYTES, signedCookies, type SignedCookies, type SignedCookiesOptions } from './app/signed-cookies.ts';
export { Form, type FormFields } from './app/form.ts';
export { FORM_DEFAULTS, type FormLimits, type FormOptions, type RouteFormOptions } from './app/form-options.ts';
export { UploadedFile } from './app/uploaded-file.ts';
export { Request, type IncomingHeaders, type IsolateInfo, type Query } from './app/request.ts';
export { reply, Response, type BodyStream, type HeaderValue, type OutgoingHeaders, type Reply, type ReplyInit } from './app/response.ts';
export { DEFAULTS, type ListenerMode, type ServeOptions } from './config/options.ts';
export { ErrorCode, FasterApiError, HttpError, isFasterApiError, isHttpError } from './core/errors.ts';
export type { LogLevel } from './core/log.ts';
export { andThen, err, fromPromise, fromThrowable, isErr, isOk, map, ok, unwrapOr, type Err, type Ok, type Result } from './core/result.ts';
export { serve, type Server } from './server/serve.ts';
// Also installs the runtime behind `app.request()` (see app/in-process.ts).
export { inProcess, type InProcessClient, type InProcessOptions } from './server/in-process.ts';
export type { ServerWebSocket, SocketData } from './app/websocket/socket.ts';
export type { WebSocketHandlers, WebSocketOptions } from './app/websocket/route.ts';
export type { WorkerEvent } from './server/supervisor.ts';
