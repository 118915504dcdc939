/**
 * What waking a sleeping thread costs on this machine: the floor under the pool's latency at low
 * load, where a pooled isolate has no work between requests and sleeps on its doorbell.
 *
 * Two threads play ping-pong through an Int32Array on a SharedArrayBuffer, each blocking in
 * `Atomics.wait` until the other stores and `Atomics.notify`s. Before each ping the main thread
 * stays busy for a gap (0, 50, 150, 500 µs) while the other thread sleeps, as a pooled isolate
 * does between requests at one in flight. Reported per gap: how long the `Atomics.notify` call
 * itself takes in the waker, and the whole round trip (two wake-ups), p50 and p90.
 *
 * On a virtual machine, a vCPU that has been idle for a while is halted, and waking it is an
 * inter-processor interrupt through the hypervisor: the notify call and the round trip grow by
 * an order of magnitude once the gap is longer than the guest's halt polling (on the 2-core KVM
 * guest with the `haltpoll` cpuidle driver: 2 µs round trip back to back, ~80 µs after 50 µs). A pooled hop at
 * one request in flight pays one such wake-up (the pinned worker, which has a task out, keeps
 * its event loop turning and needs none); only spinning instead of sleeping avoids it, which
 * costs a core (see spin.ts for when the pool spins).
 *
 * Run: ./node_modules/.bin/node bench/wake.ts [--quick]
 */

import { isMainThread, Worker, workerData } from 'node:worker_threads';

/** a[0]: ping (1), stop (2), idle (0). a[1]: how many pongs so far. */
const PING = 0;
const PONGS = 1;

function sorted(values: number[]): number[] {
  return [...values].sort((x, y) => x - y);
}

function at(values: number[], q: number): number {
  return values[Math.min(values.length - 1, Math.floor(q * values.length))] as number;
}

function busyFor(us: number): void {
  const until = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  while (process.hrtime.bigint() < until);
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL(import.meta.url), { workerData: shared.buffer });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const rounds = quick ? 1000 : 5000;
  let pongs = 0;
  console.log('# Waking a sleeping thread (Atomics.wait / Atomics.notify ping-pong)\n');
  console.log('| idle gap before each ping | notify call p50 / p90 µs | round trip p50 / p90 µs |');
  console.log('|---:|---:|---:|');
  for (const gap of [0, 50, 150, 500]) {
    const notify: number[] = [];
    const trip: number[] = [];
    for (let i = 0; i < rounds; i++) {
      if (gap > 0) busyFor(gap);
      const began = process.hrtime.bigint();
      Atomics.store(shared, PING, 1);
      const notifying = process.hrtime.bigint();
      Atomics.notify(shared, PING);
      notify.push(Number(process.hrtime.bigint() - notifying) / 1000);
      pongs++;
      while (Atomics.load(shared, PONGS) !== pongs) Atomics.wait(shared, PONGS, pongs - 1);
      trip.push(Number(process.hrtime.bigint() - began) / 1000);
    }
    const n = sorted(notify);
    const t = sorted(trip);
    console.log(`| ${gap} µs | ${at(n, 0.5).toFixed(1)} / ${at(n, 0.9).toFixed(1)} | ${at(t, 0.5).toFixed(1)} / ${at(t, 0.9).toFixed(1)} |`);
  }
  Atomics.store(shared, PING, 2);
  Atomics.notify(shared, PING);
  await worker.terminate();
}

function pong(): void {
  const shared = new Int32Array(workerData as SharedArrayBuffer);
  let pongs = 0;
  for (;;) {
    while (Atomics.load(shared, PING) === 0) Atomics.wait(shared, PING, 0);
    if (Atomics.load(shared, PING) === 2) return;
    Atomics.store(shared, PING, 0);
    Atomics.store(shared, PONGS, ++pongs);
    Atomics.notify(shared, PONGS);
  }
}

if (isMainThread) await main();
else pong();
