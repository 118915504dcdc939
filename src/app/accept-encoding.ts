/**
 * Reading `Accept-Encoding` (RFC 9110 §12.5.3), for the compression plugin and the precompressed
 * files of static routes alike.
 */

/**
 * The encoding of `offered` the client prefers (highest q, then the earlier in `offered` on a
 * tie), or null for identity. `q=0` refuses an encoding, also one `*` would accept. A missing
 * header means any encoding is fine (RFC 9110 §12.5.3), but clients that want one say so, and one
 * that sends nothing may not decode: none is chosen. `x-gzip` counts as `gzip`.
 */
export function preferredEncoding<E extends string>(header: string | undefined, offered: readonly E[]): E | null {
  if (header === undefined || header.trim() === '') return null;
  const weights = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.split(';');
    let q = 1;
    for (const param of params) {
      const [key, value] = param.split('=').map((s) => s.trim());
      if (key?.toLowerCase() === 'q') q = Number(value);
    }
    if (!Number.isFinite(q)) continue;
    weights.set(name.trim().toLowerCase(), Math.min(Math.max(q, 0), 1));
  }
  let best: E | null = null;
  let bestQ = 0;
  for (const encoding of offered) {
    const q = weights.get(encoding) ?? (encoding === 'gzip' ? weights.get('x-gzip') : undefined) ?? weights.get('*') ?? 0;
    if (q > bestQ) {
      best = encoding;
      bestQ = q;
    }
  }
  return best;
}
