/**
 * A rolling restart behind a real load balancer, under load: two `fasterapi serve` processes
 * behind HAProxy, which health-checks their /readyz, and HTTP/1.1 keep-alive clients sending
 * through HAProxy the whole time. Each instance in turn gets SIGTERM, exits 0 and comes back on
 * the same ports. Not one request may fail, and HAProxy must never have needed to retry one:
 * a retry means the server refused or dropped a request it was still being sent, which HAProxy
 * can hide for a GET but not for a POST. The HAProxy config here is the one in docs/deploy.md.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { CliProcess } from '../helpers/cli.ts';

const APP = 'test/fixtures/apps/upstream.ts';
/** HAProxy's health-check interval and how many checks in a row mark a server down or up. */
const CHECK = { interMs: 200, fall: 2, rise: 2 } as const;
/**
 * How long an instance keeps serving after SIGTERM with /readyz at 503. HAProxy stops sending
 * after `fall` failed checks, about fall × inter = 400 ms; 2 s leaves room for a busy machine.
 */
const SHUTDOWN_DELAY = '2s';
/** Client connections, each sending its next request as soon as the last is answered. */
const CONNECTIONS = 6;

/** A request in HAProxy's httplog format: client [date] frontend backend/server timers status bytes - - flags conns queue "request". */
const LOG_LINE = /^\S+ \[[^\]]+\] \S+ \S+\/\S+ \S+ -?\d+ /;

/** `haproxy` on the PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
function findHaproxy(): string | null {
  const onPath = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' });
  if (onPath.status === 0 && onPath.stdout.trim() !== '') return onPath.stdout.trim();
  return ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((candidate) => existsSync(candidate)) ?? null;
}
const HAPROXY = findHaproxy();

/** Ports that are free now; picked up front because a restarted instance must come back on the same ones. */
async function freePorts(count: number): Promise<number[]> {
  const holders = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve) => {
      const server = net.createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = holders.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(holders.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** The tested backend: see docs/deploy.md for what each line is for. */
function haproxyConfig(o: { socket: string; port: number; servers: ReadonlyArray<{ name: string; port: number; adminPort: number }> }): string {
  return `global
  maxconn 512
  stats socket ${o.socket} mode 600 level admin
  log stderr format raw local0

defaults
  mode http
  log global
  option httplog
  option dontlog-normal
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 10s

frontend web
  bind 127.0.0.1:${o.port}
  default_backend app

backend app
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  http-reuse safe
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response
  http-request disable-l7-retry unless METH_GET
  default-server inter ${CHECK.interMs}ms fall ${CHECK.fall} rise ${CHECK.rise}
${o.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check port ${s.adminPort}`).join('\n')}
`;
}

/**
 * A configuration's directives from `defaults` on, without comments, addresses (`bind`, `server`)
 * or indentation: what docs/deploy.md and this test must agree on.
 */
function directives(config: string): string[] {
  const lines = config.split('\n').map((line) => line.replace(/#.*/, '').trim()).filter((line) => line !== '');
  return lines.slice(lines.indexOf('defaults')).filter((line) => !/^(bind|server) /.test(line));
}

/** One command on HAProxy's stats socket; resolves with its whole answer. */
function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const connection = net.connect(socket, () => connection.end(`${command}\n`));
    connection.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    connection.on('end', () => resolve(answer));
    connection.on('error', reject);
  });
}

/** `show stat` as one record per proxy or server, keyed "<proxy>/<server>" (e.g. "app/s1", "app/BACKEND"). */
async function haproxyStats(socket: string): Promise<Map<string, Record<string, string>>> {
  const [header, ...rows] = (await haproxyCommand(socket, 'show stat')).trim().split('\n');
  const columns = header!.replace(/^# /, '').split(',');
  const stats = new Map<string, Record<string, string>>();
  for (const row of rows) {
    const values = row.split(',');
    const record = Object.fromEntries(columns.map((column, i) => [column, values[i] ?? '']));
    stats.set(`${record['pxname']}/${record['svname']}`, record);
  }
  return stats;
}

async function until(what: string, withinMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${withinMs} ms`);
    await delay(25);
  }
}

function readyz(adminPort: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/readyz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
}

interface Tally {
  sent: number;
  ok: number;
  /** Every request that did not get its own 200: what happened, and when (ms since the load began). */
  readonly failures: Array<{ at: number; what: string }>;
  /** 200s by the pid that served them. */
  readonly byPid: Map<number, number>;
}

/**
 * HTTP/1.1 keep-alive clients in closed loops (one connection each), alternating GET /work and
 * POST /echo; a request counts as ok only with a 200 whose body is its own.
 */
interface Load {
  readonly tally: Tally;
  /** `performance.now()` when the load started. */
  readonly began: number;
  /** Stops sending, and resolves once every request in flight has its outcome. */
  stop(): Promise<void>;
}

function startLoad(port: number): Load {
  const tally: Tally = { sent: 0, ok: 0, failures: [], byPid: new Map() };
  const began = performance.now();
  let running = true;
  let nextId = 1;
  const loops: Array<Promise<void>> = [];
  const agents: http.Agent[] = [];

  /** One request; resolves with null when it got its own 200, else with what went wrong. */
  const once = (agent: http.Agent, id: number): Promise<string | null> =>
    new Promise((resolve) => {
      const post = id % 2 === 0;
      const method = post ? 'POST' : 'GET';
      const expected = post ? `post-${id}` : String(id);
      const req = http.request(
        { host: '127.0.0.1', port, agent, method, path: post ? '/echo' : '/work', headers: { 'x-request-id': String(id) } },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => {
            const [pid, echoed] = body.split(' ');
            if (res.statusCode !== 200) return resolve(`${method} ${res.statusCode} ${body.slice(0, 80)}`);
            if (echoed !== expected) return resolve(`${method} 200 with another request's body: ${body.slice(0, 80)}`);
            tally.byPid.set(Number(pid), (tally.byPid.get(Number(pid)) ?? 0) + 1);
            resolve(null);
          });
          res.on('error', (error: NodeJS.ErrnoException) => resolve(`${method} response cut: ${error.code ?? error.message}`));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', (error: NodeJS.ErrnoException) => resolve(`${method} ${error.code ?? error.message}`));
      req.end(post ? expected : undefined);
    });

  for (let i = 0; i < CONNECTIONS; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    loops.push((async () => {
      while (running) {
        tally.sent++;
        const failure = await once(agent, nextId++);
        if (failure === null) tally.ok++;
        else tally.failures.push({ at: Math.round(performance.now() - began), what: failure });
      }
    })());
  }
  return {
    tally,
    began,
    async stop() {
      if (!running) return;
      running = false;
      await Promise.all(loops);
      for (const agent of agents) agent.destroy();
    },
  };
}

test('rolling restart of two instances behind HAProxy under keep-alive load: no request fails, none is retried', {
  skip: HAPROXY === null ? 'haproxy is not installed (apt-get install haproxy)' : false,
}, async (t) => {
  const [front, ...ports] = await freePorts(5);
  const instances = ['s1', 's2'].map((name, i) => ({ name, port: ports[2 * i]!, adminPort: ports[2 * i + 1]!, cli: null as CliProcess | null, pids: [] as number[] }));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fasterapi-haproxy-'));
  const socket = path.join(dir, 'stats.sock');
  let load: Load | null = null;
  const events: string[] = [];
  const note = (event: string): void => void events.push(`${Math.round(performance.now() - (load?.began ?? 0))} ms: ${event}`);

  const start = async (instance: (typeof instances)[number]): Promise<void> => {
    const cli = new CliProcess([
      'serve', APP, '--host', '127.0.0.1', '--port', String(instance.port), '--pinned', '1',
      '--admin-port', String(instance.adminPort), '--shutdown-delay', SHUTDOWN_DELAY,
      // Idle connections are HAProxy's to close: were the server to close one on its own timer,
      // HAProxy could be sending a request on it at that moment (see docs/deploy.md).
      '--keep-alive-timeout', '75s',
    ]);
    instance.cli = cli;
    instance.pids.push(cli.child.pid!);
    await cli.waitForOutput(/Admin: http:\/\/127\.0\.0\.1:\d+ /);
    await until(`${instance.name}'s /readyz answering 200`, 10_000, async () => (await readyz(instance.adminPort)) === 200);
  };
  const statusIn = async (name: string): Promise<string> => (await haproxyStats(socket)).get(`app/${name}`)?.['status'] ?? 'missing';

  let haproxyOutput = '';
  let haproxy: ChildProcess | null = null;
  t.after(async () => {
    await load?.stop();
    haproxy?.kill('SIGKILL');
    for (const instance of instances) instance.cli?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  await Promise.all(instances.map(start));
  writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyConfig({ socket, port: front!, servers: instances }));
  haproxy = spawn(HAPROXY!, ['-f', path.join(dir, 'haproxy.cfg'), '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [haproxy.stdout!, haproxy.stderr!]) stream.setEncoding('utf8').on('data', (chunk: string) => (haproxyOutput += chunk));
  await until('HAProxy marking both instances UP', 10_000, async () => (await statusIn('s1')) === 'UP' && (await statusIn('s2')) === 'UP');

  load = startLoad(front!);
  await delay(1_000);
  for (const instance of instances) {
    const old = instance.cli!;
    note(`${instance.name} SIGTERM`);
    old.kill('SIGTERM');
    await until(`HAProxy marking ${instance.name} DOWN`, 10_000, async () => (await statusIn(instance.name)).startsWith('DOWN'));
    note(`${instance.name} DOWN in HAProxy`);
    const finished = await old.finished;
    note(`${instance.name} exited ${finished.code}`);
    assert.equal(finished.code, 0, finished.stderr);
    const drained = /Drained: (\d+) request\(s\) received .*, (\d+) unanswered, (\d+) connection\(s\) cut/.exec(finished.stdout);
    assert.ok(drained !== null, finished.stdout.slice(-500));
    assert.deepEqual([drained[2], drained[3]], ['0', '0'], `${instance.name} left requests unanswered or cut connections: ${drained[0]}`);
    await start(instance);
    note(`${instance.name} restarted, /readyz 200`);
    await until(`HAProxy marking ${instance.name} UP again`, 10_000, async () => (await statusIn(instance.name)) === 'UP');
    note(`${instance.name} UP in HAProxy`);
    await delay(1_000); // the restarted instance takes its share of the load
  }
  await load.stop();
  const elapsed = performance.now() - load.began;

  const { tally } = load;
  const stats = await haproxyStats(socket);
  const backend = stats.get('app/BACKEND')!;
  const counters = Object.fromEntries(['econ', 'eresp', 'wretr', 'wredis', 'hrsp_5xx'].map((c) => [c, Number(backend[c])]));
  t.diagnostic(`${tally.sent} requests in ${(elapsed / 1000).toFixed(1)} s over ${CONNECTIONS} keep-alive connections: ${tally.ok} ok, ${tally.failures.length} failed`);
  for (const instance of instances) {
    t.diagnostic(`${instance.name}: ${instance.pids.map((pid, generation) => `${generation === 0 ? 'before' : 'after'} its restart (pid ${pid}) ${tally.byPid.get(pid) ?? 0}`).join(', ')}`);
  }
  t.diagnostic(`HAProxy backend: ${JSON.stringify(counters)}; timeline: ${events.join('; ')}`);
  // With `option dontlog-normal` HAProxy logs only requests that failed, were retried or were
  // redispatched (and its own warnings, such as servers going DOWN and UP).
  const logged = haproxyOutput.trimEnd().split('\n');
  const requests = logged.filter((line) => LOG_LINE.test(line));
  const unclean = requests.filter((line) => !/ 200 \d+ \S+ \S+ ---- \d+\/\d+\/\d+\/\d+\/\+?\d+ /.test(line));
  t.diagnostic(`HAProxy logged ${requests.length} retried or failed request(s), ${unclean.length} not answered 200 cleanly${unclean.length > 0 ? `:\n${unclean.slice(0, 10).join('\n')}` : ''}`);

  assert.deepEqual(tally.failures.slice(0, 10), [], 'every request got its own 200');
  assert.equal(tally.ok, tally.sent);
  assert.deepEqual(counters, { econ: 0, eresp: 0, wretr: 0, wredis: 0, hrsp_5xx: 0 }, 'HAProxy never met a refused or dropped request, so never retried one');
  for (const instance of instances) {
    for (const pid of instance.pids) assert.ok((tally.byPid.get(pid) ?? 0) > 0, `${instance.name} (pid ${pid}) served no request`);
  }
  const served = instances.flatMap((instance) => instance.pids).reduce((sum, pid) => sum + (tally.byPid.get(pid) ?? 0), 0);
  assert.equal(served, tally.ok, 'every answer came from one of the four processes');
});

test('docs/deploy.md shows the HAProxy configuration this test runs', () => {
  const doc = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
  const shown = /## HAProxy: the tested configuration[\s\S]*?```haproxy\n([\s\S]*?)```/.exec(doc);
  assert.ok(shown !== null, 'no haproxy block under "HAProxy: the tested configuration"');
  const servers = [{ name: 's1', port: 1, adminPort: 2 }];
  assert.deepEqual(directives(shown[1]!), directives(haproxyConfig({ socket: '/unused', port: 0, servers })));
});
