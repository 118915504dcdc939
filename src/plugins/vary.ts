/** The `Vary` header, shared by the plugins that make a response depend on a request header. */

/** Adds `name` to the response's `Vary` list unless it is there already (or `Vary: *`). */
export function addVary(headers: Record<string, string | readonly string[]>, name: string): void {
  const current = headers['vary'];
  const list = current === undefined ? '' : typeof current === 'string' ? current : current.join(', ');
  const names = list.split(',').map((item) => item.trim().toLowerCase());
  if (names.includes('*') || names.includes(name.toLowerCase())) return;
  headers['vary'] = list.trim() === '' ? name : `${list}, ${name}`;
}
