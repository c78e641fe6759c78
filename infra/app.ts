import { App } from 'aws-cdk-lib';
import { PiStack } from './pi-stack.js';

const app = new App();

// Limits can be chosen per deployment without editing code, e.g. `cdk deploy -c maxTasks=200`.
const context = (key: string): unknown => app.node.tryGetContext(key);
const numberFrom = (key: string): number | undefined => (context(key) === undefined ? undefined : Number(context(key)));

new PiStack(app, 'PiStack', {
  maxTasks: numberFrom('maxTasks'),
  maxSamples: numberFrom('maxSamples'),
  maxSamplesPerTask: numberFrom('maxSamplesPerTask'),
  samplerReservedConcurrency: numberFrom('samplerReservedConcurrency'),
  jobTimeoutSeconds: numberFrom('jobTimeoutSeconds'),
  estimateWaitSeconds: numberFrom('estimateWaitSeconds'),
  apiThrottlingRateLimit: numberFrom('apiThrottlingRateLimit'),
  apiThrottlingBurstLimit: numberFrom('apiThrottlingBurstLimit'),
  apiGatewayCloudWatchRole: context('apiGatewayCloudWatchRole') === undefined ? undefined : String(context('apiGatewayCloudWatchRole')) !== 'false',
});
