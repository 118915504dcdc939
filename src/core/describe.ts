/**
 * Describing what user code threw, for a log line, without ever throwing. It sits in core so that
 * every layer can use it (the protocol engines describe a streamed body that failed); the
 * boundary that turns failures into answers is app/boundary.ts.
 *
 * What was thrown may be anything — `undefined`, a symbol, an object whose `message` or `stack`
 * getter throws, a frozen or null-prototype object, an error from another realm, a revoked
 * Proxy — so it is never read with a plain property access outside a `try`, never converted
 * with `String()` or a template literal (a null-prototype object or a symbol makes those throw),
 * and a Proxy is never touched at all (every access would run the app's traps).
 */

import { inspect, types } from 'node:util';

/** The longest description logged for one thrown value; the rest is cut (a log line, not a dump). */
const MAX_DESCRIPTION = 16 * 1024;

const INSPECT_OPTIONS = {
  depth: 2,
  customInspect: false, // an app's [inspect.custom] is user code too
  getters: false, // so are getters
  showProxy: true, // shows a Proxy's target and handler without running a trap
  maxArrayLength: 20,
  maxStringLength: 1024,
  breakLength: Infinity,
} as const;

/**
 * A description of anything thrown or rejected, for the log: an error's stack (or its name and
 * message), a primitive as it reads in code, anything else inspected without running its
 * getters, traps or custom inspectors. Never throws.
 */
export function describeThrown(thrown: unknown): string {
  let text: string;
  try {
    text = describe(thrown);
  } catch {
    text = `a thrown ${typeof thrown} that cannot be described`;
  }
  return text.length > MAX_DESCRIPTION ? `${text.slice(0, MAX_DESCRIPTION)}… (cut)` : text;
}

function describe(thrown: unknown): string {
  switch (typeof thrown) {
    case 'string':
      return `a string was thrown: ${JSON.stringify(thrown)}`;
    case 'undefined':
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof thrown} was thrown: ${inspect(thrown)}`;
    case 'symbol':
      return `a symbol was thrown: ${inspect(thrown)}`;
    case 'function':
    case 'object':
      if (thrown === null) return 'null was thrown';
      if (types.isProxy(thrown)) return `a Proxy was thrown: ${inspectSafely(thrown)}`;
      // isNativeError is true for errors of any realm and never runs user code.
      if (types.isNativeError(thrown)) return describeError(thrown);
      return `a non-error ${typeof thrown} was thrown: ${inspectSafely(thrown)}`;
  }
}

/** An error's stack, or failing that its name and message, or failing that its inspection. */
function describeError(error: object): string {
  const stack = readString(error, 'stack');
  if (stack !== undefined) return stack;
  const message = readString(error, 'message');
  const name = readString(error, 'name') ?? 'Error';
  if (message !== undefined) return `${name}: ${message} (no stack)`;
  return `an error whose stack and message cannot be read: ${inspectSafely(error)}`;
}

/** `value[key]` when reading it neither throws nor gives something other than a string. */
function readString(value: object, key: string): string | undefined {
  try {
    const read: unknown = (value as Record<string, unknown>)[key];
    return typeof read === 'string' ? read : undefined;
  } catch {
    return undefined;
  }
}

/** A value as it reads in code, for a message (`12.5`, `'200'`, `[Object: null prototype] {}`), without running user code. Never throws. */
export function inspectSafely(value: unknown): string {
  try {
    return inspect(value, INSPECT_OPTIONS);
  } catch {
    return `(an uninspectable ${typeof value})`;
  }
}

/**
 * `Name: message` of an error, when it can be read, else the value's description: for errors
 * whose stack says nothing useful (Node's own TypeError for an invalid header value).
 */
export function messageOf(thrown: unknown): string {
  if (typeof thrown === 'object' && thrown !== null && !types.isProxy(thrown) && types.isNativeError(thrown)) {
    const message = readString(thrown, 'message');
    if (message !== undefined) return `${readString(thrown, 'name') ?? 'Error'}: ${message}`;
  }
  return describeThrown(thrown);
}
