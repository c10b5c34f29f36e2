/** The VPC: private subnets for every task, NAT for egress, a free S3 gateway endpoint, flow logs. */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

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
  /** Retention of the flow logs. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * Egress goes through NAT rather than interface endpoints only: the worker and ingress must reach Temporal
 * (Temporal Cloud is on the internet unless you buy PrivateLink), and the same NAT then serves ECR, SQS,
 * CloudWatch Logs, Secrets Manager, Batch and ECS for the price of one gateway, where interface endpoints
 * would cost one per service per AZ. The bulk traffic, the files themselves, goes to S3 through a gateway
 * endpoint, which is free and keeps it off the NAT. No task has a public IP.
 */
export class PipelineNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where all tasks and Batch jobs run. */
  readonly privateSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

  constructor(scope: Construct, id: string, props: PipelineNetworkProps) {
    super(scope, id);
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs ?? 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        // Only the NAT gateways live here.
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
  }
}
