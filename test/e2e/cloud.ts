import { afterAll, beforeAll } from 'vitest';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from '../../local/index.js';
import { ApiClient } from '../../cli/api-client.js';
import { ensureSynth } from '../../cli/synth.js';

export interface E2eCloud {
  cloud: LocalCloud;
  client: ApiClient;
  logs: string[];
  stop(): Promise<void>;
}

/**
 * The real synthesized stack (synthesized first when cdk.out is missing or stale, with the CLI's
 * own step) on the local cloud, and the API client every user of the API goes through.
 */
export async function startE2eCloud(options: Omit<LocalCloudOptions, 'templatePath' | 'log'> = {}): Promise<E2eCloud> {
  const templatePath = await ensureSynth();
  const logs: string[] = [];
  const cloud = await startLocalCloud({ ...options, templatePath, log: (line) => logs.push(line) });
  const client = new ApiClient({ endpoint: cloud.apiUrl, region: cloud.region, credentials: cloud.credentials });
  return { cloud, client, logs, stop: () => cloud.stop() };
}

/** Starts the cloud before a test file's tests and stops it after them; the object is filled in before the first test runs. */
export function useE2eCloud(options?: Omit<LocalCloudOptions, 'templatePath' | 'log'>): E2eCloud {
  const env = {} as E2eCloud;
  beforeAll(async () => void Object.assign(env, await startE2eCloud(options)), 240_000);
  afterAll(async () => {
    await env.stop?.();
  });
  return env;
}
