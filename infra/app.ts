import { App } from 'aws-cdk-lib';
import { DEFAULT_LIMITS, PiStack, type PiLimitProps, type PiStackProps } from './pi-stack.js';

const app = new App();

// Every limit can be chosen per deployment without editing code, e.g. `cdk deploy -c maxTasks=200`.
const context = (key: string): unknown => app.node.tryGetContext(key);
const numberFrom = (key: string): number | undefined => (context(key) === undefined ? undefined : Number(context(key)));

const limits = Object.fromEntries(Object.keys(DEFAULT_LIMITS).map((key) => [key, numberFrom(key)])) as PiLimitProps;

new PiStack(app, 'PiStack', {
  ...limits,
  // Checked by the stack: `cdk deploy -c logLevel=DEBUG`.
  logLevel: context('logLevel') as PiStackProps['logLevel'],
  apiGatewayCloudWatchRole: context('apiGatewayCloudWatchRole') === undefined ? undefined : String(context('apiGatewayCloudWatchRole')) !== 'false',
});
