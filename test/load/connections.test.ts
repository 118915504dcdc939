/**
 * 10,000 concurrent keep-alive connections, HTTP/1.1 and h2c mixed, held with requests flowing:
 * zero errors, and the server's memory bounded.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { CliProcess } from '../helpers/cli.ts';
import { startLoad, totalAccounted } from '../helpers/load-client.ts';

const H1 = 8_000;
const H2 = 2_000;
const HOLD_MS = 10_000;

/** This process's soft limit on open files (a child shell reports the limit it inherits). */
function fileLimit(): number {
  return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
}

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

const limit = fileLimit();
const needed = H1 + H2 + 200;
const skip =
  limit < needed
    ? `the open-file limit is ${limit}, and ${(H1 + H2).toLocaleString('en')} connections need about ${needed}: ` +
      'run with a higher limit (npm run test:load raises it to the hard limit; as root: ulimit -n 65536)'
    : false;
if (skip !== false) console.log(`# 10k-connection test skipped: ${skip}`);

test(`${(H1 + H2).toLocaleString('en')} concurrent connections (${H1} HTTP/1.1 + ${H2} h2c) with requests flowing`, { skip }, async (t) => {
  const cli = new CliProcess(['serve', 'test/fixtures/apps/load.ts', '--port', '0', '--pinned', '2']);
  try {
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    const pid = cli.child.pid as number;
    const idleRss = rssMiB(pid);
    // Each connection sends a request every 2 s: about 5,000 requests/s in all.
    const load = startLoad({
      port: Number(port),
      h1Connections: H1,
      h2Sessions: H2,
      h2Streams: 1,
      pauseMs: 2_000,
      path: () => '/hello',
      rampBatch: 500,
      rampMs: 100,
    });
    let peak = idleRss;
    const deadline = Date.now() + 30_000;
    while (load.open() < H1 + H2 && Date.now() < deadline) {
      await delay(200);
      peak = Math.max(peak, rssMiB(pid));
    }
    const opened = load.open();
    const holdUntil = Date.now() + HOLD_MS;
    while (Date.now() < holdUntil) {
      await delay(250);
      peak = Math.max(peak, rssMiB(pid));
    }
    const stillOpen = load.open();
    const counts = await load.stop();
    await delay(500);
    const afterRss = rssMiB(pid);
    t.diagnostic(
      `${opened} connections open, ${stillOpen} after ${HOLD_MS / 1000} s; sent ${counts.sent}; answered ${JSON.stringify(counts.byStatus)}; ` +
        `unanswered ${counts.unanswered}, truncated ${counts.truncated}, reset ${counts.reset}, refused ${counts.refused}, timeout ${counts.timeout}; ` +
        `connections opened ${counts.connectionsOpened}, refused ${counts.connectionsRefused}; ` +
        `server RSS idle ${idleRss.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, after ${afterRss.toFixed(0)} MiB`,
    );
    assert.equal(opened, H1 + H2, 'every connection opened');
    assert.equal(stillOpen, H1 + H2, 'every connection stayed open');
    assert.equal(counts.connectionsOpened, H1 + H2, 'no connection had to be reopened');
    assert.equal(counts.connectionsRefused, 0);
    assert.equal(totalAccounted(counts), counts.sent);
    assert.equal(counts.mismatched, 0, 'every response belongs to its request');
    assert.deepEqual(Object.keys(counts.byStatus), ['200']);
    assert.equal(counts.byStatus[200], counts.sent, 'zero errors');
    assert.ok(counts.sent > (H1 + H2) * 3, 'requests flowed on every connection');
    assert.ok(peak - idleRss < 1_024, `memory bounded: ${(peak - idleRss).toFixed(0)} MiB for ${H1 + H2} connections`);
  } finally {
    cli.kill('SIGKILL');
  }
});
