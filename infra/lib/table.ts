/** The DynamoDB table the `csv-to-dynamodb` job loads rows into. */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
// The one exception to the folder boundary (eslint.config.mjs): the table must have the key the job's items
// carry, which the processor derives from its schema, and a copy of that rule here could drift from it.
// eslint-disable-next-line no-restricted-imports -- the key rule of the items, not processor code
import { tableKeyOf, type KeyAttribute } from '../../processors/dynamodb-items';
import { loadSchema } from '../../common/schema';
import { skipCheckov } from './checks';

const ATTRIBUTE_TYPES: Record<KeyAttribute['type'], dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
};
const keyAttribute = ({ name, type }: KeyAttribute): dynamodb.Attribute => ({
  name,
  type: ATTRIBUTE_TYPES[type],
});

/**
 * The table's key is the one the job's items carry for the built-in default schema (`tableKeyOf`), so that
 * the items of every row fit it; the local stack creates its table with the same key.
 *
 * On-demand: files arrive in bursts and a load writes as fast as the table takes it, so provisioned capacity
 * would either throttle the bursts or stand idle between them. Encrypted with the AWS-managed key
 * (`aws/dynamodb`), not a customer-managed one: the writers then need no KMS grants (DynamoDB uses the key on
 * their behalf), there is no key policy to keep in step with the roles, and, unlike the default AWS-owned
 * key, each use of the key is in CloudTrail. Switch to `TableEncryption.CUSTOMER_MANAGED` if your compliance
 * needs to control or revoke the key. The rows are the product of the pipeline: point-in-time recovery
 * (35 days), deletion protection, and the table is kept when the stack is deleted.
 */
export class PipelineTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const key = tableKeyOf(loadSchema(undefined));
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: keyAttribute(key.partitionKey),
      ...(key.sortKey ? { sortKey: keyAttribute(key.sortKey) } : {}),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    skipCheckov(this.table, {
      CKV_AWS_119:
        'Encrypted at rest with the AWS-managed KMS key aws/dynamodb, its use logged in CloudTrail: a customer-managed key would need a key policy and KMS grants for the processor and worker roles, for no control this pipeline uses.',
    });
  }
}
