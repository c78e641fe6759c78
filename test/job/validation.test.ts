import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTable, type TestTable } from '../helpers/dynalite.js';
import { startInProcessStack, type InProcessStack } from '../helpers/in-process-lambda.js';

let table: TestTable;
let stack: InProcessStack;

beforeAll(async () => {
  table = await startTestTable();
  stack = await startInProcessStack(table);
});
afterAll(async () => {
  stack.restore();
  await table.stop();
});

const badBodies: [string, string | undefined, number, RegExp][] = [
  ['no body', undefined, 400, /needs a JSON body/],
  ['empty body', '', 400, /needs a JSON body/],
  ['malformed JSON', '{"samples": 10', 400, /not valid JSON/],
  ['JSON array', '[1,2]', 400, /must be a JSON object/],
  ['JSON string', '"hello"', 400, /must be a JSON object/],
  ['JSON null', 'null', 400, /must be a JSON object/],
  ['missing samples', '{"tasks": 2}', 400, /"samples" is required/],
  ['missing tasks', '{"samples": 100000}', 400, /"tasks" is required/],
  ['samples as string', '{"samples": "100000", "tasks": 2}', 400, /"samples" must be an integer, got "100000"/],
  ['tasks as boolean', '{"samples": 100000, "tasks": true}', 400, /"tasks" must be an integer/],
  ['fractional samples', '{"samples": 1000.5, "tasks": 1}', 400, /"samples" must be an integer/],
  ['zero samples', '{"samples": 0, "tasks": 1}', 400, /"samples" must be between 1 and/],
  ['negative samples', '{"samples": -5, "tasks": 1}', 400, /"samples" must be between/],
  ['zero tasks', '{"samples": 100000, "tasks": 0}', 400, /"tasks" must be between 1 and 1000/],
  ['too many tasks', '{"samples": 1000000000, "tasks": 1001}', 400, /"tasks" must be between 1 and 1000/],
  ['too many samples', '{"samples": 1000000000001, "tasks": 1000}', 400, /"samples" must be between 1 and 1000000000000/],
  ['huge number', '{"samples": 1e400, "tasks": 1}', 400, /"samples" must be an integer/],
  ['more tasks than blocks', '{"samples": 1000, "tasks": 10}', 400, /must not exceed the number of 16384-sample blocks \(1\)/],
  ['too many samples per task', '{"samples": 100000000000, "tasks": 2}', 400, /use at least 11 tasks/],
  ['unknown field', '{"samples": 100000, "tasks": 2, "speed": 3}', 400, /unknown field\(s\) "speed"/],
  ['negative seed', '{"samples": 100000, "tasks": 2, "seed": -1}', 400, /"seed" must be between 0 and 9007199254740991/],
  ['unsafe seed', '{"samples": 100000, "tasks": 2, "seed": 9007199254740993}', 400, /"seed" must be between/],
  ['seed as null', '{"samples": 100000, "tasks": 2, "seed": null}', 400, /"seed" must be an integer, got null/],
  ['oversized body', JSON.stringify({ samples: 100000, tasks: 2, pad: 'x'.repeat(2000) }), 413, /at most 1024 bytes/],
];

describe('bad input gets a 4xx that says what to fix, and writes nothing', () => {
  for (const route of ['/jobs', '/estimate']) {
    it.each(badBodies)(`POST ${route}: %s`, async (_name, body, status, message) => {
      const before = await table.scanAll();
      const response = await stack.api('POST', route, { body });
      expect(response.statusCode).toBe(status);
      expect(response.headers?.['content-type']).toBe('application/json');
      expect(response.json.error.code).toMatch(/^[A-Za-z]+$/);
      expect(response.json.error.message).toMatch(message);
      expect(await table.scanAll()).toEqual(before);
      expect(stack.asyncEvents).toEqual({});
    });
  }

  const badPaths: [string, string, string, number, RegExp][] = [
    ['GET', 'not-a-uuid', 'InvalidJobId', 400, /lowercase UUIDs/],
    ['GET', '00000000-0000-4000-8000-00000000000G', 'InvalidJobId', 400, /lowercase UUIDs/],
    ['GET', '12345678-1234-4234-8234-123456789abc', 'JobNotFound', 404, /does not exist/],
    ['DELETE', 'x', 'InvalidJobId', 400, /lowercase UUIDs/],
    ['DELETE', '12345678-1234-4234-8234-123456789abc', 'JobNotFound', 404, /does not exist/],
  ];
  it.each(badPaths)('%s /jobs/%s', async (method, id, code, status, message) => {
    const before = await table.scanAll();
    const response = await stack.api(method, '/jobs/{id}', { id });
    expect(response.statusCode).toBe(status);
    expect(response.json.error.code).toBe(code);
    expect(response.json.error.message).toMatch(message);
    expect(await table.scanAll()).toEqual(before);
  });

  it('an unknown route is a 404 in the error shape', async () => {
    const response = await stack.api('PUT', '/jobs');
    expect(response.statusCode).toBe(404);
    expect(response.json.error.code).toBe('RouteNotFound');
  });

  it('a malformed Idempotency-Key is refused before anything is written', async () => {
    const response = await stack.api('POST', '/jobs', {
      body: '{"samples": 100000, "tasks": 2}',
      headers: { 'Idempotency-Key': 'x'.repeat(200) },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json.error.message).toMatch(/Idempotency-Key/);
    expect(await table.scanAll()).toEqual([]);
  });
});
