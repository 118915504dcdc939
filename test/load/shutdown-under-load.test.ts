/**
 * SIGTERM in the middle of a load run: every request the server took gets a complete response,
 * no HTTP/2 stream it took is reset, connections are refused only once the listeners are closed,
 * and the process exits 0 within the grace period. The counts prove it.
 */

import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { CliProcess } from '../helpers/cli.ts';
import { startLoad, totalAccounted } from '../helpers/load-client.ts';

test('SIGTERM during load: nothing the server took is lost', async (t) => {
  // Spill-over is off (a 60 s threshold) so that no request is shed: every answer must be a 200.
  const cli = new CliProcess([
    'serve', 'test/fixtures/apps/load.ts', '--port', '0', '--pinned', '2', '--pooled', '32', '--pooled-isolates', '1',
    '--grace-period', '8s', '--spill-loop-delay', '60s',
  ]);
  try {
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    let n = 0;
    const load = startLoad({
      port: Number(port),
      h1Connections: 30,
      h2Sessions: 6,
      h2Streams: 6,
      path: () => (n++ % 3 === 0 ? '/pooled-work' : n % 3 === 1 ? '/work' : '/hello'),
    });
    await delay(2_000);
    const before = load.counts.sent;
    const answeredBefore = Object.values(load.counts.byStatus).reduce((a, b) => a + b, 0);
    const signalled = performance.now();
    cli.kill('SIGTERM');
    const finished = await cli.finished;
    const exitedAfter = performance.now() - signalled;
    // Keep the clients trying for a moment after the exit: every attempt must now be refused.
    await delay(300);
    const counts = await load.stop();
    t.diagnostic(
      `sent ${counts.sent} (${before} before SIGTERM); answered ${JSON.stringify(counts.byStatus)}; ` +
        `unanswered ${counts.unanswered}, refused ${counts.refused}, truncated ${counts.truncated}, reset ${counts.reset}, ` +
        `timeout ${counts.timeout}; connections opened ${counts.connectionsOpened}, refused ${counts.connectionsRefused}; ` +
        `exit ${finished.code} after ${exitedAfter.toFixed(0)} ms`,
    );
    assert.equal(finished.code, 0);
    // The server's own count of the requests its workers received, all of them answered.
    const drained = /Drained: (\d+) request\(s\) received by the serving workers since they started, (\d+) unanswered, (\d+) connection\(s\) cut/.exec(finished.stdout);
    assert.ok(drained !== null, finished.stdout.slice(-500));
    const answered = Object.values(counts.byStatus).reduce((a, b) => a + b, 0);
    t.diagnostic(`server: ${drained[1]} received, ${drained[2]} unanswered, ${drained[3]} cut; client: ${answered} answered`);
    assert.equal(Number(drained[1]), answered, 'every request a worker received was answered, and the client got each answer');
    assert.equal(drained[2], '0');
    assert.equal(drained[3], '0');
    assert.ok(exitedAfter < 8_000, 'within the grace period');
    assert.doesNotMatch(finished.stderr, /cut at the end of the grace period/, 'no connection was cut');
    assert.equal(totalAccounted(counts), counts.sent, 'every request has an outcome');
    assert.equal(counts.mismatched, 0, 'every response belongs to its request');
    assert.deepEqual(Object.keys(counts.byStatus), ['200'], 'only complete 200s were answered');
    assert.ok(counts.byStatus[200]! > answeredBefore, 'requests in flight at SIGTERM were answered while the server drained');
    assert.equal(counts.truncated, 0, 'no response was cut short');
    assert.equal(counts.reset, 0, 'no HTTP/2 stream the server took was reset');
    assert.equal(counts.timeout, 0, 'nothing hung');
    assert.ok(counts.connectionsRefused > 0, 'new connections were refused once the listeners closed');
  } finally {
    cli.kill('SIGKILL');
  }
});
