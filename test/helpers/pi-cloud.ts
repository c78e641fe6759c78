// The synthesized stack on the local cloud with the quick settings that chaos, fuzz and load tests
// need (short polls, stalls, deadlines and retry delays), plus its API client and a table reader.
import { afterAll, beforeAll } from 'vitest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ApiClient } from '../../cli/api-client.js';
import { waitFor } from './pool.js';
import { ensureSynth } from '../../cli/synth.js';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from '../../local/index.js';
import { variablesFor, type FunctionSettings } from './function-env.js';
import type { JobHeader, TaskItem } from '../../functions/shared/job.js';
import { itemToJobItem, jobIdOfKey } from '../../functions/shared/store/items.js';

export interface PiCloudOptions extends Omit<LocalCloudOptions, 'templatePath' | 'log'> {
  /** Merged over the quick defaults, by function and configuration field. */
  env?: FunctionSettings;
  /** Keep every log line in `logs` (default: only the last 20,000). */
  keepLogs?: number;
}

/** Quick settings: a job's life is seconds, so faults, restarts and deadlines play out within a test. */
export const QUICK = {
  pollIntervalMs: 500,
  stallSeconds: 3,
  taskRestarts: 2,
  jobTimeoutSeconds: 30,
  reportIntervalMs: 0,
  retryDelayMs: 200,
  // A lost sampler event is replaced once it is this old plus a stall limit (4 s here).
  samplerMaxEventAgeSeconds: 1,
  // Tests submit many jobs at once from one principal; the scale suite sets the real limits.
  maxRunningJobs: 1000,
  maxRunningJobsPerCaller: 1000,
} as const;

export interface PiCloud {
  cloud: LocalCloud;
  client: ApiClient;
  logs: string[];
  /** Every item of the table, grouped by job id (items without a job header are under their own id too). */
  scanJobs(): Promise<Map<string, { header?: JobHeader; tasks: TaskItem[]; other: Record<string, unknown>[] }>>;
  /** Every item of the table, raw. */
  scanItems(): Promise<Record<string, unknown>[]>;
  /**
   * Resolves once no async event is queued and no invocation runs (of `functions`, or of any), so one
   * case's stragglers do not land in the next.
   */
  quiet(functions?: string[]): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the cloud before a test file's tests and stops it after them; the object is filled in before the first test runs. */
export function usePiCloud(options: PiCloudOptions = {}): PiCloud {
  const env = {} as PiCloud;
  beforeAll(async () => void Object.assign(env, await startPiCloud(options)), 240_000);
  afterAll(async () => {
    await env.stop?.();
  });
  return env;
}

export async function startPiCloud(options: PiCloudOptions = {}): Promise<PiCloud> {
  const templatePath = await ensureSynth();
  const { env = {}, keepLogs = 20_000, ...cloudOptions } = options;
  // The orchestrator chooses each sampler run's report interval (the sampler's own is its fallback):
  // a test's sampler interval is the orchestrator's too.
  const reportIntervalMs = env.sampler?.reportIntervalMs ?? QUICK.reportIntervalMs;
  const logs: string[] = [];
  const cloud = await startLocalCloud({
    templatePath,
    retryDelayMs: QUICK.retryDelayMs,
    // A job's run holds an orchestrator worker for the job's life (it sleeps between polls), so the
    // orchestrator gets many cheap workers; sampling and reports are CPU work, kept to a few.
    maxWorkersPerFunction: { orchestrator: 12, '*': 4 },
    ...cloudOptions,
    envOverrides: {
      ...variablesFor({
        orchestrator: {
          pollIntervalMs: QUICK.pollIntervalMs,
          stallSeconds: QUICK.stallSeconds,
          taskRestarts: QUICK.taskRestarts,
          jobTimeoutSeconds: QUICK.jobTimeoutSeconds,
          samplerMaxEventAgeSeconds: QUICK.samplerMaxEventAgeSeconds,
          maxRunningJobs: QUICK.maxRunningJobs,
          maxRunningJobsPerCaller: QUICK.maxRunningJobsPerCaller,
          reportIntervalMs,
          ...env.orchestrator,
        },
        sampler: { ...env.sampler, reportIntervalMs },
        progress: env.progress,
      }),
      ...cloudOptions.envOverrides,
    },
    log: (line) => {
      logs.push(line);
      if (logs.length > keepLogs) logs.splice(0, logs.length - keepLogs);
    },
  });
  const table = Object.values(cloud.tableNames)[0]!;
  const raw = new DynamoDBClient({ endpoint: cloud.dynamodbEndpoint, region: cloud.region, credentials: cloud.credentials });
  const db = DynamoDBDocumentClient.from(raw);
  const client = new ApiClient({ endpoint: cloud.apiUrl, region: cloud.region, credentials: cloud.credentials });

  const scanItems = async (): Promise<Record<string, unknown>[]> => {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await db.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  };

  return {
    cloud,
    client,
    logs,
    scanItems,
    async quiet(functions) {
      const idle = () =>
        cloud.pendingEvents() === 0 && (functions ?? [undefined]).every((fn) => cloud.invocationsInFlight(fn) === 0);
      await waitFor(idle, 30_000, 'the cloud to go quiet', 100);
    },
    async scanJobs() {
      const jobs = new Map<string, { header?: JobHeader; tasks: TaskItem[]; other: Record<string, unknown>[] }>();
      for (const item of await scanItems()) {
        const id = jobIdOfKey(item.pk) ?? String(item.pk);
        const entry = jobs.get(id) ?? { tasks: [], other: [] };
        jobs.set(id, entry);
        const read = itemToJobItem(item);
        if (read?.kind === 'header') entry.header = read.header;
        else if (read?.kind === 'task') entry.tasks.push(read.task);
        else entry.other.push(item);
      }
      for (const entry of jobs.values()) entry.tasks.sort((a, b) => a.taskId - b.taskId);
      return jobs;
    },
    async stop() {
      raw.destroy();
      await cloud.stop();
    },
  };
}
