/** The piscina task of bench/tasks.ts: burns CPU for the given µs, as the FasterAPI task does. */

import { spinMicros } from '../lib/closed-loop.ts';

export default function spin(us: number): number {
  return spinMicros(us);
}
