import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ORCHESTRATOR_ENV } from '../../functions/orchestrator/config.js';
import { SAMPLER_ENV } from '../../functions/sampler/config.js';
import { DEFAULT_LIMITS, PiStack, resolveLimits } from '../../infra/pi-stack.js';
import { cdkApp } from './template-helpers.js';

describe('limits chosen at deploy time', () => {
  let template: Template;
  beforeAll(() => {
    const stack = new PiStack(cdkApp(), 'PiStack', {
      maxTasks: 50,
      maxSamples: 5e9,
      maxSamplesPerTask: 2e8,
      maxConcurrentSamplers: 7,
      samplerReservedConcurrency: 7,
      maxRunningJobs: 4,
      maxRunningJobsPerCaller: 2,
      samplerMaxEventAgeSeconds: 90,
      jobTimeoutSeconds: 120,
      estimateWaitSeconds: 10,
      apiThrottlingRateLimit: 3,
      apiThrottlingBurstLimit: 4,
      stallSeconds: 20,
      taskRestarts: 0,
      pollIntervalMs: 250,
      reportIntervalMs: 500,
      jobTtlDays: 2,
      apiGatewayCloudWatchRole: false,
    });
    template = Template.fromStack(stack);
  });

  it('reach the orchestrator environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          [ORCHESTRATOR_ENV.maxTasks]: '50',
          [ORCHESTRATOR_ENV.maxSamples]: '5000000000',
          [ORCHESTRATOR_ENV.maxSamplesPerTask]: '200000000',
          [ORCHESTRATOR_ENV.jobTimeoutSeconds]: '120',
          [ORCHESTRATOR_ENV.estimateWaitSeconds]: '10',
          [ORCHESTRATOR_ENV.samplerConcurrency]: '7',
          [ORCHESTRATOR_ENV.maxRunningJobs]: '4',
          [ORCHESTRATOR_ENV.maxRunningJobsPerCaller]: '2',
          [ORCHESTRATOR_ENV.samplerMaxEventAgeSeconds]: '90',
          [ORCHESTRATOR_ENV.reportIntervalMs]: '500',
          [ORCHESTRATOR_ENV.stallSeconds]: '20',
          [ORCHESTRATOR_ENV.taskRestarts]: '0',
          [ORCHESTRATOR_ENV.pollIntervalMs]: '250',
          [ORCHESTRATOR_ENV.jobTtlDays]: '2',
        }),
      },
    });
  });

  it('reach the sampler environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 300,
      Environment: {
        Variables: Match.objectLike({ [SAMPLER_ENV.reportIntervalMs]: '500' }),
      },
    });
  });

  it('set the sampler concurrency, the event ages and the stage throttling', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 300, ReservedConcurrentExecutions: 7 });
    const ages = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).map(
      (c) => c.Properties.MaximumEventAgeInSeconds,
    );
    expect(ages.sort()).toEqual([120, 3600, 90]);
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 3, ThrottlingBurstLimit: 4 })],
    });
  });

  it('can leave the account-wide API Gateway logging role to another stack', () => {
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });
});

describe('limit checks at synth time', () => {
  // The default values themselves are pinned where they matter, in the synthesized template (pi-stack.test.ts).
  it('takes the properties given and the defaults for the rest', () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS);
    // The timings the handlers used as code defaults before the stack wrote them.
    expect(DEFAULT_LIMITS).toMatchObject({ stallSeconds: 60, taskRestarts: 2, pollIntervalMs: 1000, reportIntervalMs: 1000, jobTtlDays: 7 });
    expect(resolveLimits({ maxTasks: 5000, jobTimeoutSeconds: 120 })).toEqual({ ...DEFAULT_LIMITS, maxTasks: 5000, jobTimeoutSeconds: 120 });
  });

  it.each([
    [{ maxTasks: 0 }, /maxTasks must be an integer from 1 to 10000 \(task items are keyed by a four-digit task id\), got 0/],
    [{ maxTasks: 10_001 }, /maxTasks must be an integer from 1 to 10000/],
    [{ maxSamples: 1.5 }, /maxSamples must be an integer from 1 to 9007199254740991 \(the API carries JSON numbers\), got 1.5/],
    [{ maxSamples: 2 ** 53 }, /maxSamples must be an integer from 1 to 9007199254740991/],
    [{ samplerReservedConcurrency: Number.NaN }, /samplerReservedConcurrency must be an integer from 1 to 100000, got NaN/],
    [{ maxSamplesPerTask: 2e10 }, /cannot finish within the sampler's 300 s timeout/],
    [{ maxTasks: 10, maxSamples: 1e12 }, /maxSamples \(1000000000000\) is unreachable/],
    [{ jobTimeoutSeconds: 900 }, /jobTimeoutSeconds must be an integer from 60 to 899 \(.*Lambda allows from 60 s/],
    [{ jobTimeoutSeconds: 59 }, /jobTimeoutSeconds must be an integer from 60 to 899/],
    [{ estimateWaitSeconds: 29 }, /estimateWaitSeconds must be an integer from 1 to 28 \(below API Gateway's 29 s timeout\)/],
    [{ apiThrottlingRateLimit: 0 }, /apiThrottlingRateLimit must be an integer from 1 to/],
    [{ taskRestarts: -1 }, /taskRestarts must be an integer from 0 to 10, got -1/],
    [{ taskRestarts: 11 }, /taskRestarts must be an integer from 0 to 10, got 11/],
    [{ pollIntervalMs: 99 }, /pollIntervalMs must be an integer from 100 to 10000/],
    [{ pollIntervalMs: 10_001 }, /pollIntervalMs must be an integer from 100 to 10000/],
    [{ reportIntervalMs: 0 }, /reportIntervalMs must be an integer from 100 to 60000/],
    [{ jobTtlDays: 0 }, /jobTtlDays must be an integer from 1 to 365/],
    [{ jobTtlDays: 366 }, /jobTtlDays must be an integer from 1 to 365/],
    [{ stallSeconds: 0 }, /stallSeconds must be an integer from 1 to 899/],
    [{ stallSeconds: 10 }, /stallSeconds \(10\) must exceed the longest report interval \(1000 ms, .*\) by at least 10 s/],
    [{ stallSeconds: 20, reportIntervalMs: 10_001 }, /stallSeconds \(20\) must exceed the longest report interval \(10001 ms/],
    // 1,000 samplers of one job report every 10 s to stay within the job's write budget.
    [{ stallSeconds: 19, maxConcurrentSamplers: 1000 }, /stallSeconds \(19\) must exceed the longest report interval \(10000 ms/],
    [{ maxConcurrentSamplers: 0 }, /maxConcurrentSamplers must be an integer from 1 to 100000, got 0/],
    [{ maxConcurrentSamplers: 50, samplerReservedConcurrency: 49 }, /samplerReservedConcurrency \(49\) must be at least maxConcurrentSamplers \(50\)/],
    [{ maxRunningJobs: 0 }, /maxRunningJobs must be an integer from 1 to 100 \(the running jobs are one item/],
    [{ maxRunningJobs: 101 }, /maxRunningJobs must be an integer from 1 to 100/],
    [{ maxRunningJobs: 3, maxRunningJobsPerCaller: 4 }, /maxRunningJobsPerCaller \(4\) must be at most maxRunningJobs \(3\)/],
    [{ samplerMaxEventAgeSeconds: 59 }, /samplerMaxEventAgeSeconds must be an integer from 60 to 21600 \(Lambda allows maximum event ages from 60 s\)/],
    [{ stallSeconds: 20, pollIntervalMs: 7000 }, /stallSeconds \(20\) must span at least three polls \(pollIntervalMs 7000\)/],
    [{ stallSeconds: 120, jobTimeoutSeconds: 120 }, /stallSeconds \(120\) must be below jobTimeoutSeconds \(120\)/],
  ])('rejects %o', (props, message) => {
    expect(() => resolveLimits(props)).toThrow(message);
  });

  it('accepts the edges of the timing checks', () => {
    expect(resolveLimits({ stallSeconds: 11, reportIntervalMs: 1000, pollIntervalMs: 3000 })).toMatchObject({ stallSeconds: 11, pollIntervalMs: 3000 });
    expect(resolveLimits({ stallSeconds: 60, jobTimeoutSeconds: 61, taskRestarts: 0 })).toMatchObject({ stallSeconds: 60, taskRestarts: 0 });
    expect(resolveLimits({ stallSeconds: 20, maxConcurrentSamplers: 1000 })).toMatchObject({ stallSeconds: 20, maxConcurrentSamplers: 1000 });
    expect(resolveLimits({ maxConcurrentSamplers: 50, samplerReservedConcurrency: 50, maxRunningJobs: 1, maxRunningJobsPerCaller: 1 })).toMatchObject({
      samplerReservedConcurrency: 50,
    });
  });

  it('accepts the largest per-task size that fits the sampler timeout at 50 M samples/s', () => {
    expect(resolveLimits({ maxSamplesPerTask: 1.5e10 }).maxSamplesPerTask).toBe(1.5e10);
  });
});
