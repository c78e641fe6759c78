import { describe, expect, it } from 'vitest';
import { useE2eCloud } from '../e2e/cloud.js';
import { faultFreeInside } from '../helpers/job-oracle.js';
import { runNpm } from './run.js';

// One client, two targets: `--endpoint` sends the same signed requests to any stage URL, with
// credentials from the standard AWS chain (here: the environment). The local cloud stands in for
// a deployed stack.
const env = useE2eCloud();

describe('npm start -- --endpoint', () => {
  const credentialsEnv = () => ({
    AWS_ACCESS_KEY_ID: env.cloud.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.cloud.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_PROFILE: '',
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  });

  it('runs the job on the given stage, signing with the credential chain, and starts no local cloud', async () => {
    const run = await runNpm(['start', '--', '--endpoint', env.cloud.apiUrl, '--samples', '1e6', '--tasks', '2', '--seed', '3'], {
      env: credentialsEnv(),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`API ${env.cloud.apiUrl} (region us-east-1, credentials from the AWS credential chain)`);
    expect(run.stdout).not.toMatch(/Local cloud|Synthesizing/);
    const inside = faultFreeInside(3, 1_000_000);
    expect(Number(/^Estimated value of π is: (\S+)$/m.exec(run.stdout)?.[1])).toBe((4 * inside) / 1_000_000);
    expect(run.stdout).toMatch(/^Progress: 100%$/m);
  }, 120_000);

  it('with credentials the stage does not accept, prints the 403 and exits non-zero', async () => {
    const run = await runNpm(['start', '--', '--endpoint', env.cloud.apiUrl, '--samples', '1e6', '--tasks', '2'], {
      env: { ...credentialsEnv(), AWS_SECRET_ACCESS_KEY: 'wrong-secret' },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: the API answered 403 /m);
  }, 120_000);
});
