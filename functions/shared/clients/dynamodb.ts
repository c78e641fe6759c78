import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tracer } from '../observability.js';

/**
 * The DynamoDB client, created once per execution environment. The endpoint comes from the SDK's
 * standard configuration (`AWS_ENDPOINT_URL_DYNAMODB`), the only thing the local cloud changes.
 * One module per client, so a function's bundle holds only the clients it uses. Traced in AWS:
 * each call is a subsegment of the invocation's.
 */
export const documentClient = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
  marshallOptions: { removeUndefinedValues: true },
});
