// Workers run on the Node.js major the template's runtime names.
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { chooseNode, packagedNode } from '../../local/lambda/node-binary.js';
import { FIXTURE_TEMPLATE, FN, startFixtureCloud } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'local-cloud-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
for (const entry of readdirSync(dirname(FIXTURE_TEMPLATE))) {
  if (entry.startsWith('asset.')) symlinkSync(join(dirname(FIXTURE_TEMPLATE), entry), join(dir, entry));
}

/** The fixture stack with every function on `runtime`. */
function fixtureOn(runtime: string): string {
  const template = JSON.parse(readFileSync(FIXTURE_TEMPLATE, 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  for (const r of Object.values(template.Resources)) if (r.Type === 'AWS::Lambda::Function') r.Properties.Runtime = runtime;
  const path = join(dir, `${runtime}.template.json`);
  writeFileSync(path, JSON.stringify(template));
  return path;
}

const warningsIn = (logs: string[]) => logs.filter((l) => l.startsWith('[local] warning:') && /Node\.js/.test(l));

describe('the Node.js a worker runs on', () => {
  const host = { path: '/host/node', version: '20.1.0' };
  const packaged = { path: '/pkg/bin/node', version: '22.23.3' };

  it('prefers the platform package, then the host, by major', () => {
    const choice = chooseNode(['nodejs22.x', 'nodejs20.x'], { host, packaged, pinnedMajor: 22 });
    expect(choice.pathFor('nodejs22.x')).toBe('/pkg/bin/node');
    expect(choice.pathFor('nodejs20.x')).toBe('/host/node');
    expect(choice.warning).toBeUndefined();
  });

  it('falls back to the host with one warning naming the major and how to get it', () => {
    const choice = chooseNode(['nodejs22.x', 'nodejs22.x', 'nodejs22.x'], { host, packaged: undefined, pinnedMajor: 22 });
    expect(choice.pathFor('nodejs22.x')).toBe('/host/node');
    expect(choice.warning).toMatch(/nodejs22\.x want Node\.js 22.*local Node\.js 20\.1\.0/);
    expect(choice.warning).toMatch(/npm ci/);
    const other = chooseNode(['nodejs18.x'], { host, packaged, pinnedMajor: 22 });
    expect(other.warning).toMatch(/want Node\.js 18/);
    expect(other.warning).not.toMatch(/npm ci/);
  });

  it.runIf(packagedNode()?.version.startsWith('22.'))('runs a nodejs22.x function on Node.js 22, without a warning', async () => {
    const t = await startFixtureCloud({ templatePath: fixtureOn('nodejs22.x') });
    try {
      const out = await t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: '{}' }));
      const { node } = JSON.parse(Buffer.from(out.Payload!).toString()) as { node: string };
      expect(node).toMatch(/^v22\./);
      expect(warningsIn(t.logs)).toEqual([]);
    } finally {
      await t.stop();
    }
  });

  it('warns once per start when no Node.js of the wanted major is found, and runs on the host', async () => {
    const t = await startFixtureCloud({ templatePath: fixtureOn('nodejs18.x') });
    try {
      const out = await t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: '{}' }));
      const { node } = JSON.parse(Buffer.from(out.Payload!).toString()) as { node: string };
      expect(node).toBe(process.version);
      const warnings = warningsIn(t.logs);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/nodejs18\.x want Node\.js 18/);
    } finally {
      await t.stop();
    }
  });
});
