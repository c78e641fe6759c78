import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS, METRICS_NAMESPACE, POWERTOOLS_ENV, SERVICE_NAMES } from '../../functions/shared/telemetry.js';
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
const alarmsOf = (t: Template) => Object.values(t.findResources('AWS::CloudWatch::Alarm') as Resources).map((a) => a.Properties);

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

/** One metric of a dashboard widget: namespace, name, dimensions, and the widget's title. */
interface DashboardMetric {
  widget: string;
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  stat?: string;
}

/**
 * The dashboard's body as JSON, references written as `Ref:<id>` / `GetAtt:<id>.<attribute>` (the
 * body is a Fn::Join of text and references, each reference inside a JSON string).
 */
function dashboardBody(t: Template): { widgets: { type: string; properties: Record<string, any> }[] } {
  const dashboards = Object.values(t.findResources('AWS::CloudWatch::Dashboard') as Resources);
  expect(dashboards).toHaveLength(1);
  const parts = dashboards[0].Properties.DashboardBody['Fn::Join'][1] as (string | Record<string, any>)[];
  const text = parts
    .map((part) => {
      if (typeof part === 'string') return part;
      if (part.Ref) return `Ref:${part.Ref}`;
      if (part['Fn::GetAtt']) return `GetAtt:${part['Fn::GetAtt'].join('.')}`;
      throw new Error(`unexpected reference in the dashboard: ${JSON.stringify(part)}`);
    })
    .join('');
  return JSON.parse(text);
}

function dashboardMetrics(t: Template): DashboardMetric[] {
  return dashboardBody(t)
    .widgets.filter((w) => w.type === 'metric' && Array.isArray(w.properties.metrics))
    .flatMap((w) =>
      (w.properties.metrics as unknown[][])
        .filter((m) => typeof m[0] === 'string')
        .map((m) => {
          const options = (typeof m.at(-1) === 'object' ? m.at(-1) : {}) as { stat?: string };
          const [namespace, name, ...rest] = m.filter((x) => typeof x === 'string') as string[];
          const dimensions = Object.fromEntries(rest.flatMap((_, i) => (i % 2 === 0 ? [[rest[i], rest[i + 1]]] : [])));
          return { widget: w.properties.title as string, namespace, name, dimensions, stat: options.stat };
        }),
    );
}

describe('dashboard', () => {
  it('is named after the stack, and its name is an output', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'PiStack' });
    template.hasOutput('DashboardName', {});
  });

  it('shows every job outcome, restarts, refused reports and samples done, from the namespace and service the functions publish', () => {
    const published = dashboardMetrics(template).filter((m) => m.namespace === METRICS_NAMESPACE);
    const shown = (name: string, service: string) =>
      published.filter((m) => m.name === name && m.dimensions.service === service && Object.keys(m.dimensions).length === 1 && m.stat === 'Sum');
    const o = METRICS.orchestrator;
    for (const name of [o.jobsSubmitted, o.jobsSucceeded, o.jobsFailed, o.jobsCancelled, o.jobsRefused]) {
      expect(shown(name, SERVICE_NAMES.orchestrator).map((m) => m.widget)).toEqual(['Jobs by outcome']);
    }
    expect(shown(o.tasksRestarted, SERVICE_NAMES.orchestrator)).toHaveLength(1);
    expect(shown(METRICS.progress.reportsRefused, SERVICE_NAMES.progress)).toHaveLength(1);
    expect(shown(METRICS.sampler.samplesDone, SERVICE_NAMES.sampler)).toHaveLength(1);
  });

  it('shows samples per second: the samples of each period over its length', () => {
    const widget = dashboardBody(template).widgets.find((w) => w.properties.title === 'Samples/s')!;
    const metrics = widget.properties.metrics as unknown[][];
    expect(metrics).toContainEqual([expect.objectContaining({ expression: 'samples / PERIOD(samples)' })]);
    expect(metrics).toContainEqual([
      METRICS_NAMESPACE,
      METRICS.sampler.samplesDone,
      'service',
      SERVICE_NAMES.sampler,
      expect.objectContaining({ id: 'samples', stat: 'Sum', visible: false }),
    ]);
  });

  it('shows throttles of every function and of the table, and the dead letters', () => {
    const throttles = dashboardMetrics(template).filter((m) => m.widget === 'Throttles: functions and table');
    expect(throttles.map((m) => `${m.namespace} ${m.name} ${Object.values(m.dimensions)}`).sort()).toEqual(
      [
        ...Object.values(functionIds).map((id) => `AWS/Lambda Throttles Ref:${id}`),
        `AWS/DynamoDB ReadThrottleEvents Ref:${logicalId(stack, stack.table)}`,
        `AWS/DynamoDB WriteThrottleEvents Ref:${logicalId(stack, stack.table)}`,
      ].sort(),
    );
    const deadLetters = dashboardMetrics(template).filter((m) => m.widget === 'Dead letters');
    expect(deadLetters).toEqual([
      {
        widget: 'Dead letters',
        namespace: 'AWS/SQS',
        name: 'ApproximateNumberOfMessagesVisible',
        dimensions: { QueueName: `GetAtt:${logicalId(stack, stack.progressDeadLetterQueue)}.QueueName` },
        stat: 'Maximum',
      },
    ]);
  });

  it("shows the API's 4xx, 5xx and latency, and each function's errors and p50/p99 durations", () => {
    const metrics = dashboardMetrics(template);
    const api = metrics.filter((m) => m.namespace === 'AWS/ApiGateway');
    for (const name of ['4XXError', '5XXError', 'Latency']) {
      expect(api.filter((m) => m.name === name).map((m) => m.dimensions)).toContainEqual({
        ApiName: 'PiStack-api',
        Stage: `Ref:${logicalId(stack, stack.api.deploymentStage)}`,
      });
    }
    for (const id of Object.values(functionIds)) {
      const own = metrics.filter((m) => m.namespace === 'AWS/Lambda' && m.dimensions.FunctionName === `Ref:${id}`);
      expect(own.filter((m) => m.name === 'Errors').length).toBeGreaterThan(0);
      const durations = own.filter((m) => m.name === 'Duration').map((m) => m.stat);
      expect(durations).toEqual(expect.arrayContaining(['p50', 'p99']));
    }
  });
});

/** An alarm's metric, whether plain or inside a math expression (FILL). */
const watched = (alarm: Record<string, any>) => {
  const stat = (alarm.Metrics as { MetricStat?: { Metric: Record<string, any>; Stat: string } }[]).find((m) => m.MetricStat)!.MetricStat!;
  const dimensions = Object.fromEntries((stat.Metric.Dimensions as { Name: string; Value: unknown }[]).map((d) => [d.Name, d.Value]));
  return { namespace: stat.Metric.Namespace, name: stat.Metric.MetricName, dimensions, stat: stat.Stat };
};

describe('alarms', () => {
  it('fire on the first minute of a failed job, a sampler error, an API 5xx, a throttle or a dead letter', () => {
    const ref = (construct: Parameters<typeof logicalId>[1]) => ({ Ref: logicalId(stack, construct) });
    const expected = [
      { namespace: METRICS_NAMESPACE, name: METRICS.orchestrator.jobsFailed, dimensions: { service: SERVICE_NAMES.orchestrator }, stat: 'Sum' },
      { namespace: 'AWS/Lambda', name: 'Errors', dimensions: { FunctionName: ref(stack.sampler) }, stat: 'Sum' },
      { namespace: 'AWS/ApiGateway', name: '5XXError', dimensions: { ApiName: 'PiStack-api', Stage: ref(stack.api.deploymentStage) }, stat: 'Sum' },
      ...[stack.orchestrator, stack.sampler, stack.progress].map((fn) => ({
        namespace: 'AWS/Lambda',
        name: 'Throttles',
        dimensions: { FunctionName: ref(fn) },
        stat: 'Sum',
      })),
      { namespace: 'AWS/DynamoDB', name: 'ReadThrottleEvents', dimensions: { TableName: ref(stack.table) }, stat: 'Sum' },
      { namespace: 'AWS/DynamoDB', name: 'WriteThrottleEvents', dimensions: { TableName: ref(stack.table) }, stat: 'Sum' },
      {
        namespace: 'AWS/SQS',
        name: 'ApproximateNumberOfMessagesVisible',
        dimensions: { QueueName: { 'Fn::GetAtt': [logicalId(stack, stack.progressDeadLetterQueue), 'QueueName'] } },
        stat: 'Maximum',
      },
    ];
    const alarms = alarmsOf(template);
    const byMetric = (a: { namespace: string; name: string; dimensions: object }) => JSON.stringify([a.namespace, a.name, a.dimensions]);
    expect(alarms.map((a) => byMetric(watched(a))).sort()).toEqual(expected.map(byMetric).sort());
    for (const alarm of alarms) {
      expect(expected).toContainEqual(watched(alarm));
      expect(alarm).toMatchObject({
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        TreatMissingData: 'notBreaching',
        AlarmName: expect.stringMatching(/^PiStack-/),
      });
      expect(alarm.Metrics.find((m: { MetricStat?: { Period: number } }) => m.MetricStat).MetricStat.Period).toBe(60);
      expect(alarm.AlarmDescription.length).toBeGreaterThan(40);
    }
  });

  it('notify nobody, and the stack creates no SNS resource, without alarmTopic', () => {
    for (const alarm of alarmsOf(template)) {
      expect(alarm.AlarmActions).toBeUndefined();
      expect(alarm.OKActions).toBeUndefined();
    }
    expect(Object.keys(template.toJSON().Resources).filter((id) => template.toJSON().Resources[id].Type.startsWith('AWS::SNS::'))).toEqual([]);
  });

  it('all notify alarmTopic when it is given', () => {
    const topicArn = 'arn:aws:sns:us-east-1:123456789012:alerts';
    const app = noBundling();
    const alarmTopic = Topic.fromTopicArn(new Stack(app, 'Alerts'), 'alerts', topicArn);
    const withTopic = Template.fromStack(new PiStack(app, 'PiStack', { alarmTopic }));
    const alarms = alarmsOf(withTopic);
    expect(alarms).toHaveLength(alarmsOf(template).length);
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([topicArn]);
  });

  it('notify a topic the app creates in another stack, through a cross-stack reference', () => {
    const app = noBundling();
    const alarmTopic = new Topic(new Stack(app, 'Alerts'), 'alerts');
    const withTopic = Template.fromStack(new PiStack(app, 'PiStack', { alarmTopic }));
    for (const alarm of alarmsOf(withTopic)) {
      expect(alarm.AlarmActions).toHaveLength(1);
      expect(JSON.stringify(alarm.AlarmActions[0])).toContain('"Alerts"');
    }
    expect(Object.values(withTopic.toJSON().Resources).filter((r: any) => r.Type.startsWith('AWS::SNS::'))).toEqual([]);
  });
});
