/** The piscina task of fastify-piscina.ts: `cpuWork()` on a pool thread. */

import { cpuWork } from './workload.ts';

export default function cpu(): string {
  return cpuWork();
}
