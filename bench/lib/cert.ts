/**
 * The TLS scenario's certificate: a fresh self-signed ECDSA P-256 one for 127.0.0.1 in a temp
 * directory, made with openssl, or the tests' RSA fixture where openssl is missing or fails. The
 * load tool does not verify it; the key type decides the handshake's cost, which a keep-alive
 * benchmark pays once per connection.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchCertificate } from './scenarios.ts';

export function benchCertificate(): BenchCertificate & { remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'fasterapi-bench-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'];
  args.push('-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert);
  const made = spawnSync('openssl', args, { stdio: 'ignore' });
  if (made.status === 0) return { cert, key, description: 'self-signed ECDSA P-256 certificate', remove };
  remove();
  const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/tls/${name}`, import.meta.url));
  return {
    cert: fixture('cert.pem'),
    key: fixture('key.pem'),
    description: 'self-signed RSA 2048 certificate (test/fixtures/tls; openssl was not available)',
    remove: () => {},
  };
}
