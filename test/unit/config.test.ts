import { describe, expect, it } from 'vitest';
import { ORCHESTRATOR_ENV, orchestratorConfig } from '../../functions/orchestrator/config.js';
import { PROGRESS_ENV, progressConfig } from '../../functions/progress/config.js';
import { SAMPLER_ENV, samplerConfig } from '../../functions/sampler/config.js';
import { intVariable, readInt } from '../../functions/shared/env.js';

type OrchestratorEnvironment = Parameters<typeof orchestratorConfig.environment>[0];

// The names are the functions' contract with the stack, the README, `env.json` for `sam local`
// and the tests that tune a function: pinned here, the one place a test spells them.
describe('variable names', () => {
  it('are these, and each is read by one field', () => {
    expect(ORCHESTRATOR_ENV).toEqual({
      tableName: 'TABLE_NAME',
      samplerFunctionName: 'SAMPLER_FUNCTION_NAME',
      maxTasks: 'MAX_TASKS',
      maxSamples: 'MAX_SAMPLES',
      maxSamplesPerTask: 'MAX_SAMPLES_PER_TASK',
      jobTimeoutSeconds: 'JOB_TIMEOUT_SECONDS',
      estimateWaitSeconds: 'ESTIMATE_WAIT_SECONDS',
      samplerConcurrency: 'SAMPLER_CONCURRENCY',
      reportIntervalMs: 'REPORT_INTERVAL_MS',
      samplerMaxEventAgeSeconds: 'SAMPLER_MAX_EVENT_AGE_SECONDS',
      maxRunningJobs: 'MAX_RUNNING_JOBS',
      maxRunningJobsPerCaller: 'MAX_RUNNING_JOBS_PER_CALLER',
      partitionWriteUnitsPerSecond: 'PARTITION_WRITE_UNITS_PER_SECOND',
      pollIntervalMs: 'POLL_INTERVAL_MS',
      taskRestarts: 'TASK_RESTARTS',
      stallSeconds: 'STALL_SECONDS',
      jobTtlDays: 'JOB_TTL_DAYS',
      functionName: 'AWS_LAMBDA_FUNCTION_NAME',
    });
    expect(SAMPLER_ENV).toEqual({ progressFunctionName: 'PROGRESS_FUNCTION_NAME', reportIntervalMs: 'REPORT_INTERVAL_MS' });
    expect(PROGRESS_ENV).toEqual({ tableName: 'TABLE_NAME' });
    for (const names of [ORCHESTRATOR_ENV, SAMPLER_ENV, PROGRESS_ENV]) {
      expect(new Set(Object.values(names)).size).toBe(Object.values(names).length);
    }
  });
});

const orchestratorValues: OrchestratorEnvironment = {
  tableName: 'jobs',
  samplerFunctionName: 'sampler',
  maxTasks: 1000,
  maxSamples: 1e12,
  maxSamplesPerTask: 1e10,
  jobTimeoutSeconds: 600,
  estimateWaitSeconds: 25,
  samplerConcurrency: 100,
  reportIntervalMs: 1000,
  samplerMaxEventAgeSeconds: 120,
  maxRunningJobs: 10,
  maxRunningJobsPerCaller: 5,
  partitionWriteUnitsPerSecond: 1000,
  pollIntervalMs: 1000,
  taskRestarts: 2,
  stallSeconds: 60,
  jobTtlDays: 7,
};
/** What Lambda would hand the orchestrator: the stack's environment plus its own name. */
const orchestratorEnv = () => ({ ...orchestratorConfig.environment(orchestratorValues), AWS_LAMBDA_FUNCTION_NAME: 'orchestrator' });

describe('orchestrator configuration', () => {
  it('reads back, typed, what the stack writes, and its own name from Lambda', () => {
    expect(orchestratorConfig.read(orchestratorEnv())).toEqual({ ...orchestratorValues, functionName: 'orchestrator' });
  });

  it('the stack writes every variable but the one Lambda sets, as decimal strings', () => {
    expect(orchestratorConfig.environment(orchestratorValues)).toEqual({
      TABLE_NAME: 'jobs',
      SAMPLER_FUNCTION_NAME: 'sampler',
      MAX_TASKS: '1000',
      MAX_SAMPLES: '1000000000000',
      MAX_SAMPLES_PER_TASK: '10000000000',
      JOB_TIMEOUT_SECONDS: '600',
      ESTIMATE_WAIT_SECONDS: '25',
      SAMPLER_CONCURRENCY: '100',
      REPORT_INTERVAL_MS: '1000',
      SAMPLER_MAX_EVENT_AGE_SECONDS: '120',
      MAX_RUNNING_JOBS: '10',
      MAX_RUNNING_JOBS_PER_CALLER: '5',
      PARTITION_WRITE_UNITS_PER_SECOND: '1000',
      POLL_INTERVAL_MS: '1000',
      TASK_RESTARTS: '2',
      STALL_SECONDS: '60',
      JOB_TTL_DAYS: '7',
    });
  });

  it('accepts both ends of every range', () => {
    for (const v of Object.values(orchestratorConfig.variables)) {
      if (v.kind !== 'int') continue;
      for (const edge of [v.min, v.max]) {
        expect(orchestratorConfig.read({ ...orchestratorEnv(), [v.name]: String(edge) })).toHaveProperty(
          Object.entries(ORCHESTRATOR_ENV).find(([, name]) => name === v.name)![0],
          edge,
        );
      }
    }
  });

  it.each(Object.values(ORCHESTRATOR_ENV))('throws naming %s when it is missing or empty', (name) => {
    const env: Record<string, string | undefined> = orchestratorEnv();
    delete env[name];
    expect(() => orchestratorConfig.read(env)).toThrow(new RegExp(`^${name} environment variable is not set`));
    expect(() => orchestratorConfig.read({ ...orchestratorEnv(), [name]: '' })).toThrow(new RegExp(`^${name} environment variable is not set`));
  });

  it.each([
    ['MAX_TASKS', '0', 'an integer from 1 to 10000'],
    ['MAX_TASKS', '10001', 'an integer from 1 to 10000'],
    ['MAX_SAMPLES', '9007199254740992', 'an integer from 1 to 9007199254740991'],
    ['JOB_TIMEOUT_SECONDS', '900', 'an integer from 1 to 899'],
    ['ESTIMATE_WAIT_SECONDS', '29', 'an integer from 1 to 28'],
    // No task could ever start: this used to be a check of its own in the handler.
    ['SAMPLER_CONCURRENCY', '0', 'an integer from 1 to 100000'],
    ['POLL_INTERVAL_MS', '0', 'an integer from 1 to 60000'],
    ['TASK_RESTARTS', '-1', 'an integer from 0 to 10'],
    ['TASK_RESTARTS', '11', 'an integer from 0 to 10'],
    ['STALL_SECONDS', '0', 'an integer from 1 to 899'],
    ['JOB_TTL_DAYS', '366', 'an integer from 0 to 365'],
  ])('throws naming %s and its range when it is %s', (name, raw, range) => {
    expect(() => orchestratorConfig.read({ ...orchestratorEnv(), [name]: raw })).toThrow(
      `${name} environment variable must be ${range}, got "${raw}"`,
    );
  });

  it('builds no environment the handler would refuse', () => {
    expect(() => orchestratorConfig.environment({ ...orchestratorValues, samplerConcurrency: 0 })).toThrow(
      'SAMPLER_CONCURRENCY must be an integer from 1 to 100000, got 0',
    );
    expect(() => orchestratorConfig.environment({ ...orchestratorValues, stallSeconds: 1.5 })).toThrow('STALL_SECONDS must be an integer from 1 to 899, got 1.5');
    expect(() => orchestratorConfig.environment({ ...orchestratorValues, tableName: '' })).toThrow('TABLE_NAME must be a non-empty string');
  });
});

describe('sampler configuration', () => {
  const env = () => samplerConfig.environment({ progressFunctionName: 'progress', reportIntervalMs: 1000 });

  it('reads back, typed, what the stack writes', () => {
    expect(env()).toEqual({ PROGRESS_FUNCTION_NAME: 'progress', REPORT_INTERVAL_MS: '1000' });
    expect(samplerConfig.read(env())).toEqual({ progressFunctionName: 'progress', reportIntervalMs: 1000 });
  });

  it('takes a report interval of 0 (a report at every block boundary) and refuses more than a minute', () => {
    expect(samplerConfig.read({ ...env(), REPORT_INTERVAL_MS: '0' }).reportIntervalMs).toBe(0);
    expect(() => samplerConfig.read({ ...env(), REPORT_INTERVAL_MS: '60001' })).toThrow(
      'REPORT_INTERVAL_MS environment variable must be an integer from 0 to 60000, got "60001"',
    );
  });

  it('throws naming a missing variable; no value has a default', () => {
    expect(() => samplerConfig.read({ PROGRESS_FUNCTION_NAME: 'progress' })).toThrow(
      'REPORT_INTERVAL_MS environment variable is not set; it must be an integer from 0 to 60000',
    );
    expect(() => samplerConfig.read({ REPORT_INTERVAL_MS: '1000' })).toThrow('PROGRESS_FUNCTION_NAME environment variable is not set');
  });
});

describe('progress configuration', () => {
  it('reads the table name, and throws naming it when missing', () => {
    expect(progressConfig.read(progressConfig.environment({ tableName: 'jobs' }))).toEqual({ tableName: 'jobs' });
    expect(() => progressConfig.read({})).toThrow('TABLE_NAME environment variable is not set');
  });
});

describe('integer parsing', () => {
  const samples = intVariable('SAMPLES', 0, 1e12);

  it.each(['abc', '1e3', '0x10', '5.0', '5.5', ' 5', '5 ', '+5', '1_000', 'NaN', 'Infinity', '--1'])('refuses %j, never falling back', (raw) => {
    expect(() => readInt({ SAMPLES: raw }, samples)).toThrow(`SAMPLES environment variable must be an integer from 0 to 1000000000000, got ${JSON.stringify(raw)}`);
  });

  it('reads plain decimal integers, leading zeros included', () => {
    expect(readInt({ SAMPLES: '0' }, samples)).toBe(0);
    expect(readInt({ SAMPLES: '007' }, samples)).toBe(7);
    expect(readInt({ SAMPLES: '1000000000000' }, samples)).toBe(1e12);
  });

  it('refuses an integer too large to be exact', () => {
    const any = intVariable('ANY', 0, Number.MAX_SAFE_INTEGER);
    expect(() => readInt({ ANY: '9007199254740993' }, any)).toThrow('ANY environment variable must be an integer from 0 to 9007199254740991');
  });

  it('refuses a range that is not one', () => {
    expect(() => intVariable('BAD', 5, 1)).toThrow('BAD: bad range 5..1');
  });
});
