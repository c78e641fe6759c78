import { readFileSync } from 'node:fs';
import { App, type AppProps, type CfnResource, type Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

/**
 * An App with cdk.json's context (feature flags), so tests see the template `cdk synth` writes.
 * CDK's built-in CloudFormation validation is left to the `cdk synth` test: it takes seconds and
 * does not change the template.
 */
export function cdkApp(props: AppProps = {}): App {
  return new App({ builtinCloudFormationValidation: false, ...props, context: { ...cdkJson.context, ...props.context } });
}

/** The logical id CloudFormation will see for a construct's main resource. */
export function logicalId(stack: Stack, construct: IConstruct): string {
  const resource = (construct.node.defaultChild ?? construct) as CfnResource;
  return stack.resolve(resource.logicalId) as string;
}

export interface Statement {
  Effect: string;
  Action: string[];
  Resource: unknown[];
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Every statement of every AWS::IAM::Policy attached to a role, actions and resources as arrays. */
export function roleStatements(template: Template, roleLogicalId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy') as Record<string, { Properties: PolicyProps }>;
  return Object.values(policies)
    .filter((p) => p.Properties.Roles.some((r) => (r as { Ref?: string }).Ref === roleLogicalId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .map((s) => ({ Effect: s.Effect, Action: asArray(s.Action), Resource: asArray(s.Resource) }));
}

interface PolicyProps {
  Roles: unknown[];
  PolicyDocument: { Statement: { Effect: string; Action: string | string[]; Resource: unknown }[] };
}

/** `{"Fn::GetAtt": [id, "Arn"]}`, the way CloudFormation spells a resource's ARN. */
export const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
