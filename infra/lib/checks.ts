/**
 * The scanners' view of the template: where a checkov check does not apply, the skip and its reason sit on the
 * resource, in the code next to what it is about, and the scan (test/infra.test.ts) reports each reason.
 */
import { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** checkov check IDs, each mapped to why it does not apply to this resource. */
export type CheckovSkips = Record<string, string>;

/** Records `skips` on the CloudFormation resource of `construct` (or on `construct`, if it is one). */
export function skipCheckov(construct: IConstruct, skips: CheckovSkips): void {
  const resource = CfnResource.isCfnResource(construct) ? construct : construct.node.defaultChild;
  if (!CfnResource.isCfnResource(resource))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  resource.addMetadata('checkov', {
    skip: Object.entries(skips).map(([id, comment]) => ({ id, comment })),
  });
}
