/**
 * The work every contender does, imported by all of them so that they answer byte for byte alike:
 *
 *   GET /      → text/plain        HELLO
 *   GET /json  → application/json  JSON.stringify(JSON_PAYLOAD), serialised per request
 *   GET /cpu   → text/plain        cpuWork(), about 2 ms of synchronous CPU
 */

export const HELLO = 'Hello from /';

/** An order as a shop's API would return it; `JSON.stringify` makes it 1,056 bytes of ASCII. */
export const JSON_PAYLOAD = {
  id: 'ord_7f3c9a21e4b84d0f',
  status: 'shipped',
  createdAt: '2025-03-14T09:26:53.589Z',
  customer: {
    id: 48213,
    name: 'Ada Lovelace',
    email: 'ada.lovelace@example.com',
    loyaltyTier: 'gold',
  },
  shippingAddress: {
    line1: '12 Baker Street',
    line2: null,
    city: 'London',
    postcode: 'NW1 6XE',
    country: 'GB',
  },
  items: [
    { sku: 'KB-MX-RED-104', name: 'Mechanical keyboard, red switches', quantity: 1, unitPrice: 129.9, discount: 0 },
    { sku: 'MS-ERG-BLK', name: 'Ergonomic wireless mouse', quantity: 1, unitPrice: 59.5, discount: 5 },
    { sku: 'USB-C-2M-3PK', name: 'USB-C cable 2 m, pack of 3', quantity: 2, unitPrice: 14.99, discount: 0 },
    { sku: 'DSK-MAT-XL', name: 'Desk mat, extra large, felt', quantity: 1, unitPrice: 34, discount: 3.4 },
  ],
  totals: { currency: 'GBP', subtotal: 253.38, discount: 8.4, shipping: 4.95, tax: 49.99, total: 299.92 },
  payment: { method: 'card', brand: 'visa', last4: '4242', captured: true },
  shipment: { carrier: 'Royal Mail', trackingNumber: 'RM123456785GB', estimatedDelivery: '2025-03-17' },
  tags: ['priority', 'gift-wrap', 'returning-customer'],
} as const;

/**
 * Iterations of the hash loop in `cpuWork`. Calibrated once: 950,000 iterations took 1.99–2.06 ms
 * (median of 200 runs after warm-up, 3 processes) on the development VM, a 2-vCPU Intel Xeon,
 * Node.js 26.10.0, with nothing else running.
 */
const CPU_ITERATIONS = 950_000;

/**
 * About 2 ms of synchronous CPU: an FNV-1a-style integer hash over a fixed number of iterations.
 * Deterministic (always `'ad8a50d4'`); contenders send the result so it cannot be optimised away.
 */
export function cpuWork(): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < CPU_ITERATIONS; i++) {
    hash ^= i & 0xff;
    hash = Math.imul(hash, 0x01000193);
    hash ^= hash >>> 15;
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}
