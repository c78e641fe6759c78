import { InvocationType, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { tracer } from '../observability.js';

/**
 * The Lambda client, created once per execution environment. The endpoint comes from the SDK's
 * standard configuration (`AWS_ENDPOINT_URL_LAMBDA`), the only thing the local cloud changes.
 * Traced in AWS: each invoke is a subsegment, and carries the trace header to the function it calls.
 */
export const lambdaClient = tracer.captureAWSv3Client(new LambdaClient({}));

/** Async invoke (InvocationType Event): Lambda queues the event, retries it and may deliver it twice. */
export async function invokeAsync(functionName: string, payload: unknown): Promise<void> {
  await lambdaClient.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: InvocationType.Event,
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
}

/** Sync invoke (RequestResponse): the function's error becomes ours, its result is returned parsed. */
export async function invokeSync<T>(functionName: string, payload: unknown): Promise<T> {
  const result = await lambdaClient.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: InvocationType.RequestResponse,
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
  const text = result.Payload ? Buffer.from(result.Payload).toString('utf8') : '';
  if (result.FunctionError) {
    let message = text;
    try {
      message = (JSON.parse(text) as { errorMessage?: string }).errorMessage ?? text;
    } catch {
      // not JSON: keep the raw text
    }
    throw new Error(`${functionName} failed (${result.FunctionError}): ${message}`);
  }
  return JSON.parse(text) as T;
}
