/** The VPC: private subnets for every task, NAT for egress, free S3 and DynamoDB gateway endpoints, flow logs. */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import type { PipelineLogs } from './logging';

/** Props of {@link PipelineNetwork}. */
export interface PipelineNetworkProps {
  /**
   * NAT gateways (one per AZ up to `maxAzs` survives an AZ outage).
   * @default 1
   */
  readonly natGateways?: number;
  /**
   * Availability zones used.
   * @default 2
   */
  readonly maxAzs?: number;
  /** Makes the flow log group. */
  readonly logs: PipelineLogs;
}

/**
 * Egress goes through NAT rather than interface endpoints only: the worker and ingress must reach Temporal
 * (Temporal Cloud is on the internet unless you buy PrivateLink), and the same NAT then serves ECR, SQS,
 * CloudWatch Logs, Secrets Manager, Batch and ECS for the price of one gateway, where interface endpoints
 * would cost one per service per AZ. The bulk traffic, the files themselves and the rows csv-to-dynamodb loads,
 * goes to S3 and DynamoDB through gateway endpoints, which are free and keep it off the NAT. No task has a
 * public IP.
 */
export class PipelineNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where all tasks and Batch jobs run. */
  readonly privateSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

  constructor(scope: Construct, id: string, props: PipelineNetworkProps) {
    super(scope, id);
    const flowLogs = props.logs.logGroup(this, 'FlowLogs');
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs ?? 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        // Only the NAT gateways live here.
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      // Nothing uses the default security group: a deploy-time custom resource strips its rules, so a
      // resource placed in it by mistake can reach nothing and be reached by nothing.
      restrictDefaultSecurityGroup: true,
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
  }
}
