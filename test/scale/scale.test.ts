// Scale: the synthesized stack on a local cloud holding AWS's quotas, scaled down together
// (LOCAL_CLOUD_QUOTAS) so one machine reaches them, with the service's own limits set low: more jobs
// submitted at once, from several IAM principals, than the stack admits, asking far more samplers
// than it runs at once, one of them with 1,000 tasks, while faults are injected. Every admitted job
// must end SUCCEEDED with the fault-free count; every refusal must be a 429 TooManyJobs with
// Retry-After that wrote nothing; the running jobs never exceed the limits; no task is started again
// only because it waited for concurrency. The same code is a smoke in `npm test` and the full run in
// `npm run test:chaos` (SCALE_JOBS and SCALE_BIG_JOB_TASKS size either). Seeded by test/helpers/seed.ts:
// SCALE_SEED replays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ApiClient, ApiError, type JobRequest } from '../../cli/api-client.js';
import { BLOCK_SIZE } from '../../functions/shared/kernel/stream-rule.js';
import { admissionKey, jobKey, RUNNING_JOBS_ATTRIBUTE, taskSortKey } from '../../functions/shared/store/items.js';
import type { FaultConfig, FaultEvent, LocalPrincipalName } from '../../local/index.js';
import { followJob, judge, persist, printTable, randomJobs, type JobOutcome } from '../helpers/chaos.js';
import { countProblems } from '../helpers/job-oracle.js';
import { startPiCloud, type PiCloud } from '../helpers/pi-cloud.js';
import { quantile, sleep, waitFor } from '../helpers/pool.js';
import { suiteSeed } from '../helpers/seed.js';

const { seed: SEED, replay } = suiteSeed('SCALE_SEED', 20_261_130, 'test/scale/scale.test.ts');

/** The full run in the campaign loop (`npm run test:chaos`), a smoke in `npm test`; SCALE_JOBS and SCALE_BIG_JOB_TASKS override either. */
const CAMPAIGN = process.env.TEST_LOOP === 'test:chaos';
const JOBS = wholeNumber('SCALE_JOBS', CAMPAIGN ? 12 : 6, 2, 100);
/** The big job: one task per block, so it is many tasks and little sampling. */
const BIG_JOB_TASKS = wholeNumber('SCALE_BIG_JOB_TASKS', CAMPAIGN ? 1000 : 100, 1, 1000);

/**
 * AWS's quotas times 1/20: account concurrency 50 (unreserved minimum 5), 50 WCU/s and 150 RCU/s per
 * partition key, throttled events retried after 50 ms doubling to 15 s. The samplers' concurrency
 * below keeps about the stack's default ratio to them (100 samplers in an account of 1,000).
 */
const QUOTA_SCALE = 0.05;
/** The stack's limits, low enough that the jobs above exceed them. */
const LIMITS = { maxRunningJobs: 4, maxRunningJobsPerCaller: 2, samplerConcurrency: 8 } as const;
/**
 * The service's silence limits are not scaled with the quotas: what they must outlast is not scaled
 * either. A cold start on a busy two-core machine takes up to ~10 s, and the SDK backs off a
 * throttled write for seconds, so a sampler event expires after 20 s and a running task is silent
 * after 10 s (a lost event is started again 30 s on). The deadline leaves room for the big job
 * running its share of the samplers while its partition's write limit binds: a job failing for it
 * failed for capacity.
 */
const SERVICE_TIMES = { samplerMaxEventAgeSeconds: 20, stallSeconds: 10, jobTimeoutSeconds: 300 } as const;
const CALLERS: readonly LocalPrincipalName[] = ['alice', 'bob', 'carol'];
/** A refused client waits Retry-After, but at most this long: the service suggests seconds that a test cannot spend. */
const RETRY_AFTER_CAP_MS = 2_000;
/** Each client reads its job this often. */
const POLL_MS = 1_000;

/**
 * Faults the service must absorb without failing a job: lost, late, doubled and reordered events,
 * crashed samplers, throttled invocations and DynamoDB throttling. Rare enough that no task loses
 * all its invocations (a loss costs a task a restart; three in a row would fail its job).
 */
const FAULTS: FaultConfig = {
  functions: {
    sampler: { drop: 0.003, duplicate: 0.05, delay: 0.1, delayMs: [0, 1_500], reorder: 0.05, reorderMs: 300, crash: 0.01, crashWindowMs: [0, 40], throttleEvents: 0.03 },
    progress: { throttle: 0.02, crash: 0.005, crashWindowMs: [0, 20] },
    orchestrator: { duplicate: 0.1, delay: 0.1, delayMs: [0, 500], throttle: 0.02 },
  },
  dynamodb: { throughputExceeded: 0.01, throttling: 0.01 },
};

function wholeNumber(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name}=${text}: a whole number from ${min} to ${max}`);
  return n;
}

let env: PiCloud;
/** The table itself (not the functions' metered front): reading it costs the service nothing. */
let table: { db: DynamoDBDocumentClient; name: string };
const clients = {} as Record<LocalPrincipalName, ApiClient>;

beforeAll(async () => {
  process.stdout.write(`scale: ${JOBS} jobs, the big one of ${BIG_JOB_TASKS} tasks, quotas x${QUOTA_SCALE} (replay: ${replay})\n`);
  env = await startPiCloud({
    quotas: QUOTA_SCALE,
    // The service's own limits are under test here; the stage's request rate is not.
    apiThrottling: false,
    faults: {},
    env: { orchestrator: { ...LIMITS, ...SERVICE_TIMES } },
  });
  const { cloud } = env;
  for (const name of CALLERS) clients[name] = new ApiClient({ endpoint: cloud.apiUrl, region: cloud.region, credentials: cloud.principals[name] });
  const raw = new DynamoDBClient({ endpoint: cloud.dynamodbEndpoint, region: cloud.region, credentials: cloud.credentials });
  table = { db: DynamoDBDocumentClient.from(raw), name: Object.values(cloud.tableNames)[0]! };
}, 240_000);

afterAll(async () => {
  table?.db.destroy();
  await env?.stop();
});

/** One POST /jobs as it was answered. */
interface Attempt {
  caller: LocalPrincipalName;
  key: string;
  status: number;
  code: string;
  retryAfter: string | null;
}

/** Every POST answer of this file, and the idempotency keys of the submissions that were refused. */
const attempts: Attempt[] = [];
const refusedKeys = new Set<string>();
/** Every job this file had admitted, by id. */
const admittedJobs = new Map<string, { caller: LocalPrincipalName; request: JobRequest }>();

/**
 * One POST /jobs, as a careful client sends it: a 5xx or a lost answer is retried with the same
 * key (the job may have been created), a 429 is returned to the caller. Each answer is recorded.
 */
async function postJob(caller: LocalPrincipalName, request: JobRequest, key: string): Promise<Attempt & { jobId?: string }> {
  const response = await persist(async () => {
    const answer = await clients[caller].request('POST', 'jobs', { body: request, headers: { 'idempotency-key': key } });
    if (answer.status >= 500) throw new ApiError(answer.status, `HTTP${answer.status}`, answer.text.slice(0, 200), answer);
    return answer;
  }, Date.now() + 60_000);
  const error = (response.body as { error?: { code?: string } } | undefined)?.error;
  const attempt = { caller, key, status: response.status, code: error?.code ?? '', retryAfter: response.headers.get('retry-after') };
  attempts.push(attempt);
  if (response.status === 429) refusedKeys.add(key);
  const jobId = response.status === 202 ? (response.body as { jobId: string }).jobId : undefined;
  if (jobId) admittedJobs.set(jobId, { caller, request });
  return { ...attempt, ...(jobId && { jobId }) };
}

/**
 * Submits until admitted. A refused request wrote nothing, so each try is a new request with its
 * own idempotency key: a refused try that wrote something would show as a job nobody was admitted for.
 */
async function submitUntilAdmitted(caller: LocalPrincipalName, request: JobRequest, keyPrefix: string): Promise<{ jobId: string; tries: number }> {
  for (let tries = 1; ; tries++) {
    const answer = await postJob(caller, request, `${keyPrefix}-try${tries}`);
    if (answer.jobId) return { jobId: answer.jobId, tries };
    if (answer.status !== 429) throw new Error(`POST /jobs answered ${answer.status} ${answer.code}`);
    const retryAfterMs = Number(answer.retryAfter) * 1000;
    await sleep(Math.min(Number.isFinite(retryAfterMs) ? retryAfterMs : RETRY_AFTER_CAP_MS, RETRY_AFTER_CAP_MS) * (0.75 + Math.random() / 4));
  }
}

/** The running-job maps of the admission items: the stack's, and each caller's (by its item's sort key). */
async function admissionMaps(): Promise<Map<string, Record<string, unknown>>> {
  const { Items = [] } = await table.db.send(
    new QueryCommand({ TableName: table.name, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': admissionKey('stack').pk }, ConsistentRead: true }),
  );
  return new Map(Items.map((item) => [String(item.sk), (item[RUNNING_JOBS_ATTRIBUTE] ?? {}) as Record<string, unknown>]));
}

/** The largest number of running jobs the admission items held, sampled every 50 ms until stopped. */
function watchAdmission(): { stop(): Promise<{ stack: number; perCaller: number; samples: number }> } {
  const peak = { stack: 0, perCaller: 0, samples: 0 };
  let running = true;
  const stackKey = admissionKey('stack').sk;
  const loop = (async () => {
    while (running) {
      for (const [sk, jobs] of await admissionMaps()) {
        const n = Object.keys(jobs).length;
        if (sk === stackKey) peak.stack = Math.max(peak.stack, n);
        else peak.perCaller = Math.max(peak.perCaller, n);
      }
      peak.samples++;
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** The key of every item of the table, and the admission items in full. */
async function tableSnapshot(): Promise<{ keys: string[]; admission: Record<string, unknown>[] }> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await table.db.send(new ScanCommand({ TableName: table.name, ConsistentRead: true, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  const admissionPk = admissionKey('stack').pk;
  return {
    keys: items.map((i) => `${String(i.pk)} ${String(i.sk)}`).sort(),
    admission: items.filter((i) => i.pk === admissionPk).sort((a, b) => String(a.sk).localeCompare(String(b.sk))),
  };
}

/** Whether a payload (a sampler event, a report, a failure record) is about this task. */
const aboutTask = (payload: string, jobId: string, taskId: number) => payload.includes(jobId) && new RegExp(`"taskId":${taskId}[,}]`).test(payload);

/** Whether an injected fault hit this task: its events, its reports, its failure records, its item. */
function faultHitTask(fault: FaultEvent, jobId: string, taskId: number): boolean {
  return aboutTask(fault.subject, jobId, taskId) || (fault.subject.includes(jobId) && fault.subject.includes(`"${taskSortKey(taskId)}"`));
}

const shortId = (jobId: string) => jobId.slice(0, 8);

/** A task's sampler invocations, for a finding: which invocation, admitted when (ms after the job's creation), for how long, how it ended. */
function samplerHistory(jobId: string, taskId: number, createdAt: number): string {
  const runs = env.cloud
    .invocations('sampler')
    .filter((r) => aboutTask(r.payload, jobId, taskId))
    .map((r) => {
      const invocation = (JSON.parse(r.payload) as { invocation?: number }).invocation;
      const ran = r.endedAt === undefined ? 'not ended' : `${r.endedAt - r.startedAt} ms ${r.ok ? 'ok' : `failed: ${r.result?.slice(0, 80)}`}`;
      return `#${invocation} admitted at +${r.startedAt - createdAt} ms, ${ran}`;
    });
  return `sampler invocations: ${runs.join('; ') || 'none'}`;
}

describe('scale: the service within its limits and the scaled quotas', () => {
  it('a refused burst is 429 TooManyJobs with Retry-After and writes nothing, for a caller at its limit and for a full stack', async () => {
    // The filler jobs hold their places until cancelled: their samplers' events are all lost, so they use no CPU.
    env.cloud.faults!.configure({ seed: SEED, functions: { sampler: { drop: 1 } } });
    const filler = (i: number): JobRequest => ({ samples: 1_000_000, tasks: 2, seed: SEED + i });
    const fill = async (caller: LocalPrincipalName, i: number) => {
      const answer = await postJob(caller, filler(i), `scale-${SEED}-fill-${i}`);
      expect(answer.status, `filler ${i} admitted`).toBe(202);
      return answer.jobId!;
    };
    // Both task items of each filler written: the table holds all it will hold for them.
    const created = (jobIds: string[]) =>
      waitFor(async () => {
        const stored = await env.scanJobs();
        return jobIds.every((id) => stored.get(id)?.tasks.length === 2);
      }, 60_000, 'the filler jobs\' task items');
    const burst = async (callers: readonly LocalPrincipalName[], label: string) => {
      const before = await tableSnapshot();
      const answers = await Promise.all(
        callers.flatMap((caller) => [0, 1, 2].map((i) => postJob(caller, { samples: 1_000_000, tasks: 4, seed: i }, `scale-${SEED}-${label}-${caller}-${i}`))),
      );
      const after = await tableSnapshot();
      for (const a of answers) {
        expect(a.status, `${label}: ${a.caller}'s request was refused`).toBe(429);
        expect(a.code).toBe('TooManyJobs');
        expect(Number(a.retryAfter), `Retry-After ${a.retryAfter}`).toBeGreaterThanOrEqual(1);
      }
      // Not one item more or less, and the running jobs as they were (a caller's refusal gives back the stack's place it took).
      expect(after.keys).toEqual(before.keys);
      expect(after.admission).toEqual(before.admission);
    };

    const alices = [await fill('alice', 0), await fill('alice', 1)];
    await created(alices);
    await burst(['alice'], 'caller-full');
    const bobs = [await fill('bob', 2), await fill('bob', 3)];
    await created(bobs);
    await burst(CALLERS, 'stack-full');

    // Cancelling gives every place back.
    const fillers = [...alices, ...bobs];
    const views = await Promise.all(fillers.map((jobId) => clients[admittedJobs.get(jobId)!.caller].cancelJob(jobId)));
    expect(views.map((v) => v.status)).toEqual(fillers.map(() => 'CANCELLED'));
    const running = [...(await admissionMaps()).values()].flatMap((jobs) => Object.keys(jobs));
    expect(running).toEqual([]);
    const stored = await env.scanJobs();
    for (const jobId of fillers) expect(countProblems(stored.get(jobId)!.header!, stored.get(jobId)!.tasks)).toEqual([]);
  }, 240_000);

  it(`${JOBS} jobs from ${CALLERS.length} callers at once, one of ${BIG_JOB_TASKS} tasks, with faults: all admitted in turn, all exact`, async () => {
    const { cloud } = env;
    await env.quiet(['sampler', 'progress']);
    cloud.faults!.configure({ seed: SEED, ...FAULTS });
    cloud.faults!.clear();
    cloud.resetQuotaCounters();
    const attemptsBefore = attempts.length;

    const big: JobRequest = { samples: BIG_JOB_TASKS * BLOCK_SIZE, tasks: BIG_JOB_TASKS, seed: SEED };
    const requests = [big, ...randomJobs(JOBS - 1, SEED * 31 + 7)];
    const tasksAsked = requests.reduce((a, r) => a + r.tasks, 0);
    // The load this suite is about: more than the admission limit, and far more tasks than samplers.
    expect(requests.length).toBeGreaterThan(LIMITS.maxRunningJobs);
    expect(tasksAsked).toBeGreaterThanOrEqual(5 * LIMITS.samplerConcurrency);

    const admission = watchAdmission();
    const started = Date.now();
    const runs = await Promise.all(
      requests.map(async (request, i) => {
        const caller = CALLERS[i % CALLERS.length]!;
        const firstTriedAt = Date.now();
        const { jobId, tries } = await submitUntilAdmitted(caller, request, `scale-${SEED}-job-${i}`);
        const outcome = await followJob(clients[caller], request, jobId, { giveUpAt: Date.now() + (SERVICE_TIMES.jobTimeoutSeconds + 60) * 1000, pollMs: POLL_MS });
        return { caller, tries, outcome, clientMs: outcome.seenEndAt - firstTriedAt };
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const peaks = await admission.stop();
    await env.quiet(['sampler', 'progress']);

    const outcomes: JobOutcome[] = runs.map((r) => r.outcome);
    const faults = cloud.faults!.events();
    const verdict = await judge(env, outcomes, faults);
    const counters = cloud.quotaCounters();
    const stored = await env.scanJobs();
    const posted = attempts.slice(attemptsBefore);
    const refusals = posted.filter((a) => a.status === 429);

    // What each task's extra invocations were for: a fault that hit the task, or nothing but waiting.
    let restarts = 0;
    const unexplained: string[] = [];
    for (const { jobId } of outcomes) {
      for (const task of stored.get(jobId)?.tasks ?? []) {
        if (task.invocations <= 1) continue;
        restarts += task.invocations - 1;
        if (!faults.some((f) => faultHitTask(f, jobId, task.taskId))) {
          unexplained.push(`job ${jobId} task ${task.taskId}: ${task.invocations} invocations, no fault hit it; ${samplerHistory(jobId, task.taskId, stored.get(jobId)!.header!.createdAt)}`);
        }
      }
    }

    const { dynamodb } = counters;
    const partitionOf = (jobId: string) => dynamodb.partitions[`${table.name}/${jobKey(jobId)}`];
    const admissionPartition = dynamodb.partitions[`${table.name}/${admissionKey('stack').pk}`];
    const latencies = outcomes.map((o) => {
      const header = stored.get(o.jobId)!.header!;
      return (header.finishedAt ?? header.createdAt) - header.createdAt;
    });
    const quotas = counters.quotas!;
    const fmt = (n: number | undefined) => (n === undefined ? 'n/a' : Math.round(n));

    printTable(
      `Scale (seed ${SEED}): ${JOBS} jobs (${tasksAsked} tasks) from ${CALLERS.length} callers at once, quotas x${QUOTA_SCALE}, maxRunningJobs ${LIMITS.maxRunningJobs} (per caller ${LIMITS.maxRunningJobsPerCaller}), samplerConcurrency ${LIMITS.samplerConcurrency}`,
      ['job', 'caller', 'tasks', 'tries', 'status', 'restarts', 'peak WCU/s', 'peak RCU/s', 'run ms', 'client ms'],
      runs.map((r, i) => {
        const { jobId, view } = r.outcome;
        const tasks = stored.get(jobId)?.tasks ?? [];
        const partition = partitionOf(jobId);
        return [
          shortId(jobId),
          r.caller,
          requests[i]!.tasks,
          r.tries,
          view.status,
          tasks.reduce((a, t) => a + Math.max(0, t.invocations - 1), 0),
          fmt(partition?.peakWcuPerSecond),
          fmt(partition?.peakRcuPerSecond),
          latencies[i]!,
          r.clientMs,
        ];
      }),
    );
    const functionPeaks = Object.entries(counters.functions)
      .map(([id, f]) => `${id.replace(/[0-9A-F]{8}$/, '')} ${f.peakConcurrency}`)
      .join(', ');
    const functionThrottles = Object.entries(counters.functions)
      .map(([id, f]) => `${id.replace(/[0-9A-F]{8}$/, '')} ${f.throttles}`)
      .join(', ');
    const jobPeaks = outcomes.map((o) => partitionOf(o.jobId));
    const maxOf = (key: 'peakWcuPerSecond' | 'peakRcuPerSecond') => Math.max(...jobPeaks.map((p) => p?.[key] ?? 0));
    printTable(
      `Scale summary (${seconds.toFixed(1)} s)`,
      ['measure', 'value'],
      [
        ['jobs', JOBS],
        ['admitted at the first try', runs.filter((r) => r.tries === 1).length],
        ['admitted after retries', runs.filter((r) => r.tries > 1).length],
        ['refused (429 TooManyJobs)', refusals.length],
        ['SUCCEEDED', verdict.succeeded],
        ['FAILED', verdict.failed],
        ['peak running jobs (stack / a caller)', `${peaks.stack} / ${peaks.perCaller} (limits ${LIMITS.maxRunningJobs} / ${LIMITS.maxRunningJobsPerCaller}; ${peaks.samples} samples)`],
        ['peak concurrency, account', `${counters.account.peakConcurrency} (limit ${quotas.accountConcurrency})`],
        ['peak concurrency, by function', functionPeaks],
        ['peak WCU/s of a job partition', `${fmt(maxOf('peakWcuPerSecond'))} (limit ${quotas.partitionWcuPerSecond})`],
        ['peak RCU/s of a job partition', `${fmt(maxOf('peakRcuPerSecond'))} (limit ${quotas.partitionRcuPerSecond})`],
        ['peak WCU/s, RCU/s of the admission partition', `${fmt(admissionPartition?.peakWcuPerSecond)}, ${fmt(admissionPartition?.peakRcuPerSecond)}`],
        ['Lambda throttles, account', counters.account.throttles],
        ['Lambda throttles, by function', functionThrottles],
        ['DynamoDB throttles (read / write)', `${dynamodb.throttles.read} / ${dynamodb.throttles.write}`],
        ['faults injected', Object.entries(cloud.faults!.counts()).map(([k, n]) => `${k} ${n}`).join(', ')],
        ['task restarts (unexplained by a fault)', `${restarts} (${unexplained.length})`],
        ['p50 / p95 job latency, created to finished (ms)', `${quantile(latencies, 0.5)} / ${quantile(latencies, 0.95)}`],
        ['p95 latency seen by a client, first try to end (ms)', quantile(runs.map((r) => r.clientMs), 0.95)],
      ],
    );

    // Each finding on its own (soft), so one run shows them all.
    // Every admitted job exact; none FAILED, for capacity or anything else.
    expect.soft(verdict.problems).toEqual([]);
    expect.soft(outcomes.filter((o) => o.view.status !== 'SUCCEEDED').map((o) => `job ${o.jobId} ${o.view.status}: ${o.view.reason}`)).toEqual([]);
    // The limits bound: clients were refused and came back. Every refusal is the service's, with Retry-After.
    expect.soft(refusals.length).toBeGreaterThan(0);
    expect.soft(runs.some((r) => r.tries > 1)).toBe(true);
    for (const a of posted.filter((p) => p.status !== 202)) {
      expect.soft(a.status, `${a.caller} ${a.key}: ${a.status} ${a.code}`).toBe(429);
      expect.soft(a.code).toBe('TooManyJobs');
      expect.soft(Number(a.retryAfter), `Retry-After ${a.retryAfter}`).toBeGreaterThanOrEqual(1);
    }
    // Refused tries wrote nothing: no job in the table but the admitted ones, none created under a refused key.
    const jobsInTable = [...stored.entries()].filter(([, j]) => j.header || j.tasks.length > 0);
    expect.soft(jobsInTable.map(([id]) => id).filter((id) => !admittedJobs.has(id))).toEqual([]);
    expect.soft(jobsInTable.map(([, j]) => j.header?.idempotencyKey).filter((key) => key !== undefined && refusedKeys.has(key))).toEqual([]);
    // Never more running jobs than admitted, in the stack or for a caller.
    expect.soft(peaks.stack).toBeLessThanOrEqual(LIMITS.maxRunningJobs);
    expect.soft(peaks.perCaller).toBeLessThanOrEqual(LIMITS.maxRunningJobsPerCaller);
    // Waiting for concurrency is no reason to start a task again.
    expect.soft(unexplained).toEqual([]);
    // A job's partition stayed under the scaled limit, or it was throttled there and its jobs survived (exact, above).
    if (maxOf('peakWcuPerSecond') > quotas.partitionWcuPerSecond) expect.soft(dynamodb.throttles.write, 'a partition over its write limit was throttled').toBeGreaterThan(0);
    if (maxOf('peakRcuPerSecond') > quotas.partitionRcuPerSecond) expect.soft(dynamodb.throttles.read, 'a partition over its read limit was throttled').toBeGreaterThan(0);
  }, 600_000);
});
