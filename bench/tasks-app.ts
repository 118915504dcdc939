/**
 * The app of bench/tasks.ts: one pooled task that burns CPU for the given µs, and a route that
 * runs the closed loop around `app.run` inside the pinned worker (the caller, as piscina's main
 * thread is the caller on its side) and answers the loop's figures.
 */

import { App } from '../src/index.ts';
import { closedLoop, spinMicros } from './lib/closed-loop.ts';

const app = new App();

app.task('spin', (us: number) => spinMicros(us));

app.get('/loop', async (req) => {
  const us = Number(req.query['us']);
  const total = Number(req.query['total']);
  const concurrency = Number(req.query['concurrency']);
  return closedLoop(() => app.run('spin', us), total, concurrency);
}, { timeout: 0 });

export default app;
