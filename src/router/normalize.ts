/**
 * Request paths are normalised before routing, so every spelling of a path reaches the same route
 * and none reaches a route it should not:
 *
 *   - a run of slashes is one slash:            //a///b   → /a/b
 *   - dot segments are resolved (RFC 3986 §5.2.4), percent-encoded ones (%2e) included:
 *                                               /a/./b/../c → /a/c,  /a/%2e%2e/c → /c
 *     and a `..` that would climb above the root is refused
 *   - an encoded slash or backslash (%2f, %5c) or an encoded NUL (%00) is refused: it would let
 *     a param or wildcard carry a separator the router never saw (`/files/a%2f..%2f..%2fetc`)
 *
 * Refused paths answer 400. A path that needs none of this — nearly all of them — is returned
 * as it is after one scan, without allocating.
 */

const SLASH = 47;
const DOT = 46;
const PERCENT = 37;

/** The normalised path, or `null` when it must be refused. `path` starts with `/`. */
export function normalizePath(path: string): string | null {
  if (!needsWork(path)) return path;
  const segments: string[] = [];
  const parts = path.split('/');
  const last = parts.length - 1;
  for (let i = 1; i <= last; i++) {
    const raw = parts[i] as string;
    if (raw.includes('%')) {
      const lower = raw.toLowerCase();
      if (lower.includes('%2f') || lower.includes('%5c') || lower.includes('%00')) return null;
    }
    const segment = raw.includes('%') ? raw.replace(/%2e/gi, '.') : raw;
    if (segment === '' && i !== last) continue; // a doubled slash
    if (segment === '.') {
      if (i === last) segments.push('');
      continue;
    }
    if (segment === '..') {
      if (segments.length === 0) return null;
      segments.pop();
      if (i === last) segments.push('');
      continue;
    }
    segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

/** Whether the path has a doubled slash, a segment starting with a dot, or a suspicious escape. */
function needsWork(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === SLASH) {
      const next = path.charCodeAt(i + 1);
      if (next === SLASH || next === DOT || (next === PERCENT && isEncodedDot(path, i + 1))) return true;
    } else if (c === PERCENT) {
      const hi = path.charCodeAt(i + 1);
      const lo = path.charCodeAt(i + 2) | 0x20; // lowercase
      // %2f (slash), %5c (backslash), %00 (NUL); %2e is checked where a segment starts.
      if ((hi === 50 && lo === 102) || (hi === 53 && lo === 99) || (hi === 48 && lo === 48)) return true;
    }
  }
  return false;
}

function isEncodedDot(path: string, at: number): boolean {
  return path.charCodeAt(at + 1) === 50 && (path.charCodeAt(at + 2) | 0x20) === 101;
}
