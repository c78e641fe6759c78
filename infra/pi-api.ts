import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export interface PiApiProps {
  /** The function behind every route (Lambda proxy integration). */
  readonly handler: IFunction;
  /** Steady-state request rate of the stage, requests per second. */
  readonly throttlingRateLimit: number;
  /** Burst capacity of the stage, requests. */
  readonly throttlingBurstLimit: number;
  /** Create the account-wide role that lets API Gateway write CloudWatch logs. */
  readonly cloudWatchRole: boolean;
}

/**
 * The service's REST API: `POST` and `GET /jobs`, `GET` and `DELETE /jobs/{id}`, `POST /estimate`, every
 * route IAM-authorized and proxied to one function; request bodies checked against the job
 * request model; API Gateway's own errors in the service's `{"error":{"code","message"}}` shape;
 * a throttled `prod` stage with JSON access logs.
 *
 * The access log group is created beside the API, in the same scope (`<id>-access-logs`), so the
 * construct paths are those of a plain RestApi with a LogGroup next to it.
 */
export class PiApi extends apigateway.RestApi {
  constructor(scope: Construct, id: string, props: PiApiProps) {
    const accessLogs = new LogGroup(scope, `${id}-access-logs`, {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      restApiName: `${Stack.of(scope).stackName}-api`,
      description: 'Monte Carlo estimation of pi',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      cloudWatchRole: props.cloudWatchRole,
      // Every accepted request spends money: strangers get a 403.
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'prod',
        throttlingRateLimit: props.throttlingRateLimit,
        throttlingBurstLimit: props.throttlingBurstLimit,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        // Execution logs for errors only, and never request or response bodies.
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        // X-Ray: a job's request is traced into the orchestrator and the functions it calls.
        tracingEnabled: true,
      },
    });
    this.addRoutes(props.handler);
    this.addErrorResponses();
    this.acknowledgeNagFindings();
  }

  private addRoutes(handler: IFunction): void {
    const validator = this.addRequestValidator('validator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const jobRequest = this.addModel('job-request', {
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
    // The list's query parameters are optional: declared so the validator knows them, checked by the orchestrator.
    const withListQuery: apigateway.MethodOptions = {
      requestValidator: validator,
      requestParameters: { 'method.request.querystring.limit': false, 'method.request.querystring.next': false },
    };
    const withJobId: apigateway.MethodOptions = {
      requestValidator: validator,
      requestParameters: { 'method.request.path.id': true },
    };

    const integration = new apigateway.LambdaIntegration(handler, { allowTestInvoke: false });
    const jobs = this.root.addResource('jobs');
    jobs.addMethod('POST', integration, withBody);
    jobs.addMethod('GET', integration, withListQuery);
    const job = jobs.addResource('{id}');
    job.addMethod('GET', integration, withJobId);
    job.addMethod('DELETE', integration, withJobId);
    this.root.addResource('estimate').addMethod('POST', integration, withBody);
  }

  /**
   * Errors API Gateway answers itself carry the same shape as the orchestrator's:
   * {"error":{"code","message"}}. Gateway response templates allow only variable substitution.
   */
  private addErrorResponses(): void {
    const json = { 'Content-Type': "'application/json'" };
    this.addGatewayResponse('bad-request-body', {
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
    this.addGatewayResponse('default-4xx', {
      type: apigateway.ResponseType.DEFAULT_4XX,
      responseHeaders: json,
      templates: { 'application/json': generic },
    });
    this.addGatewayResponse('default-5xx', {
      type: apigateway.ResponseType.DEFAULT_5XX,
      responseHeaders: json,
      templates: { 'application/json': generic },
    });
  }

  /** The cdk-nag findings about the API that the service accepts, with the reason. */
  private acknowledgeNagFindings(): void {
    const ack = (id: string, reason: string) => Validations.of(this).acknowledge({ id, reason });
    ack(
      'AwsSolutions-APIG3',
      'Every method requires IAM (SigV4) authorization and the stage is throttled; a WAF web ACL is an account-level choice left to the operator.',
    );
    ack('AwsSolutions-COG4', 'The API uses IAM authorization, not a Cognito user pool: callers are AWS principals.');
    ack(
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      "API Gateway's account-wide logging role uses the AWS-managed policy that the API Gateway documentation prescribes for it; it only lets API Gateway write its own logs.",
    );
  }
}
