/**
 * A valid CSV row as a DynamoDB item, for the `csv-to-dynamodb` job: its types from the schema's columns,
 * its key from the schema's key columns, or, without them, from where the row is.
 *
 * - `integer` and `decimal` become N, written as in the file (a leading `+` dropped, `.5` as `0.5`, `5.` as
 *   `5`, which DynamoDB would refuse): no float rounding. DynamoDB keeps 38 significant digits; a value with
 *   more is a reject (rule `number_too_precise`) rather than a refused batch.
 * - `string`, `date`, `currency` and `enum` become S.
 * - An empty field is no attribute at all.
 * - Without key columns the partition key `pk` is `<object key>#<row number>`, the row's number in the file
 *   (1 for the first row after the header): a rerun or a redelivery writes the same items again.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { Item } from './dynamodb-writer';
import type { CsvSchema } from '../common/schema';

/** The partition key attribute of a table whose schema names no key column. */
export const ROW_KEY_ATTRIBUTE = 'pk';
/** Significant digits DynamoDB keeps in a number. */
export const MAX_NUMBER_DIGITS = 38;

export type ItemColumnType = 'string' | 'integer' | 'decimal' | 'date' | 'currency' | 'enum';

export interface ItemShape {
  /** The columns, in the file's order. */
  columns: readonly { name: string; type: ItemColumnType }[];
  /** The column whose value is the partition key; without it, {@link ROW_KEY_ATTRIBUTE} from the row. */
  partitionKey?: string | undefined;
  /** The column whose value is the sort key. */
  sortKey?: string | undefined;
}

/** The items a schema's rows become. */
export function itemShapeOf(schema: CsvSchema): ItemShape {
  return {
    columns: schema.columns.map(({ name, type }) => ({ name, type })),
    partitionKey: schema.table?.partitionKey,
    sortKey: schema.table?.sortKey,
  };
}

/** The table's key attributes for items of `shape`. */
export function keyAttributesOf(shape: ItemShape): string[] {
  return [shape.partitionKey ?? ROW_KEY_ATTRIBUTE, ...(shape.sortKey ? [shape.sortKey] : [])];
}

/** A key attribute of the table, as CreateTable (and CDK) name it. */
export interface KeyAttribute {
  name: string;
  type: 'S' | 'N';
}

/**
 * The key a table needs for the items of `schema`: the key columns (N for an integer or decimal column, else
 * S), or {@link ROW_KEY_ATTRIBUTE} (S). The local stack and the CDK app create the table with it.
 */
export function tableKeyOf(schema: CsvSchema): { partitionKey: KeyAttribute; sortKey?: KeyAttribute } {
  const attribute = (name: string): KeyAttribute => {
    const type = schema.columns.find((c) => c.name === name)?.type;
    return { name, type: type === 'integer' || type === 'decimal' ? 'N' : 'S' };
  };
  const { partitionKey, sortKey } = schema.table ?? {};
  return {
    partitionKey: partitionKey ? attribute(partitionKey) : { name: ROW_KEY_ATTRIBUTE, type: 'S' },
    ...(sortKey ? { sortKey: attribute(sortKey) } : {}),
  };
}

/**
 * A number as DynamoDB takes it, from a value the schema's `integer` or `decimal` rule accepted.
 * @returns undefined when it has more significant digits than DynamoDB keeps.
 */
export function dynamoNumber(text: string): string | undefined {
  let sign = '';
  let digits = text;
  if (digits.startsWith('+')) digits = digits.slice(1);
  else if (digits.startsWith('-')) {
    sign = '-';
    digits = digits.slice(1);
  }
  const dot = digits.indexOf('.');
  let whole = dot < 0 ? digits : digits.slice(0, dot);
  let fraction = dot < 0 ? '' : digits.slice(dot + 1);
  whole = whole.replace(/^0+(?=\d)/, '') || '0';
  fraction = fraction.replace(/0+$/, '');
  const significant = `${whole === '0' ? '' : whole}${fraction}`.replace(/^0+/, '');
  if (significant.length > MAX_NUMBER_DIGITS) return undefined;
  const number = fraction ? `${whole}.${fraction}` : whole;
  return number === '0' ? '0' : `${sign}${number}`;
}

/**
 * The item of one row. `fields` are the row's values in the columns' order, already valid for the schema.
 * @returns the item, or the name of the first numeric column DynamoDB cannot hold exactly.
 */
export function itemOf(
  shape: ItemShape,
  fields: readonly string[],
  objectKey: string,
  rowNumber: number,
): { item: Item } | { tooPrecise: string } {
  const item: Item = {};
  for (let i = 0; i < shape.columns.length; i++) {
    const value = fields[i] ?? '';
    if (value === '') continue;
    const { name, type } = shape.columns[i]!;
    let attribute: AttributeValue;
    if (type === 'integer' || type === 'decimal') {
      const n = dynamoNumber(value);
      if (n === undefined) return { tooPrecise: name };
      attribute = { N: n };
    } else attribute = { S: value };
    item[name] = attribute;
  }
  if (!shape.partitionKey) item[ROW_KEY_ATTRIBUTE] = { S: `${objectKey}#${rowNumber}` };
  return { item };
}
