import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { PiStack } from '../../infra/pi-stack.js';
import { cdkApp } from './template-helpers.js';

interface Violation {
  ruleName: string;
  severity: string;
  violatingConstructs: { constructPath: string }[];
}

const ALERTS_TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:alerts';

const outdirs: string[] = [];
afterAll(() => outdirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Synthesizes an app with the AWS Solutions pack and returns every unacknowledged finding. */
function nagFindings(build: (app: App) => void, context: Record<string, unknown> = {}): { app: App; thrown?: Error; violations: Violation[] } {
  const outdir = mkdtempSync(path.join(tmpdir(), 'pi-nag-'));
  outdirs.push(outdir);
  const app = cdkApp({ outdir, context });
  build(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  let thrown: Error | undefined;
  try {
    app.synth();
  } catch (error) {
    thrown = error as Error;
  }
  const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { violations: Violation[] }[];
  };
  return { app, thrown, violations: report.pluginReports.flatMap((r) => r.violations) };
}

describe('cdk-nag AWS Solutions checks', () => {
  it('report no unacknowledged error or warning for the stack, and only the reviewed acknowledgements exist', () => {
    const { app, thrown, violations } = nagFindings((app) => new PiStack(app, 'PiStack'));
    expect(violations.map((v) => `${v.severity} ${v.ruleName} ${v.violatingConstructs.map((c) => c.constructPath)}`)).toEqual([]);
    expect(thrown).toBeUndefined();

    const acknowledged = app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((m) => [c.node.path, m.data]))
      .flatMap(([where, data]) => Object.entries(data as Record<string, string>).map(([id, reason]) => ({ where, id, reason })));
    expect(acknowledged.map(({ where, id }) => `${where} ${id.replace(/^annotation::/i, '')}`).sort()).toEqual([
      'PiStack/api AwsSolutions-APIG3',
      'PiStack/api AwsSolutions-COG4',
      'PiStack/api AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      'PiStack/orchestrator AwsSolutions-L1',
      // Active tracing's X-Ray write, the only statement on `*` (see the least-privilege test).
      'PiStack/orchestrator-role AwsSolutions-IAM5[Resource::*]',
      'PiStack/progress AwsSolutions-L1',
      'PiStack/progress-dlq AwsSolutions-SQS3',
      'PiStack/progress-role AwsSolutions-IAM5[Resource::*]',
      'PiStack/sampler AwsSolutions-L1',
      'PiStack/sampler-role AwsSolutions-IAM5[Resource::*]',
      expect.stringMatching(/^PiStack\/sampler-role AwsSolutions-IAM5\[Resource::<progress[0-9A-F]{8}\.Arn>:\*\]$/),
    ]);
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(40);
  });

  it('report nothing new when the alarms notify a topic', () => {
    const { thrown, violations } = nagFindings(
      (app) => new PiStack(app, 'PiStack', { alarmTopic: Topic.fromTopicArn(new Stack(app, 'Alerts'), 'topic', ALERTS_TOPIC_ARN) }),
      // The rules read the template only: no need to bundle the functions again.
      { 'aws:cdk:bundling-stacks': [] },
    );
    expect(violations).toEqual([]);
    expect(thrown).toBeUndefined();
  });

  it('do run in this harness: a queue without SSL enforcement is reported', () => {
    const { thrown, violations } = nagFindings((app) => new Queue(new Stack(app, 'Canary'), 'queue'));
    expect(violations.map((v) => v.ruleName)).toContain('AwsSolutions-SQS4');
    expect(thrown?.message).toMatch(/AwsSolutions-SQS4/);
  });
});
