/** ARNs in the stack's own account and region that no construct names: wildcards and condition values. */
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`, in the partition, region and account of `scope`'s stack. */
export function accountArn(scope: IConstruct, service: string, resource: string): string {
  const { partition, region, account } = Stack.of(scope);
  return `arn:${partition}:${service}:${region}:${account}:${resource}`;
}
