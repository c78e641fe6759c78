import { readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { PiStack } from '../../infra/pi-stack.js';
import { cdkApp } from './template-helpers.js';

// The logical ids are a contract: CloudFormation replaces a resource whose id changes (the table
// with its jobs, among others), and the README, the sample events, `sam local invoke` and the
// local cloud name resources by them. A refactor of infra/ must keep every one; a deliberate
// change updates logical-ids.txt in the same commit.
//
// The API's Deployment carries a hash of the API's definition in its id, so that a changed API
// gets a new deployment; only its readable part is pinned (`apiDeployment149F1294*`).
const PINNED = readFileSync(new URL('./logical-ids.txt', import.meta.url), 'utf8').split('\n').filter(Boolean);

describe('logical ids', () => {
  it('are exactly the committed list, with the same resource types and outputs', () => {
    // No bundling: logical ids do not depend on the functions' code.
    const stack = new PiStack(cdkApp({ context: { 'aws:cdk:bundling-stacks': [] } }), 'PiStack');
    const template = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, { Type: string }>;
      Outputs: Record<string, unknown>;
    };
    const actual = [
      ...Object.entries(template.Resources).map(
        ([id, resource]) => `${id.replace(/^(apiDeployment[0-9A-F]{8})[0-9a-f]{32}$/, '$1*')} ${resource.Type}`,
      ),
      ...Object.keys(template.Outputs).map((id) => `${id} Output`),
    ];
    expect(actual.sort()).toEqual([...PINNED].sort());
  });
});
