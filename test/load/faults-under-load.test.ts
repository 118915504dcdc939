/**
 * Killing pinned workers and pooled isolates at random during a load run: the server stays up,
 * only requests in flight on the killed isolate fail (503 where a response can still be sent),
 * everything else succeeds, and the counts add up.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { CliProcess } from '../helpers/cli.ts';
import { startLoad, totalAccounted } from '../helpers/load-client.ts';

/** One request on a fresh connection; resolves with its status, or 0 when the connection died. */
function once(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
}

test('random kills of pinned workers and pooled isolates during load: only their requests in flight fail', async (t) => {
  const cli = new CliProcess([
    'serve', 'test/fixtures/apps/load.ts', '--port', '0', '--pinned', '2', '--pooled', '32', '--pooled-isolates', '2',
    '--spill-loop-delay', '60s',
  ]);
  try {
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    let n = 0;
    const load = startLoad({
      port: Number(port),
      h1Connections: 24,
      h2Sessions: 4,
      h2Streams: 6,
      path: () => (n++ % 3 === 0 ? '/pooled-work' : n % 3 === 1 ? '/work' : '/hello'),
    });
    await delay(500);
    // Kill one isolate every 400 ms, pinned or pooled at random (a fixed seed keeps runs alike).
    let seed = 7;
    const kills: Array<{ at: number; kind: string; status: number }> = [];
    for (let i = 0; i < 12; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const kind = (seed >> 16) % 2 === 0 ? 'pinned' : 'pooled';
      const at = performance.now() - load.began;
      kills.push({ at, kind, status: await once(Number(port), `/kill-${kind}`) });
      await delay(400);
    }
    await delay(1_500); // the last replacements come up
    const counts = await load.stop();
    const pinnedKills = kills.filter((k) => k.kind === 'pinned').length;
    t.diagnostic(
      `${kills.length} kills (${pinnedKills} pinned, ${kills.length - pinnedKills} pooled); sent ${counts.sent}; answered ${JSON.stringify(counts.byStatus)}; ` +
        `unanswered ${counts.unanswered}, truncated ${counts.truncated}, reset ${counts.reset}, refused ${counts.refused}, timeout ${counts.timeout}`,
    );
    assert.equal(totalAccounted(counts), counts.sent, 'every request has an outcome');
    assert.equal(counts.mismatched, 0, 'every response belongs to its request');
    assert.equal(counts.timeout, 0, 'nothing hung');
    assert.deepEqual(
      Object.keys(counts.byStatus).filter((s) => s !== '200' && s !== '503'),
      [],
      'answers are 200, or 503 for tasks on a pooled isolate that died',
    );
    // A killed pooled isolate's own request is answered 503; a killed pinned worker's is cut.
    for (const kill of kills) assert.equal(kill.status, kill.kind === 'pooled' ? 503 : 0, JSON.stringify(kill));
    // Every failure happened as an isolate died, not at some other time.
    const stray = counts.failureTimes.filter((time) => !kills.some((k) => time >= k.at - 50 && time <= k.at + 2_000));
    assert.deepEqual(stray, [], 'no failure away from a kill');
    // At most every request in flight at each kill: 24 + 4 × 6 connections' worth.
    const failures = counts.failureTimes.length;
    assert.ok(failures <= kills.length * 48, `${failures} failures for ${kills.length} kills`);
    assert.ok(counts.byStatus[200]! > 10 * failures, 'nearly everything succeeded');
    // Still serving, on every kind of isolate.
    assert.equal(await once(Number(port), '/hello'), 200);
    assert.equal(await once(Number(port), '/pooled-work'), 200);
  } finally {
    cli.kill('SIGKILL');
  }
});
