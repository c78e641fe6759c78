import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, CfnResource, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { LambdaDestination, SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction, OutputFormat, SourceMapMode, LogLevel as EsbuildLogLevel } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** The repository root: entries, the lock file and esbuild are resolved from here. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Lambda's hard limit; the orchestrator gets all of it to outlive any job. */
const ORCHESTRATOR_TIMEOUT_SECONDS = 900;
/** API Gateway cuts a REST request at 29 s. */
const API_GATEWAY_TIMEOUT_SECONDS = 29;
const SAMPLER_TIMEOUT_SECONDS = 300;
/**
 * Worst case sampling speed: the plain TypeScript kernel on one arm64 vCPU does about 50 M
 * samples/s (the WebAssembly kernel is faster). A task must finish inside the sampler timeout
 * even at that speed, with room for a cold start and its progress reports.
 */
const SLOWEST_SAMPLES_PER_SECOND = 50_000_000;

/** Limits and capacity of the stack. Every property has a safe default. */
export interface PiStackProps extends StackProps {
  /**
   * Largest `tasks` a job may ask for: one sampler invocation and one DynamoDB item per task.
   * @default 1000
   */
  readonly maxTasks?: number;
  /**
   * Largest `samples` a job may ask for (at most 2^53 - 1, the API carries JSON numbers).
   * @default 1e12
   */
  readonly maxSamples?: number;
  /**
   * Largest number of samples one task (one sampler invocation) may draw. Bounded so a task
   * finishes inside the sampler's 300 s timeout at the slowest kernel's ~50 M samples/s:
   * 1e10 / 5e7 = 200 s, leaving 100 s for a cold start and reporting.
   * @default 1e10
   */
  readonly maxSamplesPerTask?: number;
  /**
   * Reserved concurrency of the sampler: how many tasks run at once across all jobs, and a cap
   * on what one burst of jobs can spend. Lambda keeps it out of the account's unreserved pool.
   * @default 100
   */
  readonly samplerReservedConcurrency?: number;
  /**
   * A job that has not finished this many seconds after it was created fails. Also the maximum
   * age of the sampler's and the orchestrator's async events: an event older than its job is
   * dropped (and a dropped sampler event is reported to the progress function). Must be at least
   * 60 s (Lambda's smallest event age) and below the orchestrator's 900 s timeout, so the
   * orchestrator that watches a job outlives it.
   * @default 600
   */
  readonly jobTimeoutSeconds?: number;
  /**
   * How long `POST /estimate` waits for the result before answering 202 with the job's location.
   * Must stay below API Gateway's 29 s integration timeout.
   * @default 25
   */
  readonly estimateWaitSeconds?: number;
  /**
   * Steady-state request rate of the API stage, requests per second, across all callers.
   * @default 10
   */
  readonly apiThrottlingRateLimit?: number;
  /**
   * Burst capacity of the API stage, requests.
   * @default 20
   */
  readonly apiThrottlingBurstLimit?: number;
  /**
   * Create the account-wide role that lets API Gateway write CloudWatch logs (an
   * `AWS::ApiGateway::Account` resource, one per account and region). API Gateway refuses to
   * deploy a stage with access or execution logs until the account has one. Set to false when
   * the account already has it and another stack owns it.
   * @default true
   */
  readonly apiGatewayCloudWatchRole?: boolean;
}

/** Resolved limits, as the functions receive them. */
export interface PiLimits {
  readonly maxTasks: number;
  readonly maxSamples: number;
  readonly maxSamplesPerTask: number;
  readonly samplerReservedConcurrency: number;
  readonly jobTimeoutSeconds: number;
  readonly estimateWaitSeconds: number;
  readonly apiThrottlingRateLimit: number;
  readonly apiThrottlingBurstLimit: number;
}

export const DEFAULT_LIMITS: PiLimits = {
  maxTasks: 1000,
  maxSamples: 1e12,
  maxSamplesPerTask: 1e10,
  samplerReservedConcurrency: 100,
  jobTimeoutSeconds: 600,
  estimateWaitSeconds: 25,
  apiThrottlingRateLimit: 10,
  apiThrottlingBurstLimit: 20,
};

/** Checks the limits at synth time, so a bad value fails `cdk synth`, not a job. */
export function resolveLimits(props: PiStackProps = {}): PiLimits {
  const limits: PiLimits = {
    maxTasks: props.maxTasks ?? DEFAULT_LIMITS.maxTasks,
    maxSamples: props.maxSamples ?? DEFAULT_LIMITS.maxSamples,
    maxSamplesPerTask: props.maxSamplesPerTask ?? DEFAULT_LIMITS.maxSamplesPerTask,
    samplerReservedConcurrency: props.samplerReservedConcurrency ?? DEFAULT_LIMITS.samplerReservedConcurrency,
    jobTimeoutSeconds: props.jobTimeoutSeconds ?? DEFAULT_LIMITS.jobTimeoutSeconds,
    estimateWaitSeconds: props.estimateWaitSeconds ?? DEFAULT_LIMITS.estimateWaitSeconds,
    apiThrottlingRateLimit: props.apiThrottlingRateLimit ?? DEFAULT_LIMITS.apiThrottlingRateLimit,
    apiThrottlingBurstLimit: props.apiThrottlingBurstLimit ?? DEFAULT_LIMITS.apiThrottlingBurstLimit,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`PiStack: ${name} must be a positive integer, got ${value}`);
    }
  }
  const maxPerTaskForTimeout = SLOWEST_SAMPLES_PER_SECOND * SAMPLER_TIMEOUT_SECONDS;
  if (limits.maxSamplesPerTask > maxPerTaskForTimeout) {
    throw new Error(
      `PiStack: maxSamplesPerTask (${limits.maxSamplesPerTask}) cannot finish within the sampler's ` +
        `${SAMPLER_TIMEOUT_SECONDS} s timeout at ${SLOWEST_SAMPLES_PER_SECOND} samples/s; ` +
        `use at most ${maxPerTaskForTimeout}`,
    );
  }
  if (limits.maxTasks * limits.maxSamplesPerTask < limits.maxSamples) {
    throw new Error(
      `PiStack: maxSamples (${limits.maxSamples}) is unreachable: maxTasks × maxSamplesPerTask is only ` +
        `${limits.maxTasks * limits.maxSamplesPerTask}`,
    );
  }
  if (limits.jobTimeoutSeconds < 60 || limits.jobTimeoutSeconds >= ORCHESTRATOR_TIMEOUT_SECONDS) {
    throw new Error(
      `PiStack: jobTimeoutSeconds must be between 60 and ${ORCHESTRATOR_TIMEOUT_SECONDS - 1}, got ${limits.jobTimeoutSeconds}`,
    );
  }
  if (limits.estimateWaitSeconds >= API_GATEWAY_TIMEOUT_SECONDS) {
    throw new Error(
      `PiStack: estimateWaitSeconds must be below API Gateway's ${API_GATEWAY_TIMEOUT_SECONDS} s timeout, ` +
        `got ${limits.estimateWaitSeconds}`,
    );
  }
  return limits;
}

interface FunctionSpec {
  readonly name: 'orchestrator' | 'sampler' | 'progress';
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  readonly reservedConcurrentExecutions?: number;
}

/**
 * The Monte Carlo π service: a REST API (IAM auth) in front of the orchestrator, which fans a
 * job out to one sampler invocation per task; samplers report to the progress function, which
 * records each report in DynamoDB with a conditional write.
 */
export class PiStack extends Stack {
  readonly limits: PiLimits;
  readonly table: Table;
  readonly orchestrator: NodejsFunction;
  readonly sampler: NodejsFunction;
  readonly progress: NodejsFunction;
  readonly progressDeadLetterQueue: Queue;
  readonly api: apigateway.RestApi;

  constructor(scope: Construct, id: string, props: PiStackProps = {}) {
    super(scope, id, props);
    const limits = resolveLimits(props);
    this.limits = limits;
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

    this.progress = this.nodeFunction({
      name: 'progress',
      description: 'Applies one progress report to the job table with a conditional write',
      memorySize: 256,
      timeout: Duration.seconds(10),
      environment: { TABLE_NAME: this.table.tableName },
    });

    this.sampler = this.nodeFunction({
      name: 'sampler',
      description: 'Samples one task of a job and reports its progress',
      // 1769 MB is one full vCPU: the kernel is single-threaded and CPU-bound.
      memorySize: 1769,
      timeout: Duration.seconds(SAMPLER_TIMEOUT_SECONDS),
      reservedConcurrentExecutions: limits.samplerReservedConcurrency,
      environment: {
        PROGRESS_FUNCTION_NAME: this.progress.functionName,
        REPORT_INTERVAL_MS: '1000',
      },
    });

    this.orchestrator = this.nodeFunction({
      name: 'orchestrator',
      description: 'The API: validates and creates jobs, fans them out, watches them to the end',
      memorySize: 512,
      timeout: Duration.seconds(ORCHESTRATOR_TIMEOUT_SECONDS),
      environment: {
        TABLE_NAME: this.table.tableName,
        SAMPLER_FUNCTION_NAME: this.sampler.functionName,
        MAX_TASKS: String(limits.maxTasks),
        MAX_SAMPLES: String(limits.maxSamples),
        MAX_SAMPLES_PER_TASK: String(limits.maxSamplesPerTask),
        JOB_TIMEOUT_SECONDS: String(limits.jobTimeoutSeconds),
        ESTIMATE_WAIT_SECONDS: String(limits.estimateWaitSeconds),
        SAMPLER_CONCURRENCY: String(limits.samplerReservedConcurrency),
      },
    });

    // Async delivery: at least once, retried, possibly late. Events older than a job's life are
    // dropped; a dropped or failed sampler event goes to the progress function, which records
    // the task as failed, so the job's outcome stays derivable from the table.
    this.sampler.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: jobTimeout,
      onFailure: new LambdaDestination(this.progress),
    });
    this.progressDeadLetterQueue = new Queue(this, 'progress-dlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.progress.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new SqsDestination(this.progressDeadLetterQueue),
    });
    this.orchestrator.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: jobTimeout });

    this.grantLeastPrivilege();
    this.api = this.restApi(limits, props.apiGatewayCloudWatchRole ?? true);

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the API (SigV4, service execute-api)' });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'The job table' });
    new CfnOutput(this, 'ProgressDeadLetterQueueUrl', {
      value: this.progressDeadLetterQueue.queueUrl,
      description: 'Progress reports and failure records that could not be applied',
    });

    this.acknowledgeNagFindings();
  }

  private nodeFunction(spec: FunctionSpec): NodejsFunction {
    const logGroup = new LogGroup(this, `${spec.name}-logs`, {
      retention: RetentionDays.ONE_MONTH,
      // Logs of an ephemeral service: they go with the stack, like the table.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: the function may write its own log
    // group and nothing else in CloudWatch Logs.
    const role = new iam.Role(this, `${spec.name}-role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${spec.name} function`,
    });
    logGroup.grantWrite(role);

    return new NodejsFunction(this, spec.name, {
      entry: path.join(ROOT, 'functions', spec.name, 'handler.ts'),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: path.join(ROOT, 'package-lock.json'),
      description: spec.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: spec.memorySize,
      timeout: spec.timeout,
      reservedConcurrentExecutions: spec.reservedConcurrentExecutions,
      role,
      logGroup,
      environment: { ...spec.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        // Always the locally installed esbuild: synth works offline and without Docker.
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        // Bundled CommonJS dependencies call require(); ESM has none, so give them one.
        banner: "import { createRequire as topLevelCreateRequire } from 'node:module'; const require = topLevelCreateRequire(import.meta.url);",
        // Bundle the AWS SDK too: the deployed code is exactly what the local cloud runs, and
        // its version is the one in our lock file, not whatever the runtime ships.
        externalModules: [],
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        logLevel: EsbuildLogLevel.ERROR,
      },
    });
  }

  /** Each function may call exactly what it calls, on exactly the resources it uses. */
  private grantLeastPrivilege(): void {
    const tableActions = (...actions: string[]) =>
      new iam.PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [this.table.tableArn] });

    // The orchestrator creates jobs (Put, BatchWrite of task items), reads them (Query, Get) and
    // moves their state (Update). No Scan, no DeleteItem: items leave by TTL.
    this.orchestrator.addToRolePolicy(tableActions('BatchWriteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'));
    this.orchestrator.addToRolePolicy(invokeOnly(this.sampler));
    // Self-invocation (the async "run" event) in its own policy: the function's role default
    // policy is a dependency of the function, so naming the function's ARN there would be a cycle.
    new iam.Policy(this, 'orchestrator-self-invoke', {
      roles: [this.orchestrator.role!],
      statements: [invokeOnly(this.orchestrator)],
    });

    // The sampler's direct (RequestResponse) reports to the progress function use the
    // lambda:InvokeFunction grant its on-failure destination already gave it (see acknowledgements).

    // IAM cannot restrict a write to one sort-key prefix (dynamodb:LeadingKeys matches only the
    // partition key), so the progress function gets the whole table, for two actions only.
    this.progress.addToRolePolicy(tableActions('GetItem', 'UpdateItem'));
  }

  private restApi(limits: PiLimits, cloudWatchRole: boolean): apigateway.RestApi {
    const accessLogs = new LogGroup(this, 'api-access-logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const api = new apigateway.RestApi(this, 'api', {
      restApiName: `${this.stackName}-api`,
      description: 'Monte Carlo estimation of pi',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      cloudWatchRole,
      // Every accepted request spends money: strangers get a 403.
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'prod',
        throttlingRateLimit: limits.apiThrottlingRateLimit,
        throttlingBurstLimit: limits.apiThrottlingBurstLimit,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        // Execution logs for errors only, and never request or response bodies.
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        tracingEnabled: false,
      },
    });

    const validator = api.addRequestValidator('validator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const jobRequest = api.addModel('job-request', {
      contentType: 'application/json',
      modelName: 'JobRequest',
      description: 'Body of POST /jobs and POST /estimate',
      schema: {
        schema: apigateway.JsonSchemaVersion.DRAFT4,
        title: 'JobRequest',
        type: apigateway.JsonSchemaType.OBJECT,
        additionalProperties: false,
        required: ['samples', 'tasks'],
        // The model checks the body's shape; the orchestrator checks the values, because API
        // Gateway's messages for a type or range ("numeric instance is lower than the required
        // minimum (minimum: 1, found: 0)") do not say which field to fix, and ours do.
        properties: { samples: {}, tasks: {}, seed: {} },
      },
    });
    // `$default`: the body is checked whatever Content-Type the client sends (curl -d sends
    // application/x-www-form-urlencoded), so no unchecked body reaches the orchestrator.
    const withBody: apigateway.MethodOptions = {
      requestValidator: validator,
      requestModels: { $default: jobRequest },
    };
    const withJobId: apigateway.MethodOptions = {
      requestValidator: validator,
      requestParameters: { 'method.request.path.id': true },
    };

    const integration = new apigateway.LambdaIntegration(this.orchestrator, { allowTestInvoke: false });
    const jobs = api.root.addResource('jobs');
    jobs.addMethod('POST', integration, withBody);
    const job = jobs.addResource('{id}');
    job.addMethod('GET', integration, withJobId);
    job.addMethod('DELETE', integration, withJobId);
    api.root.addResource('estimate').addMethod('POST', integration, withBody);

    // Errors API Gateway answers itself carry the same shape as the orchestrator's:
    // {"error":{"code","message"}}. Gateway response templates allow only variable substitution.
    const json = { 'Content-Type': "'application/json'" };
    api.addGatewayResponse('bad-request-body', {
      type: apigateway.ResponseType.BAD_REQUEST_BODY,
      statusCode: '400',
      responseHeaders: json,
      templates: {
        'application/json':
          '{"error":{"code":"InvalidRequest","message":"$context.error.validationErrorString"}}',
      },
    });
    // $context.error.messageString is already a quoted JSON string.
    const generic = '{"error":{"code":"$context.error.responseType","message":$context.error.messageString}}';
    api.addGatewayResponse('default-4xx', {
      type: apigateway.ResponseType.DEFAULT_4XX,
      responseHeaders: json,
      templates: { 'application/json': generic },
    });
    api.addGatewayResponse('default-5xx', {
      type: apigateway.ResponseType.DEFAULT_5XX,
      responseHeaders: json,
      templates: { 'application/json': generic },
    });
    return api;
  }

  /** Every cdk-nag finding this stack accepts, with the reason, in one place. */
  private acknowledgeNagFindings(): void {
    const ack = (scope: Construct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });
    for (const fn of [this.orchestrator, this.sampler, this.progress]) {
      ack(
        fn,
        'AwsSolutions-L1',
        'The service is built and tested for the Node.js 22 LTS runtime, which the project pins; moving to a newer runtime is a deliberate upgrade.',
      );
    }
    ack(
      this.api,
      'AwsSolutions-APIG3',
      'Every method requires IAM (SigV4) authorization and the stage is throttled; a WAF web ACL is an account-level choice left to the operator.',
    );
    ack(
      this.api,
      'AwsSolutions-COG4',
      'The API uses IAM authorization, not a Cognito user pool: callers are AWS principals.',
    );
    // LambdaDestination grants invoke on the function and on `<arn>:*` (its versions and aliases).
    const progressId = this.resolve((this.progress.node.defaultChild as CfnResource).logicalId) as string;
    ack(
      this.sampler.role!,
      `AwsSolutions-IAM5[Resource::<${progressId}.Arn>:*]`,
      "The only wildcard is CDK's grant for the on-failure destination: the progress function's own versions and aliases (`<arn>:*`), nothing else.",
    );
    ack(
      this.api,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      "API Gateway's account-wide logging role uses the AWS-managed policy that the API Gateway documentation prescribes for it; it only lets API Gateway write its own logs.",
    );
    ack(
      this.progressDeadLetterQueue,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter destination of the progress function.',
    );
  }
}

/** lambda:InvokeFunction on the unqualified function ARN only (we never invoke versions or aliases). */
function invokeOnly(fn: IFunction): iam.PolicyStatement {
  return new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] });
}
