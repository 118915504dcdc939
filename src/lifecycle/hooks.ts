/**
 * Running the app's onRequest and onResponse hooks, in registration order, on the pinned
 * worker. Each goes through the user-code boundary: what a hook throws, rejects with or answers
 * that cannot be sent becomes a 500 with an error id, and an async hook gets `handlerTimeout`
 * (504 past it), so no hook can hold a request, and its place in `maxInFlight`, forever.
 * Neither function here ever rejects.
 */

import { faultFromThrown, faultResponse, internalFault, isThenable, textOf, errorResponse } from '../app/boundary.ts';
import type { RequestInfo, ResponseDraft } from '../app/hooks.ts';
import { checkDraft, disposeBody, isBodyStream, isReply, NO_RESPONSE, toOutgoing, type Outgoing } from '../app/response.ts';
import { ErrorCode } from '../core/errors.ts';
import { M_TIMED_OUT } from '../executor/isolate-metrics.ts';
import type { Lifecycle } from './context.ts';

/** What `bounded` gives for a hook that did not settle in time. */
const HOOK_TIMED_OUT = Symbol('hook timed out');

/** The first answer an onRequest hook gives (a reply, or the fault it caused), or null: route it. */
export async function runRequestHooks(lifecycle: Lifecycle, info: RequestInfo): Promise<Outgoing | null> {
  for (const hook of lifecycle.onRequest) {
    let outgoing: Outgoing | null;
    try {
      const answer = await bounded(lifecycle, hook(info));
      outgoing = answer === HOOK_TIMED_OUT ? hookTimedOut(lifecycle, 'onRequest', info) : requestHookAnswer(lifecycle, answer, info);
    } catch (thrown) {
      outgoing = faultResponse(faultFromThrown(thrown, hookSite('onRequest', info), 'an onRequest hook threw or rejected', lifecycle, info.id));
    }
    if (outgoing !== null) return outgoing;
  }
  return null;
}

/** What the onResponse hooks make of `outgoing`, checked as a handler's answer is. */
export async function runResponseHooks(lifecycle: Lifecycle, info: RequestInfo, outgoing: Outgoing): Promise<Outgoing> {
  const draft = outgoing as ResponseDraft;
  // The body before the hooks: a hook that replaces it leaves nothing else pointing at it.
  const original = outgoing.body;
  let checked: Outgoing;
  try {
    checked = (await eachResponseHook(lifecycle, info, draft)) ? sendableDraft(lifecycle, draft, info) : hookTimedOut(lifecycle, 'onResponse', info);
  } catch (thrown) {
    checked = faultResponse(faultFromThrown(thrown, hookSite('onResponse', info), 'an onResponse hook threw or rejected', lifecycle, info.id));
  }
  // A stream that will not be sent is released: the handler's, when a hook replaced it with a
  // whole body (an open file, say), and the one the hooks left, when their draft became a fault.
  // A hook that replaces a stream with another stream may be reading from the first (compression
  // wraps it), so the first is then the hook's to finish or release. The draft is the app's to
  // change, so even reading its body may throw (a getter).
  if (checked.body !== original && !isBodyStream(checked.body)) disposeBody(original);
  try {
    const left: unknown = draft.body;
    if (checked.body !== left && left !== original) disposeBody(left);
  } catch {
    // Nothing readable to release.
  }
  return checked;
}

/** Runs the onResponse hooks in order; false when one did not settle in time. May throw. */
async function eachResponseHook(lifecycle: Lifecycle, info: RequestInfo, draft: ResponseDraft): Promise<boolean> {
  for (const hook of lifecycle.onResponse) if ((await bounded(lifecycle, hook(info, draft))) === HOOK_TIMED_OUT) return false;
  return true;
}

/** What the hooks left, checked as a handler's answer is; a 500 with an error id if it cannot be sent. */
function sendableDraft(lifecycle: Lifecycle, draft: ResponseDraft, info: RequestInfo): Outgoing {
  const sendable = checkDraft(draft);
  if (sendable.ok) return sendable.value;
  return faultResponse(
    internalFault(sendable.error.code, hookSite('onResponse', info), `an onResponse hook left a response that cannot be sent: ${sendable.error.message}`, lifecycle, info.id),
  );
}

/**
 * What an onRequest hook's answer means: null passes on (nothing, null or a boolean), a reply
 * answers, anything else is a bug answered 500.
 */
function requestHookAnswer(lifecycle: Lifecycle, answer: unknown, info: RequestInfo): Outgoing | null {
  if (answer === undefined || answer === null || typeof answer === 'boolean') return null;
  const where = hookSite('onRequest', info);
  if (!isReply(answer)) {
    return faultResponse(internalFault(ErrorCode.HANDLER, where, 'an onRequest hook returned something other than reply(...) or nothing', lifecycle, info.id));
  }
  const outgoing = toOutgoing(answer, NO_RESPONSE);
  if (outgoing.ok) return outgoing.value;
  disposeBody(answer.body);
  return faultResponse(internalFault(outgoing.error.code, where, `an onRequest hook answered what cannot be sent: ${outgoing.error.message}`, lifecycle, info.id));
}

/**
 * What a hook gave back, awaited for at most `handlerTimeout` ms when it is a promise. A
 * synchronous hook costs no timer. May throw (a `then` getter): call it in a `try`.
 */
function bounded(lifecycle: Lifecycle, value: unknown): unknown {
  const limit = lifecycle.handlerTimeout;
  if (limit === 0 || !isThenable(value)) return value;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(HOOK_TIMED_OUT), limit);
    Promise.resolve(value).then(
      (settled) => {
        clearTimeout(timer);
        resolve(settled);
      },
      (thrown: unknown) => {
        clearTimeout(timer);
        reject(thrown);
      },
    );
  });
}

/** The answer when a hook did not settle within `handlerTimeout`: 504, and the log says which. */
function hookTimedOut(lifecycle: Lifecycle, kind: HookKind, info: RequestInfo): Outgoing {
  lifecycle.log.error(`✗ ${hookSite(kind, info)} did not settle within ${lifecycle.handlerTimeout} ms (handlerTimeout): answered 504`);
  lifecycle.metrics.add(M_TIMED_OUT);
  return errorResponse(504, `An ${kind} hook did not answer within ${lifecycle.handlerTimeout} ms`);
}

type HookKind = 'onRequest' | 'onResponse';

/** `where` for the boundary when a hook fails: "an onRequest hook for GET /items". */
function hookSite(kind: HookKind, info: RequestInfo): string {
  // `info` is handed to the app's hooks, which may have written over its fields.
  return `an ${kind} hook for ${textOf(info, 'method')} ${textOf(info, 'path')}`;
}
