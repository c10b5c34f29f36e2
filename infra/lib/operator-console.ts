/**
 * The operator's console on AWS: its ECS service in the services' cluster, reached only through an HTTPS
 * Application Load Balancer whose listener authenticates every request (OpenID Connect or a Cognito user pool)
 * before forwarding it. The stack deploys it only when the `console` context configures that authentication.
 */
import { Aws, Duration, SecretValue, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as actions from 'aws-cdk-lib/aws-elasticloadbalancingv2-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { FactName } from 'aws-cdk-lib/region-info';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { skipCheckov } from './checks';
import type { ResolvedConsole } from './console-settings';
import { CONSOLE_HEALTHCHECK } from './healthchecks';
import type { Orchestration } from './orchestration';
import { grantConsole, type GrantedResources } from './service-grants';

/** The port the console listens on in its task (`CONSOLE_PORT`). */
export const CONSOLE_PORT = 8080;

/** Props of {@link OperatorConsole}. */
export interface OperatorConsoleProps extends GrantedResources {
  readonly settings: ResolvedConsole;
  readonly vpc: ec2.IVpc;
  /** The cluster, secrets and placement of the services; the console is one more of them. */
  readonly orchestration: Orchestration;
  /** Where the load balancer writes its access logs. */
  readonly accessLogsBucket: s3.IBucket;
  /** `TEMPORAL_TASK_QUEUE` of the files it redrives. */
  readonly taskQueue: string;
  /** Port of the Temporal frontend, allowed out of its security group. */
  readonly temporalPort: number;
}

/** The console's service, its role, and the authenticating load balancer in front of it. */
export class OperatorConsole extends Construct {
  readonly taskRole: iam.Role;
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** `https://domainName`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: OperatorConsoleProps) {
    super(scope, id);
    const { settings } = props;
    this.url = `https://${settings.domainName}`;

    const lbSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description:
        'Console load balancer: HTTPS in from the allowed networks; out to the console and the HTTPS of the IdP',
      allowAllOutbound: false,
    });
    for (const cidr of settings.allowedCidrs) {
      lbSecurityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), 'HTTPS from an allowed network');
    }
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description:
        'Console: in from its load balancer only; HTTPS to AWS APIs and the Temporal frontend port',
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(props.temporalPort), 'Temporal frontend');

    const running = props.orchestration.addService({
      name: 'console',
      description:
        "Operator's console: reads outputs and reports, signs uploads, peeks and sends back dead letters",
      grant: (role) => grantConsole(role, props),
      cpu: 256,
      memoryLimitMiB: 512,
      environment: {
        AWS_REGION: Stack.of(this).region,
        TEMPORAL_TASK_QUEUE: props.taskQueue,
        QUEUE_URL: props.queue.queueUrl,
        INPUT_BUCKETS: props.inputBucket.bucketName,
        CONSOLE_PORT: String(CONSOLE_PORT),
        CONSOLE_ORIGIN: this.url,
        ...(settings.temporalUiUrl ? { TEMPORAL_UI_URL: settings.temporalUiUrl } : {}),
        LOG_LEVEL: 'info',
      },
      stopTimeout: Duration.seconds(30),
      healthcheck: CONSOLE_HEALTHCHECK,
      maxTasks: 2,
      securityGroup,
      port: CONSOLE_PORT,
    });
    this.taskRole = running.role;
    this.service = running.service;
    running.scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: 60 });

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: !settings.internal,
      vpcSubnets: {
        subnetType: settings.internal ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC,
      },
      securityGroup: lbSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    this.logAccessLogs(props.accessLogsBucket);
    const listener = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(settings.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      open: false,
    });
    const targets = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc: props.vpc,
      port: CONSOLE_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      healthCheck: { path: '/healthz', healthyHttpCodes: '200' },
      deregistrationDelay: Duration.seconds(10),
    });
    listener.addAction('Authenticated', {
      action: this.authenticate(settings.auth, elbv2.ListenerAction.forward([targets])),
    });

    NagSuppressions.addResourceSuppressions(lbSecurityGroup, [
      {
        id: 'AwsSolutions-EC23',
        reason:
          'The console is for operators wherever they are (narrow it with allowedCidrs); the listener authenticates every request before anything reaches the console.',
      },
    ]);
    skipCheckov(this.loadBalancer, {
      CKV_AWS_150:
        'The load balancer holds no data and is recreated by the stack; deletion protection would only block cdk destroy.',
      CKV2_AWS_28:
        'No request reaches the console before the listener authenticated it with the IdP; a WAF would screen only the authentication redirects.',
    });
  }

  /**
   * Access logs into `bucket` under `console-load-balancer/`. CDK's own `logAccessLogs` needs the stack's region
   * at synthesis; this stack has none (it synthesizes offline), so Elastic Load Balancing's account for each
   * region comes from CDK's regional facts, looked up at deployment.
   */
  private logAccessLogs(bucket: s3.IBucket): void {
    const prefix = 'console-load-balancer';
    const elbAccount = Stack.of(this).regionalFact(FactName.ELBV2_ACCOUNT);
    const grant = bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ConsoleLoadBalancerAccessLogs',
        principals: [new iam.ArnPrincipal(`arn:${Aws.PARTITION}:iam::${elbAccount}:root`)],
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${prefix}/AWSLogs/${Aws.ACCOUNT_ID}/*`)],
      }),
    );
    this.loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
    this.loadBalancer.setAttribute('access_logs.s3.bucket', bucket.bucketName);
    this.loadBalancer.setAttribute('access_logs.s3.prefix', prefix);
    // The load balancer checks that it may write there when it is created.
    if (grant.policyDependable) this.loadBalancer.node.addDependency(grant.policyDependable);
  }

  /** The listener's default action: authenticate with the configured IdP, then `next`. */
  private authenticate(auth: ResolvedConsole['auth'], next: elbv2.ListenerAction): elbv2.ListenerAction {
    if (auth.type === 'oidc') {
      return elbv2.ListenerAction.authenticateOidc({
        issuer: auth.issuer,
        authorizationEndpoint: auth.authorizationEndpoint,
        tokenEndpoint: auth.tokenEndpoint,
        userInfoEndpoint: auth.userInfoEndpoint,
        clientId: auth.clientId,
        clientSecret: SecretValue.secretsManager(auth.clientSecretName),
        ...(auth.scope ? { scope: auth.scope } : {}),
        sessionTimeout: Duration.hours(12),
        next,
      });
    }
    const userPool = cognito.UserPool.fromUserPoolArn(this, 'UserPool', auth.userPoolArn);
    return new actions.AuthenticateCognitoAction({
      userPool,
      userPoolClient: cognito.UserPoolClient.fromUserPoolClientId(
        this,
        'UserPoolClient',
        auth.userPoolClientId,
      ),
      userPoolDomain: cognito.UserPoolDomain.fromDomainName(this, 'UserPoolDomain', auth.userPoolDomain),
      sessionTimeout: Duration.hours(12),
      next,
    });
  }
}
