/**
 * WebSockets under load, against the CLI server with 2 pinned workers: 10,000 concurrent sockets
 * with messages flowing (every echo is its own message's), a SIGTERM under that load (every
 * client hears 1001 and the server exits 0), and a pinned worker killed under load (its own
 * sockets end with 1006, the other worker's keep echoing, and the clients reconnect at once).
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { CliProcess } from '../helpers/cli.ts';

const SOCKETS = 10_000;
const HOLD_MS = 10_000;

function fileLimit(): number {
  return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
}

const limit = fileLimit();
const skip =
  limit < SOCKETS + 200
    ? `the open-file limit is ${limit}, and ${SOCKETS.toLocaleString('en')} sockets need about ${SOCKETS + 200} in this process and in the server's: ` +
      'run with a higher limit (npm run test:load raises it to the hard limit; as root: ulimit -n 65536)'
    : false;
if (skip !== false) console.log(`# WebSocket load test skipped: ${skip}`);

/** One client socket: what it sent and got back, and how it closed. */
class Client {
  readonly ws: WebSocket;
  isolate = -1;
  sent = 0;
  echoed = 0;
  wrong = 0;
  published = 0;
  closeCode: number | null = null;
  readonly opened: Promise<void>;
  readonly id: number;

  constructor(url: string, id: number) {
    this.id = id;
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('message', (data: Buffer) => {
        this.isolate = Number(data.toString().slice('isolate:'.length));
        resolve();
      });
      this.ws.once('close', () => reject(new Error(`socket ${id} closed before it opened`)));
    });
    this.opened.catch(() => {});
    this.ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.startsWith('isolate:')) return;
      if (text.startsWith('broadcast:')) {
        this.published++;
        return;
      }
      // An echo must be of this socket's own next message.
      if (text === `${this.id}:${this.echoed}`) this.echoed++;
      else this.wrong++;
    });
    this.ws.on('close', (code: number) => (this.closeCode = code));
  }

  send(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(`${this.id}:${this.sent++}`);
  }
}

async function openAll(port: number, count: number, from = 0): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < count; i += 500) {
    const batch = Array.from({ length: Math.min(500, count - i) }, (_, k) => new Client(`ws://127.0.0.1:${port}/echo`, from + i + k));
    await Promise.all(batch.map((c) => c.opened));
    clients.push(...batch);
  }
  return clients;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await delay(50);
  return check();
}

test(`${SOCKETS.toLocaleString('en')} WebSockets with messages flowing, then SIGTERM: every client hears 1001`, { skip }, async () => {
  const cli = new CliProcess(['serve', 'test/fixtures/apps/ws-load.ts', '--port', '0', '--pinned', '2', '--grace-period', '10s']);
  try {
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    await cli.waitForOutput(/Ready: /);
    const clients = await openAll(Number(port), SOCKETS);
    assert.deepEqual([...new Set(clients.map((c) => c.isolate))].sort(), [0, 1], 'the sockets are not spread over both workers');
    // Each socket sends a message about every 2 s: ~5,000 messages/s in all.
    const began = Date.now();
    while (Date.now() - began < HOLD_MS) {
      const slice = Math.floor(((Date.now() - began) % 2_000) / 100);
      for (const c of clients) if (c.id % 20 === slice) c.send();
      await delay(100);
    }
    assert.ok(await until(() => clients.every((c) => c.echoed === c.sent), 10_000), 'echoes are missing');
    const sent = clients.reduce((sum, c) => sum + c.sent, 0);
    assert.ok(sent >= SOCKETS * 4, `only ${sent} messages were sent`);
    assert.equal(clients.reduce((sum, c) => sum + c.wrong, 0), 0, 'an echo did not belong to its socket');
    assert.equal(clients.filter((c) => c.closeCode !== null).length, 0, 'sockets closed under load');

    cli.child.kill('SIGTERM');
    const finished = await cli.finished;
    assert.equal(finished.code, 0, finished.stderr);
    assert.ok(await until(() => clients.every((c) => c.closeCode !== null), 10_000), 'some sockets never closed');
    const codes = new Map<number, number>();
    for (const c of clients) codes.set(c.closeCode as number, (codes.get(c.closeCode as number) ?? 0) + 1);
    assert.deepEqual([...codes], [[1001, SOCKETS]]);
  } finally {
    cli.child.kill('SIGKILL');
  }
});

test('a pinned worker killed under load: its sockets end with 1006, the others keep echoing, reconnecting works', { skip: limit < 5_000 ? `the open-file limit is ${limit}` : false }, async () => {
  const cli = new CliProcess(['serve', 'test/fixtures/apps/ws-load.ts', '--port', '0', '--pinned', '2']);
  try {
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    await cli.waitForOutput(/Ready: /);
    const clients = await openAll(Number(port), 2_000);
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        for (const c of clients) if (c.id % 10 === Date.now() % 10) c.send();
        await delay(20);
      }
    })();
    await delay(1_000);
    const victim = clients.find((c) => c.isolate === 0) as Client;
    const victims = clients.filter((c) => c.isolate === 0);
    const survivors = clients.filter((c) => c.isolate === 1);
    victim.ws.send('exit');
    assert.ok(await until(() => victims.every((c) => c.closeCode !== null), 10_000), 'sockets of the dead worker stayed open');
    assert.deepEqual([...new Set(victims.map((c) => c.closeCode))], [1006]);
    await delay(1_000);
    flowing = false;
    await traffic;
    assert.ok(await until(() => survivors.every((c) => c.echoed === c.sent), 10_000), 'the surviving worker stopped echoing');
    assert.equal(survivors.filter((c) => c.closeCode !== null).length, 0, 'a socket of the surviving worker closed');
    assert.equal(clients.reduce((sum, c) => sum + c.wrong, 0), 0);
    // The victims come back at once, to the survivor or the replacement.
    const again = await openAll(Number(port), victims.length, 100_000);
    assert.equal(again.length, victims.length);
    for (const c of [...again, ...survivors]) c.ws.terminate();
  } finally {
    cli.child.kill('SIGTERM');
    await cli.finished;
  }
});
