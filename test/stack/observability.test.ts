import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS_NAMESPACE, POWERTOOLS_ENV, SERVICE_NAMES } from '../../functions/shared/telemetry.js';
import { PiStack, type PiStackProps } from '../../infra/pi-stack.js';
import { cdkApp, logicalId } from './template-helpers.js';

// No bundling: tracing, environment, dashboard and alarms do not depend on the functions' code.
const noBundling = () => cdkApp({ context: { 'aws:cdk:bundling-stacks': [] } });
const synth = (props: PiStackProps = {}) => {
  const stack = new PiStack(noBundling(), 'PiStack', props);
  return { stack, template: Template.fromStack(stack) };
};

type Resources = Record<string, { Properties: Record<string, any> }>;

let stack: PiStack;
let template: Template;
let functionIds: Record<keyof typeof SERVICE_NAMES, string>;
beforeAll(() => {
  ({ stack, template } = synth());
  functionIds = {
    orchestrator: logicalId(stack, stack.orchestrator),
    sampler: logicalId(stack, stack.sampler),
    progress: logicalId(stack, stack.progress),
  };
});

const functionsOf = (t: Template) => t.findResources('AWS::Lambda::Function') as Resources;

describe('tracing', () => {
  it('every function traces actively (X-Ray)', () => {
    const functions = Object.values(functionsOf(template));
    expect(functions).toHaveLength(3);
    for (const fn of functions) expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
  });

  it('the API stage traces its requests', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: 'prod', TracingEnabled: true });
  });
});

describe("Powertools' environment", () => {
  const powertoolsOf = (t: Template, id: string) => {
    const variables = functionsOf(t)[id].Properties.Environment.Variables as Record<string, unknown>;
    return Object.fromEntries(Object.values(POWERTOOLS_ENV).map((name) => [name, variables[name]]));
  };

  it('every function gets its service name, the metrics namespace and the INFO level by default', () => {
    for (const [name, id] of Object.entries(functionIds) as [keyof typeof SERVICE_NAMES, string][]) {
      expect(powertoolsOf(template, id)).toEqual({
        [POWERTOOLS_ENV.serviceName]: SERVICE_NAMES[name],
        [POWERTOOLS_ENV.metricsNamespace]: METRICS_NAMESPACE,
        [POWERTOOLS_ENV.logLevel]: 'INFO',
      });
    }
  });

  it('logLevel reaches every function', () => {
    const { template: debug } = synth({ logLevel: 'DEBUG' });
    for (const id of Object.values(functionIds)) expect(powertoolsOf(debug, id)[POWERTOOLS_ENV.logLevel]).toBe('DEBUG');
  });

  it('a logLevel other than DEBUG, INFO, WARN or ERROR fails synth, naming the choices', () => {
    for (const bad of ['TRACE', 'info', '', 3]) {
      expect(() => synth({ logLevel: bad as PiStackProps['logLevel'] })).toThrow(
        `PiStack: logLevel must be one of DEBUG, INFO, WARN, ERROR, got ${JSON.stringify(bad)}`,
      );
    }
  });
});
