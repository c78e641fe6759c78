import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, PiStack, resolveLimits } from '../../infra/pi-stack.js';
import { cdkApp } from './template-helpers.js';

describe('limits chosen at deploy time', () => {
  let template: Template;
  beforeAll(() => {
    const stack = new PiStack(cdkApp(), 'PiStack', {
      maxTasks: 50,
      maxSamples: 5e9,
      maxSamplesPerTask: 2e8,
      samplerReservedConcurrency: 7,
      jobTimeoutSeconds: 120,
      estimateWaitSeconds: 10,
      apiThrottlingRateLimit: 3,
      apiThrottlingBurstLimit: 4,
      apiGatewayCloudWatchRole: false,
    });
    template = Template.fromStack(stack);
  });

  it('reach the orchestrator environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          MAX_TASKS: '50',
          MAX_SAMPLES: '5000000000',
          MAX_SAMPLES_PER_TASK: '200000000',
          JOB_TIMEOUT_SECONDS: '120',
          ESTIMATE_WAIT_SECONDS: '10',
          SAMPLER_CONCURRENCY: '7',
        }),
      },
    });
  });

  it('set the sampler concurrency, the event ages and the stage throttling', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 300, ReservedConcurrentExecutions: 7 });
    const ages = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).map(
      (c) => c.Properties.MaximumEventAgeInSeconds,
    );
    expect(ages.sort()).toEqual([120, 120, 3600]);
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
    expect(resolveLimits({ maxTasks: 5000, jobTimeoutSeconds: 120 })).toEqual({ ...DEFAULT_LIMITS, maxTasks: 5000, jobTimeoutSeconds: 120 });
  });

  it.each([
    [{ maxTasks: 0 }, /maxTasks must be a positive integer/],
    [{ maxSamples: 1.5 }, /maxSamples must be a positive integer/],
    [{ maxSamples: 2 ** 53 }, /maxSamples must be a positive integer/],
    [{ samplerReservedConcurrency: Number.NaN }, /samplerReservedConcurrency must be a positive integer/],
    [{ maxSamplesPerTask: 2e10 }, /cannot finish within the sampler's 300 s timeout/],
    [{ maxTasks: 10, maxSamples: 1e12 }, /maxSamples \(1000000000000\) is unreachable/],
    [{ jobTimeoutSeconds: 900 }, /jobTimeoutSeconds must be between 60 and 899/],
    [{ jobTimeoutSeconds: 59 }, /jobTimeoutSeconds must be between 60 and 899/],
    [{ estimateWaitSeconds: 29 }, /below API Gateway's 29 s timeout/],
  ])('rejects %o', (props, message) => {
    expect(() => resolveLimits(props)).toThrow(message);
  });

  it('accepts the largest per-task size that fits the sampler timeout at 50 M samples/s', () => {
    expect(resolveLimits({ maxSamplesPerTask: 1.5e10 }).maxSamplesPerTask).toBe(1.5e10);
  });
});
