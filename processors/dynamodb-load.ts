/**
 * The loader of the `csv-to-dynamodb` job: csv-validate's valid rows, each an item of the table
 * (processors/dynamodb-items.ts), written by processors/dynamodb-writer.ts as they are scanned. A row whose
 * number DynamoDB cannot hold exactly is rejected instead (rule `number_too_precise`).
 *
 * The rows are loaded as they are read: a file that then fails its rejected-row threshold has its valid rows
 * in the table already. They are keyed by the schema's key columns or by their place in the file, so the
 * rerun after a fix overwrites the same items.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ValidRowSink } from './csv-record-validator';
import { itemOf, itemShapeOf, keyAttributesOf, MAX_NUMBER_DIGITS } from './dynamodb-items';
import { createDynamoDbWriter, type DynamoDbWriteStats, type Item } from './dynamodb-writer';
import type { CsvSchema } from '../common/schema';

export interface RowLoaderOptions {
  client: DynamoDBClient;
  table: string;
  schema: CsvSchema;
  /** The input's object key (or path): the key of items whose schema names no key column. */
  objectKey: string;
}

export function createRowLoader(o: RowLoaderOptions): {
  rows: ValidRowSink;
  close(): Promise<DynamoDbWriteStats>;
} {
  const shape = itemShapeOf(o.schema);
  const writer = createDynamoDbWriter({
    client: o.client,
    table: o.table,
    keyAttributes: keyAttributesOf(shape),
  });
  /** Items of the records scanned since the last drain. */
  let scanned: Item[] = [];
  return {
    rows: {
      row(fields, row) {
        const made = itemOf(shape, fields, o.objectKey, row);
        if ('tooPrecise' in made) {
          return {
            column: made.tooPrecise,
            rule: 'number_too_precise',
            expected: `at most ${MAX_NUMBER_DIGITS} significant digits (DynamoDB's limit)`,
          };
        }
        scanned.push(made.item);
        return undefined;
      },
      async drain() {
        const items = scanned;
        scanned = [];
        for (const item of items) await writer.put(item);
      },
    },
    close: () => writer.close(),
  };
}
