/**
 * /metrics on the admin listener: after a known load — inline and pooled, over HTTP/1.1 and
 * h2c, with 404s, 405s, an HttpError, timeouts and shed requests — the scraped counters equal what
 * was sent, label set by label set, the histograms' counts equal the request counts, counts
 * survive the replacement of a pinned worker, and `promtool check metrics` accepts the page.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { BroadcastChannel } from 'node:worker_threads';
import type { Server } from '../../src/index.ts';
import { createClient, type Client } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';

const APP = new URL('../fixtures/apps/metrics.ts', import.meta.url);

let server: Server;
let h1: Client;
let h2: Client;

before(async () => {
  server = await startTestServer({ adminPort: 0, pinnedWorkers: 2, pooledWorkers: 1, pooledIsolates: 1, poolQueueLimit: 0 }, APP);
  h1 = createClient('h1', server.port);
  h2 = createClient('h2c', server.port);
});

after(async () => {
  await h1.close();
  await h2.close();
  await server.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${server.adminUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return res.text();
}

/** Every sample of the page: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const key = line.slice(0, space);
    assert.ok(!map.has(key), `the series ${key} appears twice`);
    map.set(key, Number(line.slice(space + 1)));
  }
  return map;
}

function requestsTotal(page: Map<string, number>, method: string, route: string, status: number): number {
  return page.get(`http_requests_total{method="${method}",route="${route}",status="${status}"}`) ?? 0;
}

/** Sends `count` requests, alternating HTTP/1.1 and h2c, and checks each answer's status. */
async function send(count: number, path: string, status: number, method = 'GET'): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await (i % 2 === 0 ? h1 : h2).request(path, { method });
    assert.equal(res.status, status, `${method} ${path}`);
  }
}

test('after a known load, every label set counts exactly what was sent, and the histograms agree', async () => {
  await send(37, '/hello', 200);
  await send(3, '/hello', 200, 'POST');
  await send(13, '/pooled', 200);
  await send(5, '/items/7', 200);
  await send(4, '/nowhere', 404);
  await send(2, '/hello', 405, 'DELETE');
  await send(3, '/teapot', 418);
  await send(2, '/slow', 504);
  // Shed: the pool's one slot is held and nothing may queue, so three more are refused at once.
  const channel = new BroadcastChannel('fasterapi-test:metrics-started');
  const started = new Promise<void>((resolve) => (channel.onmessage = () => resolve()));
  const holding = h1.request('/pooled-slow?ms=400');
  await started;
  channel.close();
  await send(3, '/pooled-slow?ms=0', 503);
  assert.equal((await holding).status, 200);

  const page = samples(await scrape());
  const expected: Array<[string, string, number, number]> = [
    ['GET', '/hello', 200, 37],
    ['POST', '/hello', 200, 3],
    ['GET', '/pooled', 200, 13],
    ['GET', '/items/:id', 200, 5],
    ['GET', '(unmatched)', 404, 4],
    ['DELETE', '(unmatched)', 405, 2],
    ['GET', '/teapot', 418, 3],
    ['GET', '/slow', 504, 2],
    ['GET', '/pooled-slow', 503, 3],
    ['GET', '/pooled-slow', 200, 1],
  ];
  for (const [method, route, status, count] of expected) assert.equal(requestsTotal(page, method, route, status), count, `${method} ${route} ${status}`);
  const total = [...page].filter(([key]) => key.startsWith('http_requests_total{')).reduce((sum, [, n]) => sum + n, 0);
  assert.equal(total, 73, 'a request was counted that was not sent, or twice');

  // Histogram counts per route: what the route answered, whatever the status.
  const histogramCount = (route: string): number | undefined => page.get(`http_request_duration_seconds_count{route="${route}"}`);
  assert.equal(histogramCount('/hello'), 40);
  assert.equal(histogramCount('/pooled'), 13);
  assert.equal(histogramCount('/pooled-slow'), 4);
  assert.equal(histogramCount('/slow'), 2);
  assert.equal(histogramCount('(unmatched)'), 6);
  assert.equal(page.get('http_request_duration_seconds_bucket{route="/hello",le="+Inf"}'), 40);
  // The 504s waited for their 100 ms timeout: in the 0.25 s bucket, not in the 0.05 s one.
  assert.equal(page.get('http_request_duration_seconds_bucket{route="/slow",le="0.05"}'), 0);
  assert.equal(page.get('http_request_duration_seconds_bucket{route="/slow",le="0.25"}'), 2);
  // Each waited about its 100 ms (a timer may fire a fraction of a ms early by the clock the server reads).
  assert.ok((page.get('http_request_duration_seconds_sum{route="/slow"}') ?? 0) >= 0.19);
  // Buckets are cumulative.
  let previous = 0;
  for (const le of ['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']) {
    const n = page.get(`http_request_duration_seconds_bucket{route="/hello",le="${le}"}`) ?? -1;
    assert.ok(n >= previous, `bucket ${le} holds fewer than the one below it`);
    previous = n;
  }

  assert.equal(page.get('fasterapi_requests_timed_out_total'), 2);
  assert.equal(page.get('fasterapi_requests_shed_total'), 3);
  assert.equal(page.get('http_requests_in_flight'), 0);
  assert.equal(page.get('fasterapi_open_connections{protocol="h2"}'), 1, 'the one h2c session');
  assert.ok((page.get('fasterapi_open_connections{protocol="http/1.1"}') ?? 0) >= 1);
  assert.equal(page.get('fasterapi_requests_unlabelled_total'), 0);
  for (const isolate of ['kind="pinned",index="0"', 'kind="pinned",index="1"', 'kind="pooled",index="0"']) {
    const utilisation = page.get(`fasterapi_event_loop_utilization{${isolate}}`);
    assert.ok(utilisation !== undefined && utilisation >= 0 && utilisation <= 1, `${isolate}: ${utilisation}`);
    assert.ok((page.get(`fasterapi_isolate_heap_used_bytes{${isolate}}`) ?? 0) > 1_000_000, isolate);
    assert.ok(page.has(`fasterapi_event_loop_delay_seconds{${isolate},stat="p99"}`), isolate);
  }
  assert.ok((page.get('process_resident_memory_bytes') ?? 0) > 10_000_000);
});

test('counts survive the replacement of a pinned worker, and the restart is counted', async () => {
  const before = samples(await scrape());
  const hello = requestsTotal(before, 'GET', '/hello', 200);
  // Let both workers count some more, then kill one (whichever takes the /exit).
  await send(10, '/hello', 200);
  const killer = createClient('h1', server.port);
  await killer.request('/exit').catch(() => {});
  await killer.close();
  for (let i = 0; i < 200 && server.restarts.pinned === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  while (server.workerThreadIds.length < 2) await new Promise((resolve) => setTimeout(resolve, 25));
  const fresh = createClient('h1', server.port);
  for (let i = 0; i < 6; i++) assert.equal((await fresh.request('/hello')).status, 200);
  await fresh.close();
  const page = samples(await scrape());
  assert.equal(requestsTotal(page, 'GET', '/hello', 200), hello + 16);
  assert.equal(page.get('fasterapi_isolate_restarts_total{kind="pinned"}'), 1);
  assert.equal(page.get('fasterapi_isolate_restarts_total{kind="pooled"}'), 0);
});

test('promtool check metrics accepts the page', (t) => {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (found.error !== undefined) {
    t.skip('promtool is not installed (Debian package prometheus; .ci/run installs it)');
    return;
  }
  return scrape().then((text) => {
    const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(checked.status, 0, `promtool: ${checked.stdout}${checked.stderr}`);
    assert.equal(checked.stdout + checked.stderr, '', 'promtool had remarks');
  });
});
