/** The CDK app: `npm run cdk -- synth | diff | deploy`. Parameters come from context (infra/README.md). */
import { App } from 'aws-cdk-lib';
import { PipelineStack } from '../lib/pipeline-stack';

const app = new App();
new PipelineStack(app, 'FilePipeline', {
  description: 'S3 → SQS → Temporal → AWS Batch / ECS Fargate file-processing pipeline',
});
