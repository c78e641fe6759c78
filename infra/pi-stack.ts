import { CfnOutput, type CfnResource, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LambdaDestination, SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { orchestratorConfig } from '../functions/orchestrator/config.js';
import { progressConfig } from '../functions/progress/config.js';
import { samplerConfig } from '../functions/sampler/config.js';
import { PARTITION_WRITE_UNITS_PER_SECOND } from '../functions/shared/job.js';
import { OWNER_INDEX } from '../functions/shared/store/items.js';
import {
  ORCHESTRATOR_TIMEOUT_SECONDS,
  resolveLimits,
  resolveLogLevel,
  SAMPLER_TIMEOUT_SECONDS,
  type LogLevel,
  type PiLimitProps,
  type PiLimits,
  type PiObservabilityProps,
} from './limits.js';
import { PiApi } from './pi-api.js';
import { invokeOnly, PiFunction } from './pi-function.js';
import { PiMonitoring } from './pi-monitoring.js';

export {
  DEFAULT_LIMITS,
  DEFAULT_LOG_LEVEL,
  LOG_LEVELS,
  resolveLimits,
  resolveLogLevel,
  type LogLevel,
  type PiLimitProps,
  type PiLimits,
  type PiObservabilityProps,
} from './limits.js';

/** The stack's limits (see `PiLimitProps`), how it reports on itself (`PiObservabilityProps`) and how it meets the account. */
export interface PiStackProps extends StackProps, PiLimitProps, PiObservabilityProps {
  /**
   * Create the account-wide role that lets API Gateway write CloudWatch logs (an
   * `AWS::ApiGateway::Account` resource, one per account and region). API Gateway refuses to
   * deploy a stage with access or execution logs until the account has one. Set to false when
   * the account already has it and another stack owns it.
   * @default true
   */
  readonly apiGatewayCloudWatchRole?: boolean;
}

/**
 * The Monte Carlo π service: a REST API (IAM auth) in front of the orchestrator, which fans a
 * job out to one sampler invocation per task; samplers report to the progress function, which
 * records each report in DynamoDB with a conditional write.
 */
export class PiStack extends Stack {
  readonly limits: PiLimits;
  readonly table: Table;
  readonly orchestrator: PiFunction;
  readonly sampler: PiFunction;
  readonly progress: PiFunction;
  readonly progressDeadLetterQueue: Queue;
  readonly api: PiApi;
  readonly logLevel: LogLevel;
  readonly monitoring: PiMonitoring;

  constructor(scope: Construct, id: string, props: PiStackProps = {}) {
    super(scope, id, props);
    const limits = resolveLimits(props);
    this.limits = limits;
    const logLevel = resolveLogLevel(props.logLevel);
    this.logLevel = logLevel;
    const jobTimeout = Duration.seconds(limits.jobTimeoutSeconds);

    this.table = new Table(this, 'jobs-table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      // Job data is ephemeral (every item expires by TTL) and re-creatable by running the job
      // again, so deleting the stack deletes the table instead of leaving it behind.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // A caller's jobs, newest first (GET /jobs): sparse (only job headers carry its key) and projecting
    // only a job's summary. Adding it to a deployed table is an in-place update.
    this.table.addGlobalSecondaryIndex({
      indexName: OWNER_INDEX.name,
      partitionKey: { name: OWNER_INDEX.partitionKey, type: AttributeType.STRING },
      sortKey: { name: OWNER_INDEX.sortKey, type: AttributeType.NUMBER },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [...OWNER_INDEX.projected],
    });

    this.progress = new PiFunction(this, 'progress', {
      description: 'Applies one progress report to the job table with a conditional write',
      memorySize: 256,
      timeout: Duration.seconds(10),
      logLevel,
      environment: progressConfig.environment({ tableName: this.table.tableName }),
    });

    this.sampler = new PiFunction(this, 'sampler', {
      description: 'Samples one task of a job and reports its progress',
      // 1769 MB is one full vCPU: the kernel is single-threaded and CPU-bound.
      memorySize: 1769,
      timeout: Duration.seconds(SAMPLER_TIMEOUT_SECONDS),
      logLevel,
      ...(limits.samplerReservedConcurrency !== undefined && { reservedConcurrentExecutions: limits.samplerReservedConcurrency }),
      environment: samplerConfig.environment({
        progressFunctionName: this.progress.functionName,
        reportIntervalMs: limits.reportIntervalMs,
      }),
    });

    this.orchestrator = new PiFunction(this, 'orchestrator', {
      description: 'The API: validates and creates jobs, fans them out, watches them to the end',
      memorySize: 512,
      timeout: Duration.seconds(ORCHESTRATOR_TIMEOUT_SECONDS),
      logLevel,
      environment: orchestratorConfig.environment({
        tableName: this.table.tableName,
        samplerFunctionName: this.sampler.functionName,
        maxTasks: limits.maxTasks,
        maxSamples: limits.maxSamples,
        maxSamplesPerTask: limits.maxSamplesPerTask,
        jobTimeoutSeconds: limits.jobTimeoutSeconds,
        estimateWaitSeconds: limits.estimateWaitSeconds,
        samplerConcurrency: limits.maxConcurrentSamplers,
        reportIntervalMs: limits.reportIntervalMs,
        samplerMaxEventAgeSeconds: limits.samplerMaxEventAgeSeconds,
        maxRunningJobs: limits.maxRunningJobs,
        maxRunningJobsPerCaller: limits.maxRunningJobsPerCaller,
        partitionWriteUnitsPerSecond: PARTITION_WRITE_UNITS_PER_SECOND,
        pollIntervalMs: limits.pollIntervalMs,
        taskRestarts: limits.taskRestarts,
        stallSeconds: limits.stallSeconds,
        jobTtlDays: limits.jobTtlDays,
      }),
    });

    // Async delivery: at least once, retried, possibly late. Events older than a job's life are
    // dropped; a dropped or failed sampler event goes to the progress function, which records
    // the task as failed, so the job's outcome stays derivable from the table.
    this.sampler.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.seconds(limits.samplerMaxEventAgeSeconds),
      onFailure: new LambdaDestination(this.progress),
    });
    // LambdaDestination grants invoke on the function and on `<arn>:*` (its versions and aliases).
    const progressId = this.resolve((this.progress.node.defaultChild as CfnResource).logicalId) as string;
    Validations.of(this.sampler.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${progressId}.Arn>:*]`,
      reason:
        "The only wildcard is CDK's grant for the on-failure destination: the progress function's own versions and aliases (`<arn>:*`), nothing else.",
    });

    this.progressDeadLetterQueue = new Queue(this, 'progress-dlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.progressDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter destination of the progress function.',
    });
    this.progress.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new SqsDestination(this.progressDeadLetterQueue),
    });
    this.orchestrator.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: jobTimeout });

    this.grantLeastPrivilege();
    this.api = new PiApi(this, 'api', {
      handler: this.orchestrator,
      throttlingRateLimit: limits.apiThrottlingRateLimit,
      throttlingBurstLimit: limits.apiThrottlingBurstLimit,
      cloudWatchRole: props.apiGatewayCloudWatchRole ?? true,
    });

    this.monitoring = new PiMonitoring(this, 'monitoring', {
      functions: { orchestrator: this.orchestrator, sampler: this.sampler, progress: this.progress },
      table: this.table,
      api: this.api,
      apiStage: this.api.deploymentStage.stageName,
      deadLetterQueues: [this.progressDeadLetterQueue],
      alarmTopic: props.alarmTopic,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the API (SigV4, service execute-api)' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'The job table' });
    new CfnOutput(this, 'ProgressDeadLetterQueueUrl', {
      value: this.progressDeadLetterQueue.queueUrl,
      description: 'Progress reports and failure records that could not be applied',
    });
    new CfnOutput(this, 'DashboardName', {
      value: this.monitoring.dashboard.dashboardName,
      description: "The service's CloudWatch dashboard",
    });
  }

  /** Each function may call exactly what it calls, on exactly the resources it uses. */
  private grantLeastPrivilege(): void {
    // The orchestrator admits and creates jobs and writes a task's item at its first start (Put,
    // Update), reads them (Query, Get) and moves their state (Update). No Scan, no DeleteItem, no
    // BatchWrite (every write is conditional): items leave by TTL.
    this.orchestrator.allowTable(this.table, 'GetItem', 'PutItem', 'Query', 'UpdateItem');
    // The job list reads the owner index, and no other.
    this.orchestrator.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${this.table.tableArn}/index/${OWNER_INDEX.name}`] }),
    );
    this.orchestrator.allowInvoke(this.sampler);
    // Self-invocation (the async "run" event) in its own policy: the function's role default
    // policy is a dependency of the function, so naming the function's ARN there would be a cycle.
    new iam.Policy(this, 'orchestrator-self-invoke', {
      roles: [this.orchestrator.role!],
      statements: [invokeOnly(this.orchestrator)],
    });

    // The sampler's direct (RequestResponse) reports to the progress function use the
    // lambda:InvokeFunction grant its on-failure destination already gave it (acknowledged above).

    // IAM cannot restrict a write to one sort-key prefix (dynamodb:LeadingKeys matches only the
    // partition key), so the progress function gets the whole table, for two actions only.
    this.progress.allowTable(this.table, 'GetItem', 'UpdateItem');
  }
}
