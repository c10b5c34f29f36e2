/** The local stack's AWS resources on the emulator, shaped like the deployment's (infra/). */
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  PutBucketCorsCommand,
  PutBucketNotificationConfigurationCommand,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { AwsClients } from '../common/aws';
import { loadSchema } from '../common/schema';
import { tableKeyOf } from '../processors/dynamodb-items';
import type { STACK_NAMES } from './stack';

type StackNames = typeof STACK_NAMES;

/** Buckets (the input one open to the console's uploads), queue with DLQ, the input bucket's notifications. */
export async function provision(
  aws: AwsClients,
  names: StackNames,
  visibilityTimeoutSeconds: number,
): Promise<{ queueUrl: string; deadLetterQueueUrl: string }> {
  const { s3, sqs, dynamodb } = aws;
  await s3.send(new CreateBucketCommand({ Bucket: names.inputBucket }));
  // The console's Upload page posts files from the browser: the local console is on loopback, any port.
  const CORSRules = [
    { AllowedOrigins: ['http://127.0.0.1:*', 'http://localhost:*'], AllowedMethods: ['POST'] },
  ];
  await s3.send(new PutBucketCorsCommand({ Bucket: names.inputBucket, CORSConfiguration: { CORSRules } }));
  const key = tableKeyOf(loadSchema(undefined));
  const keyAttributes = [key.partitionKey, ...(key.sortKey ? [key.sortKey] : [])];
  await dynamodb.send(
    new CreateTableCommand({
      TableName: names.table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: keyAttributes.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
      KeySchema: keyAttributes.map((a, i) => ({
        AttributeName: a.name,
        KeyType: i === 0 ? 'HASH' : 'RANGE',
      })),
    }),
  );
  await s3.send(new CreateBucketCommand({ Bucket: names.outputBucket }));
  const arnOf = async (url: string) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
      .Attributes!.QueueArn!;
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: names.deadLetterQueue }));
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: names.queue,
      Attributes: {
        VisibilityTimeout: String(visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: await arnOf(dlq.QueueUrl!),
          maxReceiveCount: names.maxReceiveCount,
        }),
      },
    }),
  );
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: names.inputBucket,
      NotificationConfiguration: {
        QueueConfigurations: [{ QueueArn: await arnOf(queue.QueueUrl!), Events: ['s3:ObjectCreated:*'] }],
      },
    }),
  );
  return { queueUrl: queue.QueueUrl!, deadLetterQueueUrl: dlq.QueueUrl! };
}
