import { Duration, Stack } from 'aws-cdk-lib';
import type { IRestApi } from 'aws-cdk-lib/aws-apigateway';
import { ComparisonOperator, TreatMissingData, type Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import {
  DefaultDashboardFactory,
  MetricStatistic,
  MonitoringFacade,
  noopAction,
  SnsAlarmActionStrategy,
  type CustomMetricGroup,
  type MetricWithAlarmSupport,
} from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import { METRICS, METRICS_NAMESPACE, SERVICE_NAMES } from '../functions/shared/telemetry.js';
import type { PiFunctionName } from './pi-function.js';

export interface PiMonitoringProps {
  readonly functions: { readonly [name in PiFunctionName]: IFunction };
  readonly table: ITable;
  readonly api: IRestApi;
  /** The API stage whose requests are counted. */
  readonly apiStage: string;
  /** The stack's dead-letter queues: a message in one is a record nobody applied. */
  readonly deadLetterQueues: readonly IQueue[];
  /** Every alarm notifies this topic when it goes to ALARM; without it alarms only change state. */
  readonly alarmTopic?: ITopic;
}

/**
 * One minute: the dashboard shows a short job's shape, and an alarm fires within a minute or two
 * of what it watches.
 */
const PERIOD = Duration.minutes(1);

/**
 * Every alarm here watches something that should never happen (a failed job, a throttle, a dead
 * letter), so one bad minute is enough. An idle service publishes nothing: missing data is quiet,
 * not breaching.
 */
const neverExpected = (description: string) => ({
  treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
  alarmDescriptionOverride: description,
});

const FUNCTION_TITLES: { readonly [name in PiFunctionName]: string } = {
  orchestrator: 'Orchestrator',
  sampler: 'Sampler',
  progress: 'Progress',
};

/**
 * The stack's CloudWatch dashboard (named after the stack) and its alarms, built with
 * cdk-monitoring-constructs: first the service's own metrics (what the functions publish through
 * Powertools, under METRICS_NAMESPACE with the `service` dimension), then one section per
 * resource (API, functions, table, dead-letter queues) with the library's standard widgets.
 */
export class PiMonitoring extends Construct {
  readonly facade: MonitoringFacade;
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: PiMonitoringProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    this.facade = new MonitoringFacade(this, 'facade', {
      metricFactoryDefaults: { namespace: METRICS_NAMESPACE, period: PERIOD },
      alarmFactoryDefaults: {
        alarmNamePrefix: stackName,
        actionsEnabled: true,
        action: props.alarmTopic ? new SnsAlarmActionStrategy({ onAlarmTopic: props.alarmTopic }) : noopAction(),
        datapointsToAlarm: 1,
        evaluationPeriods: 1,
      },
      dashboardFactory: new DefaultDashboardFactory(this, 'dashboards', {
        dashboardNamePrefix: stackName,
        createDashboard: true,
        createSummaryDashboard: false,
        createAlarmDashboard: false,
      }),
    });
    this.monitorService(props);
    this.monitorResources(props);
    this.dashboard = this.facade.createdDashboard()!;
  }

  /** The service's own metrics, and the throttles and dead letters that explain a bad run. */
  private monitorService(props: PiMonitoringProps): void {
    const factory = this.facade.createMetricFactory();
    const published = (service: string, name: string, label: string): MetricWithAlarmSupport =>
      factory.createMetric(name, MetricStatistic.SUM, label, { service });
    const orchestrator = (name: string, label: string) => published(SERVICE_NAMES.orchestrator, name, label);
    const o = METRICS.orchestrator;
    const samplesDone = published(SERVICE_NAMES.sampler, METRICS.sampler.samplesDone, 'Samples done');
    const { functions, table } = props;

    const groups: CustomMetricGroup[] = [
      {
        title: 'Jobs by outcome',
        metrics: [
          orchestrator(o.jobsSubmitted, 'Submitted'),
          orchestrator(o.jobsSucceeded, 'Succeeded'),
          {
            metric: orchestrator(o.jobsFailed, 'Failed'),
            alarmFriendlyName: 'JobsFailed',
            addAlarm: {
              Critical: {
                threshold: 0,
                comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                ...neverExpected("A job failed: its timeout passed, or a task failed more often than taskRestarts allows. Find its job id in the orchestrator's log."),
              },
            },
          },
          orchestrator(o.jobsCancelled, 'Cancelled'),
          orchestrator(o.jobsRefused, 'Refused'),
        ],
      },
      {
        title: 'Samples/s',
        // The samples of a period over its length: the service's throughput, whatever the period.
        metrics: [factory.createMetricMath('samples / PERIOD(samples)', { samples: samplesDone }, 'Samples/s')],
      },
      { title: 'Tasks restarted', metrics: [orchestrator(o.tasksRestarted, 'Restarted')] },
      {
        title: 'Progress reports refused',
        metrics: [published(SERVICE_NAMES.progress, METRICS.progress.reportsRefused, 'Refused')],
      },
      {
        title: 'Throttles: functions and table',
        metrics: [
          ...(Object.keys(functions) as PiFunctionName[]).map((name) =>
            factory.adaptMetric(functions[name].metricThrottles({ label: `${FUNCTION_TITLES[name]} (Lambda)`, statistic: MetricStatistic.SUM })),
          ),
          factory.adaptMetric(table.metric('ReadThrottleEvents', { label: 'Table reads', statistic: MetricStatistic.SUM })),
          factory.adaptMetric(table.metric('WriteThrottleEvents', { label: 'Table writes', statistic: MetricStatistic.SUM })),
        ],
      },
      {
        title: 'Dead letters',
        metrics: props.deadLetterQueues.map((queue) =>
          factory.adaptMetric(queue.metricApproximateNumberOfMessagesVisible({ label: queue.node.id, statistic: MetricStatistic.MAX })),
        ),
      },
    ];
    this.facade.addLargeHeader('Monte Carlo π').monitorCustom({ alarmFriendlyName: 'Jobs', humanReadableName: 'Service', metricGroups: groups });
  }

  /** The library's sections for the API, each function, the table and the dead-letter queues, with their alarms. */
  private monitorResources(props: PiMonitoringProps): void {
    this.facade.monitorApiGateway({
      api: props.api,
      apiStage: props.apiStage,
      alarmFriendlyName: 'Api',
      add5XXFaultCountAlarm: {
        Critical: { maxErrorCount: 0, ...neverExpected("The API answered 5xx: the orchestrator failed or timed out. See the orchestrator's errors and log.") },
      },
    });
    for (const name of Object.keys(props.functions) as PiFunctionName[]) {
      const title = FUNCTION_TITLES[name];
      this.facade.monitorLambdaFunction({
        lambdaFunction: props.functions[name],
        alarmFriendlyName: title,
        humanReadableName: title,
        isIterator: false,
        addThrottlesCountAlarm: {
          Critical: {
            maxErrorCount: 0,
            ...neverExpected(`Lambda throttled the ${name} function: the account's concurrency is used up. Lower maxConcurrentSamplers or raise the account's limit.`),
          },
        },
        // A failed sampler run is retried and then recorded as a failed task, but it means lost work.
        ...(name === 'sampler' && {
          addFaultCountAlarm: {
            Critical: { maxErrorCount: 0, ...neverExpected("A sampler invocation failed (Lambda Errors). See the sampler's log; the task is retried or started again.") },
          },
        }),
      });
    }
    const tableThrottled = {
      Critical: {
        maxThrottledEventsThreshold: 0,
        ...neverExpected("DynamoDB throttled the job table: a job's items were read or written faster than one partition accepts. A longer reportIntervalMs or fewer maxConcurrentSamplers lowers the rate."),
      },
    };
    this.facade.monitorDynamoTable({
      table: props.table,
      alarmFriendlyName: 'JobTable',
      humanReadableName: 'Job table',
      addReadThrottledEventsCountAlarm: tableThrottled,
      addWriteThrottledEventsCountAlarm: tableThrottled,
    });
    for (const queue of props.deadLetterQueues) {
      this.facade.monitorSqsQueue({
        queue,
        addQueueMaxSizeAlarm: {
          Critical: { maxMessageCount: 0, ...neverExpected('A record reached a dead-letter queue: a progress report or failure record was never applied. Read the message.') },
        },
      });
    }
  }
}
