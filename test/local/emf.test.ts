// The local cloud reads the metrics functions write in CloudWatch's embedded metric format (EMF).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { WARNING_PREFIX } from '../../local/index.js';
import { readEmf } from '../../local/lambda/emf.js';
import { FN, startFixtureCloud, type TestCloud } from './helpers.js';

const blob = (members: Record<string, unknown>, metrics: unknown[] = [{ Name: 'Widgets', Unit: 'Count' }], dimensions: unknown = [['service']]) =>
  JSON.stringify({
    _aws: { Timestamp: 1_700_000_000_000, CloudWatchMetrics: [{ Namespace: 'Shop', Dimensions: dimensions, Metrics: metrics }] },
    service: 'shop',
    ...members,
  });

describe('readEmf', () => {
  it('reads each metric of a blob with its unit, dimensions and values', () => {
    const line = blob({ Widgets: [2, 3], Latency: 12.5 }, [{ Name: 'Widgets', Unit: 'Count' }, { Name: 'Latency', Unit: 'Milliseconds' }]);
    expect(readEmf(line)).toEqual([
      { namespace: 'Shop', name: 'Widgets', unit: 'Count', dimensions: { service: 'shop' }, values: [2, 3] },
      { namespace: 'Shop', name: 'Latency', unit: 'Milliseconds', dimensions: { service: 'shop' }, values: [12.5] },
    ]);
  });

  it('ignores lines that are not EMF', () => {
    for (const line of ['plain text', '{"level":"INFO","message":"hello"}', '{"_aws": broken', '[1,2]', '']) expect(readEmf(line)).toBeUndefined();
  });

  it('refuses a blob CloudWatch would not turn into metrics, saying why', () => {
    expect(() => readEmf(blob({}))).toThrow(/Shop\/Widgets: the value is not a number/);
    expect(() => readEmf(blob({ Widgets: 'many' }))).toThrow(/the value is not a number/);
    expect(() => readEmf(blob({ Widgets: 1 }, [{ Name: 'Widgets', Unit: 'Parsecs' }]))).toThrow(/unknown unit "Parsecs"/);
    expect(() => readEmf(blob({ Widgets: 1 }, undefined, [['service', 'jobId']]))).toThrow(/dimension jobId has no string value/);
    expect(() => readEmf(blob({ Widgets: 1 }, []))).toThrow(/Metrics is not a non-empty array/);
    expect(() => readEmf(JSON.stringify({ _aws: { CloudWatchMetrics: [] } }))).toThrow(/Timestamp/);
  });
});

describe('cloud.metrics()', () => {
  let t: TestCloud;
  beforeAll(async () => {
    t = await startFixtureCloud();
  });
  afterAll(async () => {
    await t?.stop();
  });

  const invoke = (stdout: string) =>
    t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, LogType: 'Tail', Payload: JSON.stringify({ stdout }) }));

  it('aggregates the EMF lines a function writes to stdout, and warns once about invalid blobs', async () => {
    await invoke(`${blob({ Widgets: 2 })}\n${blob({ Widgets: 'x' })}\n`);
    // The last line has no newline: it still belongs to this invocation.
    const second = await invoke(`${blob({ Widgets: [3, 5] })}\n${blob({})}\n${blob({ Widgets: 1 }, [{ Name: 'Widgets', Unit: 'Count' }], [])}`);

    // Lines written past console belong to the invocation that wrote them, in its log tail.
    const tail = Buffer.from(second.LogResult ?? '', 'base64').toString('utf8');
    expect(tail).toContain(`${second.$metadata.requestId}\t${blob({ Widgets: [3, 5] })}`);

    const metrics = t.cloud.metrics().filter((m) => m.namespace === 'Shop');
    expect(metrics).toEqual([
      { namespace: 'Shop', name: 'Widgets', unit: 'Count', dimensions: { service: 'shop' }, sum: 10, count: 3, min: 2, max: 5 },
      { namespace: 'Shop', name: 'Widgets', unit: 'Count', dimensions: {}, sum: 1, count: 1, min: 1, max: 1 },
    ]);
    const warnings = t.logs.filter((line) => line.startsWith(WARNING_PREFIX) && line.includes('EMF'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${FN.echo}: invalid EMF blob ignored (Shop/Widgets: the value is not a number`);

    t.cloud.clearMetrics();
    expect(t.cloud.metrics()).toEqual([]);
  });
});
