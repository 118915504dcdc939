/**
 * One codec round trip as the pool makes it, on one thread: a typical GET (5 headers, one path
 * param) encoded into a request ring, published, taken and decoded; a small JSON answer encoded
 * into a response ring, published, taken and decoded. bench/offload.ts times it and counts its
 * allocations; test/integration/pooled-allocation.test.ts bounds the allocations.
 */

import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/executor/codec.ts';
import { createRing, RingConsumer, RingProducer } from '../../src/executor/ring.ts';

/**
 * Returns `round(first)`: `batch` round trips with task ids from `first`, each ring published
 * once per batch. Throws if a record does not arrive or decodes to nothing.
 */
export function codecRoundTrip(batch: number): (first: number) => void {
  const request = createRing(256 * 1024);
  const response = createRing(256 * 1024);
  const reqOut = new RingProducer(request);
  const reqIn = new RingConsumer(request);
  const resOut = new RingProducer(response);
  const resIn = new RingConsumer(response);
  const headers = {
    host: '127.0.0.1:8080',
    'user-agent': 'h2load nghttp2/1.52.0',
    accept: '*/*',
    'accept-encoding': 'gzip, deflate, br',
    'x-request-id': '5f2b6c1e-8d3a-4f7e-9a0b-1c2d3e4f5a6b',
  };
  const params = { id: '42' };
  const body = new Uint8Array(0);
  const outgoing = { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"id":42,"name":"widget"}' };
  let decoded = 0;
  const onRequest = (bytes: Buffer, offset: number, length: number): void => {
    if (decodeRequest(bytes, offset, length).path.length > 0) decoded++;
  };
  const onResponse = (bytes: Buffer, offset: number, length: number): void => {
    if (decodeResponse(bytes, offset, length).status === 200) decoded++;
  };
  return (first) => {
    decoded = 0;
    for (let k = 0; k < batch; k++) {
      const taskId = first + k;
      if (encodeRequest(reqOut, { taskId, routeId: 3, method: 'GET', path: '/items/42', rawQuery: 'q=1', params, headers, body }) < 0) throw new Error('no room for the request');
    }
    reqOut.publish();
    if (reqIn.take(onRequest) !== batch) throw new Error('the request records did not arrive');
    for (let k = 0; k < batch; k++) {
      // A fresh answer each time, as a handler makes one.
      if (encodeResponse(resOut, first + k, { ...outgoing, headers: { ...outgoing.headers } }) === -1) throw new Error('no room for the response');
    }
    resOut.publish();
    if (resIn.take(onResponse) !== batch) throw new Error('the response records did not arrive');
    if (decoded !== 2 * batch) throw new Error('a record decoded to nothing');
  };
}
