// Bad input, at volume: random and mutated requests (methods, paths, headers, bodies), signed and
// unsigned, against the synthesized stack's API on the local cloud. No 5xx, no crashed process, no
// job or item from an invalid request, and a valid job still comes out right. Seeded by
// test/helpers/seed.ts: FUZZ_SEED=<seed> replays a run.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiResponse } from '../../cli/api-client.js';
import { jobIdOfKey } from '../../functions/shared/store/items.js';
import { parseIdempotencyKey, parseJobId, parseJobRequest, type Limits } from '../../functions/shared/validation.js';
import { printTable, runJob } from '../helpers/chaos.js';
import { countProblems } from '../helpers/job-oracle.js';
import { startPiCloud, type PiCloud } from '../helpers/pi-cloud.js';
import { suiteSeed } from '../helpers/seed.js';

const { seed: FUZZ_SEED } = suiteSeed('FUZZ_SEED', 20_240_612, 'test/fuzz/api-fuzz.test.ts');
const STREAMS = 8;
const RUNS_PER_STREAM = 1_300;
/** Limits of this cloud: a valid request that slips through makes a tiny job. */
const LIMITS: Limits = { maxTasks: 8, maxSamples: 65_536, maxSamplesPerTask: 10_000_000_000 };

interface FuzzRequest {
  method: string;
  /** Relative to the stage URL. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  sign: boolean;
}

let env: PiCloud;
let knownJobId = '';
const seenPids = new Set<number>();
let pidTimer: NodeJS.Timeout | undefined;
/** Job ids some valid request was answered with, and the ids a GET or DELETE may use. */
const accepted = new Set<string>();
const statuses = new Map<number, number>();
/** 4xx answers by error code. */
const codes = new Map<string, number>();
const tally = { sent: 0, signed: 0, unsigned: 0, valid: 0, clientRejected: 0 };

beforeAll(async () => {
  env = await startPiCloud({
    apiThrottling: false,
    env: {
      orchestrator: { maxTasks: LIMITS.maxTasks, maxSamples: LIMITS.maxSamples, maxSamplesPerTask: LIMITS.maxSamplesPerTask, estimateWaitSeconds: 1 },
    },
  });
  pidTimer = setInterval(() => env.cloud.workerPids().forEach((p) => seenPids.add(p)), 100);
  const known = await env.client.submitJob({ samples: 65_536, tasks: 2, seed: 1 }, { idempotencyKey: `fuzz-known-${FUZZ_SEED}` });
  knownJobId = known.jobId;
  accepted.add(knownJobId);
}, 240_000);

afterAll(async () => {
  clearInterval(pidTimer);
  await env?.stop();
});

// ---- generators ----

const latin1 = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 40 });
/** Names a server that keys a plain object by client input stumbles on. */
const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'] as const;
const anyText = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), latin1);

const weirdNumberText = fc.oneof(
  fc.constantFrom('1e309', '-1e309', '-0', '0', '1.0', '1.5', '1e3', '2e-7', '0x10', '01', '+1', '.5', '9007199254740993', '18446744073709551616', 'NaN', 'Infinity', '-Infinity', 'null', 'true', '"1"', '[]', '{}', '1'.repeat(400)),
  fc.double().map(String),
  fc.bigInt().map(String),
);

/** A value for a job field: mostly wrong, sometimes right. */
const fieldValue = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 2 },
  { arbitrary: fc.integer(), weight: 2 },
  { arbitrary: fc.double(), weight: 2 },
  { arbitrary: fc.constantFrom(0, -1, 1e308, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 65_537, 1_000_000_000_000), weight: 2 },
  { arbitrary: anyText, weight: 2 },
  { arbitrary: fc.boolean(), weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: fc.array(fc.integer(), { maxLength: 3 }), weight: 1 },
  { arbitrary: fc.object({ maxDepth: 2 }), weight: 1 },
);

const jobObject = fc
  .record(
    {
      samples: fieldValue,
      tasks: fieldValue,
      seed: fieldValue,
      extra: fc.dictionary(fc.oneof(anyText, fc.constantFrom(...PROTOTYPE_NAMES, 'Samples', 'samples ')), fieldValue, { maxKeys: 2 }),
    },
    { requiredKeys: [] },
  )
  .map(({ extra, ...fields }) => JSON.stringify({ ...fields, ...(extra ?? {}) }));

const rawNumbers = fc
  .tuple(weirdNumberText, weirdNumberText, fc.option(weirdNumberText, { nil: undefined }))
  .map(([s, t, seed]) => `{"samples": ${s}, "tasks": ${t}${seed === undefined ? '' : `, "seed": ${seed}`}}`);

/** A valid body, then edited: characters inserted, deleted, replaced, the text cut short. */
const mutatedValid = fc
  .tuple(
    fc.record({ samples: fc.integer({ min: 1, max: 65_536 }), tasks: fc.integer({ min: 1, max: 4 }), seed: fc.integer({ min: 0, max: 1_000 }) }),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace', 'cut'), fc.string({ minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 4 }),
  )
  .map(([job, edits]) => {
    let text = JSON.stringify(job);
    for (const [at, kind, chars] of edits) {
      const i = at % (text.length + 1);
      if (kind === 'insert') text = text.slice(0, i) + chars + text.slice(i);
      else if (kind === 'delete') text = text.slice(0, i) + text.slice(i + chars.length);
      else if (kind === 'replace') text = text.slice(0, i) + chars + text.slice(i + chars.length);
      else text = text.slice(0, i);
    }
    return text;
  });

const deepNesting = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":')).map(([depth, open]) => {
  const close = open === '[' ? ']' : '}';
  return open.repeat(depth) + '1' + close.repeat(depth);
});

const oversized = fc.tuple(fc.integer({ min: 1_000, max: 300_000 }), fc.constantFrom(' ', 'x', '\u00e9', '\u{1F600}')).map(
  ([size, pad]) => (pad === ' ' ? `{"samples": 1000, "tasks": 1${pad.repeat(size)}}` : `{"samples": 1000, "tasks": 1, "seed": "${pad.repeat(size)}"}`),
);

const body = fc.oneof(
  { arbitrary: jobObject, weight: 6 },
  { arbitrary: rawNumbers, weight: 3 },
  { arbitrary: mutatedValid, weight: 4 },
  { arbitrary: fc.json({ maxDepth: 4 }), weight: 2 },
  { arbitrary: anyText, weight: 2 },
  { arbitrary: deepNesting, weight: 1 },
  { arbitrary: oversized, weight: 1 },
  { arbitrary: fc.constantFrom('', ' ', 'null', '[]', '{}', '"x"', '{"samples":1,"tasks":1}{}', '\u0000', '\ufeff{"samples":1,"tasks":1}'), weight: 1 },
);

const knownOrRandomId = fc.oneof(
  fc.uuid(),
  // A job that exists (created before the fuzzing starts).
  fc.constant('known').map(() => knownJobId),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.uuid().map((u) => `${u}x`),
  anyText.map((s) => encodeURIComponent(s)),
  anyText,
  fc.constantFrom('..', '.', '%2e%2e', '%00', '%ZZ', '%', 'null', 'undefined', '\\', '*'),
);

const path = fc.oneof(
  { arbitrary: fc.constantFrom('jobs', 'estimate'), weight: 6 },
  { arbitrary: knownOrRandomId.map((id) => `jobs/${id}`), weight: 5 },
  { arbitrary: fc.constantFrom('', 'jobs/', 'JOBS', 'Jobs', 'jobs//', 'estimate/', 'jobs/a/b', '..', '../jobs', '%6Aobs', 'jobs%2F1'), weight: 2 },
  { arbitrary: fc.array(anyText, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom('jobs', 'estimate'), anyText).map(([p, q]) => `${p}?${q}`), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('jobs', 'estimate'), fc.array(fc.tuple(fc.constantFrom(...PROTOTYPE_NAMES), fc.option(anyText)), { minLength: 1, maxLength: 3 }))
      .map(([p, params]) => `${p}?${params.map(([k, v]) => (v === null ? k : `${k}=${encodeURIComponent(v)}`)).join('&')}`),
    weight: 1,
  },
);

const method = fc.oneof(
  { arbitrary: fc.constantFrom('POST', 'GET', 'DELETE'), weight: 8 },
  { arbitrary: fc.constantFrom('PUT', 'PATCH', 'HEAD', 'OPTIONS'), weight: 2 },
);

// Not the signature's own headers (x-amz-date, x-amz-content-sha256, authorization): a request that
// changes them is simply unsigned, which the unsigned share already covers.
// `__proto__` aside: fetch drops a header of that name after it was signed (a raw-HTTP test covers it).
const headerName = fc.oneof(
  fc.constantFrom('idempotency-key', 'content-type', 'accept', 'content-encoding', 'x-forwarded-for', 'user-agent'),
  fc.constantFrom(...PROTOTYPE_NAMES.filter((name) => name !== '__proto__')),
  fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
);
const headerValue = fc.oneof(
  fc.uuid(),
  latin1,
  fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', '*/*', 'gzip', ''),
  fc.string({ unit: fc.constantFrom('a', 'b', '-', '_'), minLength: 120, maxLength: 200 }),
);

const sign = fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 });
const headers = fc.dictionary(headerName, headerValue, { maxKeys: 3 });

const request: fc.Arbitrary<FuzzRequest> = fc
  .oneof(
    // Job requests with bad bodies and headers: what reaches the orchestrator's validation.
    { arbitrary: fc.record({ method: fc.constant('POST'), path: fc.constantFrom('jobs', 'estimate'), headers, body: fc.option(body, { nil: undefined, freq: 8 }), sign }), weight: 6 },
    // Reads and cancels of job ids, real or not.
    { arbitrary: fc.record({ method: fc.constantFrom('GET', 'DELETE'), path: knownOrRandomId.map((id) => `jobs/${id}`), headers, body: fc.constant(undefined), sign }), weight: 3 },
    // Anything at all.
    { arbitrary: fc.record({ method, path, headers, body: fc.option(body, { nil: undefined, freq: 4 }), sign }), weight: 3 },
  )
  // fetch sends no body with GET or HEAD.
  .map((r): FuzzRequest => (r.method === 'GET' || r.method === 'HEAD' ? { ...r, body: undefined } : r));

// ---- the oracle ----

const decode = (segment: string) => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
};

/** The route a request reaches, as API Gateway matches it: decoded segments below the stage, or undefined outside it. */
function routeOf(req: FuzzRequest): string[] | undefined {
  const url = new URL(`./${req.path}`, env.client.endpoint);
  const stage = env.client.endpoint.pathname;
  if (!`${url.pathname}/`.startsWith(stage)) return undefined;
  return url.pathname.slice(stage.length).split('/').filter((s) => s !== '').map(decode);
}

const isJobId = (id: string) => {
  try {
    parseJobId(id);
    return true;
  } catch {
    return false;
  }
};

/** What the API must answer: a valid job request creates a job, anything else gets a 4xx. */
function expected(req: FuzzRequest): 'valid-create' | 'job-read' | 'job-list' | 'unauthorized' | 'rejected' {
  const route = routeOf(req);
  if (!req.sign || route === undefined) return 'unauthorized';
  const [first, id, ...rest] = route;
  if (req.method === 'POST' && (first === 'jobs' || first === 'estimate') && id === undefined) {
    // fetch drops a header value's surrounding spaces and tabs.
    const key = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'idempotency-key')?.[1]?.replace(/^[\t ]+|[\t ]+$/g, '');
    try {
      parseJobRequest(req.body, LIMITS);
      parseIdempotencyKey(key);
      return 'valid-create';
    } catch {
      return 'rejected';
    }
  }
  if ((req.method === 'GET' || req.method === 'DELETE') && first === 'jobs' && id !== undefined && rest.length === 0 && isJobId(id)) return 'job-read';
  if (req.method === 'GET' && first === 'jobs' && id === undefined) return 'job-list';
  return 'rejected';
}

async function send(req: FuzzRequest): Promise<ApiResponse | undefined> {
  try {
    // './' keeps a path like "a:b" relative to the stage.
    return await env.client.request(req.method, `./${req.path}`, { headers: req.headers, ...(req.body !== undefined && { body: req.body }), sign: req.sign });
  } catch (error) {
    // A request fetch refuses to build (an invalid header for it) never reaches the API.
    if (error instanceof TypeError) {
      tally.clientRejected++;
      return undefined;
    }
    throw error;
  }
}

async function check(req: FuzzRequest): Promise<void> {
  const response = await send(req);
  if (!response) return;
  tally.sent++;
  tally[req.sign ? 'signed' : 'unsigned']++;
  statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  const what = `${req.method} ${req.path} -> ${response.status} ${response.text.slice(0, 200)}`;
  if (response.status >= 500) throw new Error(`5xx: ${what}`);
  const outcome = expected(req);
  if (outcome === 'valid-create') {
    tally.valid++;
    if (response.status !== 200 && response.status !== 202) throw new Error(`a valid request was refused: ${what}`);
    accepted.add((response.body as { jobId: string }).jobId);
  } else if (outcome === 'unauthorized') {
    if (response.status !== 403) throw new Error(`unsigned but not 403: ${what}`);
  } else if (outcome === 'job-read') {
    if (![200, 404, 409].includes(response.status)) throw new Error(`job read: ${what}`);
  } else if (outcome === 'job-list') {
    // The caller's list, or a refusal (of its query string: a bad limit or next, an unknown parameter).
    const listed = response.status === 200 && Array.isArray((response.body as { jobs?: unknown } | undefined)?.jobs);
    if (!listed && response.status < 400) throw new Error(`job list: ${what}`);
  } else if (response.status < 400) {
    throw new Error(`an invalid request was accepted: ${what}`);
  }
  if (response.status >= 400 && req.method !== 'HEAD' && response.body === undefined) throw new Error(`an error without a JSON body: ${what}`);
  const error = response.body as { error?: { code?: string }; message?: string } | undefined;
  const code = `${response.status} ${error?.error?.code ?? error?.message ?? ''}`;
  if (response.status >= 400) codes.set(code, (codes.get(code) ?? 0) + 1);
}

describe('fuzzing the API', () => {
  it(`answers ${STREAMS * RUNS_PER_STREAM} random and mutated requests with no 5xx, and creates nothing from invalid ones`, async () => {
    const started = Date.now();
    // Bodies over API Gateway's 10 MB limit, a few: too slow to generate by the thousand.
    for (const size of [10 * 1024 * 1024 + 1, 12 * 1024 * 1024]) {
      await check({ method: 'POST', path: 'jobs', headers: {}, body: `{"samples":1,"tasks":1,"x":"${'a'.repeat(size)}"}`, sign: true });
    }
    await Promise.all(
      Array.from({ length: STREAMS }, (_, i) =>
        fc.assert(fc.asyncProperty(request, check), { numRuns: RUNS_PER_STREAM, seed: FUZZ_SEED + i, endOnFailure: false }),
      ),
    );
    const seconds = (Date.now() - started) / 1000;

    // Every job in the table was answered to a valid request; every item belongs to such a job, but
    // the admission items, whose places name only such jobs.
    const all = await env.scanItems();
    const admission = all.filter((item) => item.pk === 'ADMISSION');
    const items = all.filter((item) => item.pk !== 'ADMISSION');
    const owners = new Set(items.map((item) => jobIdOfKey(item.pk) ?? String(item.pk)));
    expect([...owners].filter((id) => !accepted.has(id))).toEqual([]);
    expect([...accepted].filter((id) => !owners.has(id))).toEqual([]);
    const placed = admission.flatMap((item) => Object.keys((item.running ?? {}) as object));
    expect(placed.filter((id) => !accepted.has(id))).toEqual([]);

    // No worker died: the cloud never recycles a worker on its own, so every pid seen is alive.
    env.cloud.workerPids().forEach((p) => seenPids.add(p));
    const dead = [...seenPids].filter((pid) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    expect(dead).toEqual([]);
    expect(env.logs.filter((l) => /internal error|Runtime exited|Status: (error|timeout)|uncaught/i.test(l))).toEqual([]);

    const byClass = (lo: number) => [...statuses].filter(([s]) => s >= lo && s < lo + 100).reduce((a, [, n]) => a + n, 0);
    printTable(`API fuzz (seed ${FUZZ_SEED})`, ['requests', 'signed', 'unsigned', '2xx', '4xx', '5xx', 'valid', 'jobs created', 'not sendable', 'seconds', 'req/s'], [
      [tally.sent, tally.signed, tally.unsigned, byClass(200), byClass(400), byClass(500), tally.valid, accepted.size, tally.clientRejected, seconds.toFixed(1), (tally.sent / seconds).toFixed(0)],
    ]);
    printTable('API fuzz: 4xx answers by code', ['status and code', 'answers'], [...codes].sort(([, a], [, b]) => b - a));
    expect(tally.sent).toBeGreaterThanOrEqual(10_000);
    expect(tally.unsigned).toBeGreaterThan(0);
  }, 600_000);

  it('still answers a valid job correctly afterwards', async () => {
    const outcome = await runJob(env.client, { samples: 65_536, tasks: 4, seed: 424_242 }, `fuzz-after-${FUZZ_SEED}`, { giveUpAt: Date.now() + 60_000, pollMs: 200 });
    expect(outcome.view.status).toBe('SUCCEEDED');
    expect(outcome.view.inside).toBe(outcome.oracle);
    const stored = (await env.scanJobs()).get(outcome.jobId)!;
    expect(countProblems(stored.header!, stored.tasks)).toEqual([]);
  }, 120_000);
});
