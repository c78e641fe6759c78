// Stopping the cloud in the middle of work (workers killed mid-request, DynamoDB requests in flight,
// some bytes still on their way) ends cleanly: nothing throws in the hosting process.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startPiCloud } from '../helpers/pi-cloud.js';
import { sleep } from '../helpers/pool.js';

const uncaught: unknown[] = [];
const record = (error: unknown) => uncaught.push(error);
beforeEach(() => {
  uncaught.length = 0;
  process.on('uncaughtException', record);
});
afterEach(() => {
  process.off('uncaughtException', record);
});

describe('stopping the cloud mid-work', () => {
  it('with jobs running, throws nothing in the hosting process', async () => {
    for (let round = 0; round < 3; round++) {
      const env = await startPiCloud({ apiThrottling: false });
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          env.client.request('POST', 'jobs', { body: { samples: 1_000_000, tasks: 4, seed: i }, headers: { 'idempotency-key': `stop-${round}-${i}` } }),
        ),
      );
      await sleep(60 * round);
      await env.stop();
    }
    await sleep(500);
    expect(uncaught).toEqual([]);
  }, 120_000);
});
