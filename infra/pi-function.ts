import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RemovalPolicy, Validations, type Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode, LogLevel as EsbuildLogLevel } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE, POWERTOOLS_ENV, SERVICE_NAMES } from '../functions/shared/telemetry.js';
import type { LogLevel } from './limits.js';

/** The repository root: entries, the lock file and esbuild are resolved from here. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The functions of the service; each has its entry at `functions/<name>/handler.ts`. */
export type PiFunctionName = 'orchestrator' | 'sampler' | 'progress';

export interface PiFunctionProps {
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  readonly reservedConcurrentExecutions?: number;
  /** Least level of the function's log lines (Powertools Logger). */
  readonly logLevel: LogLevel;
}

/**
 * One of the service's functions: an ESM bundle of `functions/<id>/handler.ts` (Node.js 22, arm64,
 * bundled with the local esbuild), with its own log group and its own execution role, which may
 * write that log group and send its X-Ray traces, and nothing else until a grant adds to it. Every
 * function is traced (X-Ray active tracing) and gets Powertools' environment: its service name, the
 * metrics namespace and the log level.
 *
 * The log group and the role are created next to the function, in the same scope (`<id>-logs`,
 * `<id>-role`), and the function keeps the id it is given: the construct paths, and with them the
 * logical ids the template, the sample events and `sam local` use, are those of a plain
 * NodejsFunction with a LogGroup and a Role beside it.
 */
export class PiFunction extends NodejsFunction {
  constructor(scope: Construct, id: PiFunctionName, props: PiFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}-logs`, {
      retention: RetentionDays.ONE_MONTH,
      // Logs of an ephemeral service: they go with the stack, like the table.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // An own role instead of AWSLambdaBasicExecutionRole: the function may write its own log
    // group and nothing else in CloudWatch Logs.
    const role = new iam.Role(scope, `${id}-role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${id} function`,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      entry: path.join(ROOT, 'functions', id, 'handler.ts'),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: path.join(ROOT, 'package-lock.json'),
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role,
      logGroup,
      tracing: Tracing.ACTIVE,
      environment: { ...props.environment, ...powertoolsEnvironment(id, props.logLevel), NODE_OPTIONS: '--enable-source-maps' },
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

    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'The service is built and tested for the Node.js 22 LTS runtime, which the project pins; moving to a newer runtime is a deliberate upgrade.',
    });
    // Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords on `*` to the role:
    // X-Ray has no resource-level permissions for them, so `*` is the only resource they accept.
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'The only statement on every resource is the X-Ray write of active tracing (PutTraceSegments, PutTelemetryRecords), which supports no resource-level permissions.',
    });
  }

  /** Lets this function call exactly these DynamoDB actions, on the table only (not its indexes). */
  allowTable(table: ITable, ...actions: string[]): void {
    this.addToRolePolicy(
      new iam.PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [table.tableArn] }),
    );
  }

  /** Lets this function invoke `fn` (see invokeOnly). */
  allowInvoke(fn: IFunction): void {
    this.addToRolePolicy(invokeOnly(fn));
  }
}

/** Powertools' environment of a function: its service name, the metrics namespace and the log level. */
export function powertoolsEnvironment(name: PiFunctionName, logLevel: LogLevel): Record<string, string> {
  return {
    [POWERTOOLS_ENV.serviceName]: SERVICE_NAMES[name],
    [POWERTOOLS_ENV.metricsNamespace]: METRICS_NAMESPACE,
    [POWERTOOLS_ENV.logLevel]: logLevel,
  };
}

/** lambda:InvokeFunction on the unqualified function ARN only (we never invoke versions or aliases). */
export function invokeOnly(fn: IFunction): iam.PolicyStatement {
  return new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] });
}
