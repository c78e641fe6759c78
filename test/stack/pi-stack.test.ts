import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ORCHESTRATOR_ENV } from '../../functions/orchestrator/config.js';
import { PROGRESS_ENV } from '../../functions/progress/config.js';
import { SAMPLER_ENV } from '../../functions/sampler/config.js';
import { METRICS_NAMESPACE, POWERTOOLS_ENV } from '../../functions/shared/telemetry.js';
import { PiStack } from '../../infra/pi-stack.js';
import { arnOf, cdkApp, logicalId, roleStatements, type Statement } from './template-helpers.js';

// One synth for the whole file: it bundles the three functions with esbuild.
let stack: PiStack;
let template: Template;
let ids: { table: string; orchestrator: string; sampler: string; progress: string; queue: string; api: string };
beforeAll(() => {
  stack = new PiStack(cdkApp(), 'PiStack');
  template = Template.fromStack(stack);
  ids = {
    table: logicalId(stack, stack.table),
    orchestrator: logicalId(stack, stack.orchestrator),
    sampler: logicalId(stack, stack.sampler),
    progress: logicalId(stack, stack.progress),
    queue: logicalId(stack, stack.progressDeadLetterQueue),
    api: logicalId(stack, stack.api),
  };
});

const roleOf = (fn: PiStack['orchestrator']) => logicalId(stack, fn.role!);
const logsStatement = (logGroup: string): Statement => ({
  Effect: 'Allow',
  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  Resource: [arnOf(logGroup)],
});
/** Powertools' environment with the stack's defaults. */
const powertools = (service: string) => ({
  [POWERTOOLS_ENV.serviceName]: service,
  [POWERTOOLS_ENV.metricsNamespace]: METRICS_NAMESPACE,
  [POWERTOOLS_ENV.logLevel]: 'INFO',
});
/** What active tracing adds to every function's role: X-Ray accepts no narrower resource. */
const xrayStatement: Statement = {
  Effect: 'Allow',
  Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
  Resource: ['*'],
};
const logGroupOf = (functionId: string): string => {
  const fn = template.findResources('AWS::Lambda::Function')[functionId];
  return (fn.Properties.LoggingConfig.LogGroup as { Ref: string }).Ref;
};

describe('job table', () => {
  it('has the pk/sk string keys, on-demand billing, TTL on expiresAt, PITR and AWS-managed encryption', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'ownerKey', AttributeType: 'S' },
        { AttributeName: 'createdAt', AttributeType: 'N' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it("has one index, byOwner: a caller's jobs by createdAt, projecting a job's summary and not its usage", () => {
    const table = Object.values(template.findResources('AWS::DynamoDB::Table'))[0]!.Properties;
    expect(table.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byOwner',
        KeySchema: [
          { AttributeName: 'ownerKey', KeyType: 'HASH' },
          { AttributeName: 'createdAt', KeyType: 'RANGE' },
        ],
        Projection: {
          ProjectionType: 'INCLUDE',
          NonKeyAttributes: ['jobId', 'status', 'seed', 'samples', 'tasks', 'deadlineAt', 'finishedAt', 'done', 'inside'],
        },
      },
    ]);
    expect(table.LocalSecondaryIndexes).toBeUndefined();
  });

  it('is deleted with the stack (job data is ephemeral)', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
  });
});

describe('functions', () => {
  it('are three Node.js 22 arm64 ESM bundles with source maps, each logging to its own retained log group', () => {
    template.resourceCountIs('AWS::Lambda::Function', 3);
    for (const id of [ids.orchestrator, ids.sampler, ids.progress]) {
      const fn = template.findResources('AWS::Lambda::Function')[id];
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
      });
      const logGroup = template.findResources('AWS::Logs::LogGroup')[logGroupOf(id)];
      expect(logGroup.Properties.RetentionInDays).toBe(30);
    }
  });

  it('orchestrator: 512 MB, 900 s, the table, the sampler, the limits and the timings in its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      Timeout: 900,
      ReservedConcurrentExecutions: Match.absent(),
      Environment: {
        Variables: Match.exact({
          [ORCHESTRATOR_ENV.tableName]: { Ref: ids.table },
          [ORCHESTRATOR_ENV.samplerFunctionName]: { Ref: ids.sampler },
          [ORCHESTRATOR_ENV.maxTasks]: '1000',
          [ORCHESTRATOR_ENV.maxSamples]: '1000000000000',
          [ORCHESTRATOR_ENV.maxSamplesPerTask]: '10000000000',
          [ORCHESTRATOR_ENV.jobTimeoutSeconds]: '600',
          [ORCHESTRATOR_ENV.estimateWaitSeconds]: '25',
          [ORCHESTRATOR_ENV.samplerConcurrency]: '100',
          [ORCHESTRATOR_ENV.reportIntervalMs]: '1000',
          [ORCHESTRATOR_ENV.samplerMaxEventAgeSeconds]: '120',
          [ORCHESTRATOR_ENV.maxRunningJobs]: '10',
          [ORCHESTRATOR_ENV.maxRunningJobsPerCaller]: '5',
          [ORCHESTRATOR_ENV.partitionWriteUnitsPerSecond]: '1000',
          // The values the handler used as code defaults before the stack wrote them.
          [ORCHESTRATOR_ENV.pollIntervalMs]: '1000',
          [ORCHESTRATOR_ENV.taskRestarts]: '2',
          [ORCHESTRATOR_ENV.stallSeconds]: '60',
          [ORCHESTRATOR_ENV.jobTtlDays]: '7',
          ...powertools('orchestrator'),
          NODE_OPTIONS: '--enable-source-maps',
        }),
      },
    });
  });

  it('sampler: one full vCPU (1769 MB), 300 s, no reserved concurrency (deploys on any account), reports to the progress function', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1769,
      Timeout: 300,
      ReservedConcurrentExecutions: Match.absent(),
      Environment: {
        Variables: Match.exact({
          [SAMPLER_ENV.progressFunctionName]: { Ref: ids.progress },
          [SAMPLER_ENV.reportIntervalMs]: '1000',
          ...powertools('sampler'),
          NODE_OPTIONS: '--enable-source-maps',
        }),
      },
    });
  });

  it('progress: 256 MB, 10 s, only the table in its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 256,
      Timeout: 10,
      Environment: {
        Variables: Match.exact({ [PROGRESS_ENV.tableName]: { Ref: ids.table }, ...powertools('progress'), NODE_OPTIONS: '--enable-source-maps' }),
      },
    });
  });
});

describe('async invocation', () => {
  const invokeConfig = (functionId: string) => {
    const configs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).filter(
      (c) => (c.Properties.FunctionName as { Ref: string }).Ref === functionId,
    );
    expect(configs).toHaveLength(1);
    return configs[0].Properties;
  };

  it('sampler: 2 retries, events dropped after 120 s in the queue, failures go to the progress function', () => {
    expect(invokeConfig(ids.sampler)).toEqual({
      FunctionName: { Ref: ids.sampler },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 120,
      DestinationConfig: { OnFailure: { Destination: arnOf(ids.progress) } },
    });
  });

  it('progress: 2 retries, 1 h, failures go to the encrypted SSL-only dead-letter queue kept 14 days', () => {
    expect(invokeConfig(ids.progress)).toEqual({
      FunctionName: { Ref: ids.progress },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: arnOf(ids.queue) } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ids.queue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('orchestrator: 2 retries, events dropped after the job timeout, no destination', () => {
    expect(invokeConfig(ids.orchestrator)).toEqual({
      FunctionName: { Ref: ids.orchestrator },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 600,
    });
  });
});

describe('least privilege', () => {
  it('no policy in the stack allows every action, and only the X-Ray write of tracing is on every resource', () => {
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
        expect([statement.Action].flat()).not.toContainEqual(expect.stringMatching(/(^\*$)|:\*$/));
        if ([statement.Resource].flat().includes('*')) {
          expect({ ...statement, Action: [statement.Action].flat().sort(), Resource: [statement.Resource].flat() }).toEqual(xrayStatement);
        }
      }
    }
  });

  it('functions use their own roles, with no AWS managed policies', () => {
    for (const fn of [stack.orchestrator, stack.sampler, stack.progress]) {
      const role = template.findResources('AWS::IAM::Role')[roleOf(fn)];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
  });

  it('orchestrator: its log group, X-Ray, four table actions (no Scan, no DeleteItem), Query on the owner index, invoke the sampler and itself', () => {
    const statements = roleStatements(template, roleOf(stack.orchestrator));
    expect(statements).toEqual(
      expect.arrayContaining([
        logsStatement(logGroupOf(ids.orchestrator)),
        {
          Effect: 'Allow',
          Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
          Resource: [arnOf(ids.table)],
        },
        // The byOwner index only, not `<table>/index/*`.
        { Effect: 'Allow', Action: ['dynamodb:Query'], Resource: [{ 'Fn::Join': ['', [arnOf(ids.table), '/index/byOwner']] }] },
        { Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [arnOf(ids.sampler)] },
        { Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [arnOf(ids.orchestrator)] },
        xrayStatement,
      ]),
    );
    expect(statements).toHaveLength(6);
    const actions = statements.flatMap((s) => s.Action);
    expect(actions).not.toContain('dynamodb:Scan');
    expect(actions).not.toContain('dynamodb:DeleteItem');
  });

  it('orchestrator self-invoke lives in its own policy, so the function does not depend on it (no cycle)', () => {
    const selfInvoke = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, p]) =>
      JSON.stringify(p.Properties.PolicyDocument).includes(JSON.stringify(arnOf(ids.orchestrator))),
    );
    expect(selfInvoke).toHaveLength(1);
    const [policyId, policy] = selfInvoke[0];
    expect(policy.Properties.Roles).toEqual([{ Ref: roleOf(stack.orchestrator) }]);
    const fn = template.findResources('AWS::Lambda::Function')[ids.orchestrator];
    expect(fn.DependsOn ?? []).not.toContain(policyId);
  });

  it('sampler: its log group, X-Ray and lambda:InvokeFunction on the progress function only', () => {
    const statements = roleStatements(template, roleOf(stack.sampler));
    expect(statements).toEqual(
      expect.arrayContaining([
        logsStatement(logGroupOf(ids.sampler)),
        {
          Effect: 'Allow',
          Action: ['lambda:InvokeFunction'],
          // The destination grant includes the function's versions and aliases.
          Resource: [arnOf(ids.progress), { 'Fn::Join': ['', [arnOf(ids.progress), ':*']] }],
        },
        xrayStatement,
      ]),
    );
    expect(statements).toHaveLength(3);
  });

  it('progress: its log group, X-Ray, GetItem/UpdateItem on the table, send to its dead-letter queue', () => {
    const statements = roleStatements(template, roleOf(stack.progress));
    expect(statements).toEqual(
      expect.arrayContaining([
        logsStatement(logGroupOf(ids.progress)),
        { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: [arnOf(ids.table)] },
        {
          Effect: 'Allow',
          Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
          Resource: [arnOf(ids.queue)],
        },
        xrayStatement,
      ]),
    );
    expect(statements).toHaveLength(4);
  });
});

describe('REST API', () => {
  const methods = () => Object.values(template.findResources('AWS::ApiGateway::Method'));
  const pathOf = (resourceRef: { Ref?: string; 'Fn::GetAtt'?: unknown }): string => {
    if (!resourceRef.Ref) return '';
    const resource = template.findResources('AWS::ApiGateway::Resource')[resourceRef.Ref];
    return `${pathOf(resource.Properties.ParentId)}/${resource.Properties.PathPart}`;
  };
  const route = (verb: string, path: string) => {
    const found = methods().filter((m) => m.Properties.HttpMethod === verb && pathOf(m.Properties.ResourceId) === path);
    expect(found).toHaveLength(1);
    return found[0].Properties;
  };

  it('has exactly POST and GET /jobs, GET and DELETE /jobs/{id}, POST /estimate, all IAM-authorized Lambda proxies to the orchestrator', () => {
    const routes = methods().map((m) => `${m.Properties.HttpMethod} ${pathOf(m.Properties.ResourceId)}`);
    expect(routes.sort()).toEqual(['DELETE /jobs/{id}', 'GET /jobs', 'GET /jobs/{id}', 'POST /estimate', 'POST /jobs']);
    for (const m of methods()) {
      expect(m.Properties.AuthorizationType).toBe('AWS_IAM');
      expect(m.Properties.Integration.Type).toBe('AWS_PROXY');
      expect(JSON.stringify(m.Properties.Integration.Uri)).toContain(JSON.stringify(arnOf(ids.orchestrator)));
    }
  });

  it('validates the body of both POSTs against the job request model, whatever the content type', () => {
    const validators = template.findResources('AWS::ApiGateway::RequestValidator');
    const [validatorId] = Object.keys(validators);
    expect(Object.values(validators).map((v) => v.Properties)).toEqual([
      { RestApiId: { Ref: ids.api }, ValidateRequestBody: true, ValidateRequestParameters: true },
    ]);
    const models = template.findResources('AWS::ApiGateway::Model');
    const [modelId] = Object.keys(models);
    for (const path of ['/jobs', '/estimate']) {
      expect(route('POST', path)).toMatchObject({
        RequestValidatorId: { Ref: validatorId },
        RequestModels: { $default: { Ref: modelId } },
      });
    }
    for (const verb of ['GET', 'DELETE']) {
      expect(route(verb, '/jobs/{id}')).toMatchObject({
        RequestValidatorId: { Ref: validatorId },
        RequestParameters: { 'method.request.path.id': true },
      });
    }
    // The list's parameters are optional, and the only ones it declares.
    expect(route('GET', '/jobs')).toMatchObject({ RequestValidatorId: { Ref: validatorId } });
    expect(route('GET', '/jobs').RequestParameters).toEqual({
      'method.request.querystring.limit': false,
      'method.request.querystring.next': false,
    });
  });

  it('the model is a closed draft-4 object: samples and tasks required, seed optional, nothing else', () => {
    template.hasResourceProperties('AWS::ApiGateway::Model', {
      ContentType: 'application/json',
      Schema: Match.exact({
        $schema: 'http://json-schema.org/draft-04/schema#',
        title: 'JobRequest',
        type: 'object',
        additionalProperties: false,
        required: ['samples', 'tasks'],
        properties: { samples: {}, tasks: {}, seed: {} },
      }),
    });
  });

  it('answers its own errors as JSON {"error":{"code","message"}}', () => {
    const responses = Object.fromEntries(
      Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')).map((r) => [r.Properties.ResponseType, r.Properties]),
    );
    expect(Object.keys(responses).sort()).toEqual(['BAD_REQUEST_BODY', 'DEFAULT_4XX', 'DEFAULT_5XX']);
    const json = { 'gatewayresponse.header.Content-Type': "'application/json'" };
    expect(responses.BAD_REQUEST_BODY).toMatchObject({ StatusCode: '400', ResponseParameters: json });
    expect(responses.BAD_REQUEST_BODY.ResponseTemplates).toEqual({
      'application/json': '{"error":{"code":"InvalidRequest","message":"$context.error.validationErrorString"}}',
    });
    for (const type of ['DEFAULT_4XX', 'DEFAULT_5XX']) {
      expect(responses[type].StatusCode).toBeUndefined(); // keeps API Gateway's own status
      expect(responses[type].ResponseParameters).toEqual(json);
      // messageString arrives quoted, so it is not wrapped in quotes again.
      expect(responses[type].ResponseTemplates).toEqual({
        'application/json': '{"error":{"code":"$context.error.responseType","message":$context.error.messageString}}',
      });
    }
    // Substituting sample values must give valid JSON in our error shape.
    const rendered = responses.DEFAULT_4XX.ResponseTemplates['application/json']
      .replace('$context.error.responseType', 'ACCESS_DENIED')
      .replace('$context.error.messageString', JSON.stringify('User is not authorized'));
    expect(JSON.parse(rendered)).toEqual({ error: { code: 'ACCESS_DENIED', message: 'User is not authorized' } });
  });

  it('deploys a throttled, traced prod stage with JSON access logs and error-level execution logs, no body logging', () => {
    template.resourceCountIs('AWS::ApiGateway::Stage', 1);
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0].Properties;
    expect(stage).toMatchObject({
      StageName: 'prod',
      TracingEnabled: true,
      MethodSettings: [
        {
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 10,
          ThrottlingBurstLimit: 20,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
        },
      ],
    });
    // The log group's ARN without the `:*` suffix, as API Gateway expects it.
    const destination = JSON.stringify(stage.AccessLogSetting.DestinationArn);
    expect(destination).toMatch(/":log-group:",\{"Ref":"apiaccesslogs[0-9A-F]{8}"\}\]\]\}$/);
    const [, accessLogGroupId] = destination.match(/"Ref":"(apiaccesslogs[0-9A-F]{8})"/)!;
    expect(template.findResources('AWS::Logs::LogGroup')[accessLogGroupId].Properties.RetentionInDays).toBe(30);
    const format = JSON.parse(stage.AccessLogSetting.Format);
    expect(format).toMatchObject({ requestId: '$context.requestId', caller: '$context.identity.caller', status: '$context.status' });
  });

  it('has the account-level CloudWatch role API Gateway needs to write those logs', () => {
    template.hasResourceProperties('AWS::ApiGateway::Account', { CloudWatchRoleArn: Match.anyValue() });
  });
});

describe('outputs', () => {
  it('exports the API URL and the table name', () => {
    template.hasOutput('ApiUrl', {
      Value: {
        'Fn::Join': ['', Match.arrayWith(['https://', { Ref: ids.api }, '.execute-api.'])],
      },
    });
    template.hasOutput('TableName', { Value: { Ref: ids.table } });
    template.hasOutput('ProgressDeadLetterQueueUrl', { Value: { Ref: ids.queue } });
  });
});
