/**
 * Schemas of the `csv-validate` job: what they may say, and loading and checking the schema file.
 *
 * The file (`config/schemas.json`, built in, unless `SCHEMA_FILE` names another) names its schemas and a default:
 *
 * ```json
 * { "default": "transactions",
 *   "schemas": { "transactions": { "maxRejectedPercent": 5, "columns": [
 *     { "name": "transaction_id", "type": "string", "required": true },
 *     { "name": "amount", "type": "decimal", "required": true, "totalsBy": "currency" },
 *     { "name": "currency", "type": "currency", "required": true } ] } } }
 * ```
 *
 * Column types: `string` (anything), `integer` (`[+-]?digits`), `decimal` (`[+-]?digits[.digits]`, also `.5`
 * and `5.`; no exponent, no NaN or Infinity, no spaces), `date` (`YYYY-MM-DD`, a real calendar date),
 * `currency` (3 upper-case ASCII letters, optionally one of `codes`), `enum` (one of `values`, exactly).
 * `required` columns must not be empty; an empty value in any other column is valid whatever its type.
 * `totalsBy` on a numeric column names a `currency` or `enum` column to total it by: those have few values,
 * so the totals stay small whatever the file.
 *
 * `table` (optional) is for the `csv-to-dynamodb` job: `partitionKey` and `sortKey` name the required columns
 * whose values are each item's key (see processors/dynamodb-items.ts); without them an item's key is where its
 * row is in its file.
 *
 * `delimiter` (optional) is the files' field separator: `,` (the default), `;`, `|` or `tab` (also `\t`). An
 * object's `x-amz-meta-csv-delimiter` wins over it.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './config';
import { CSV_DELIMITER_CHOICES, parseCsvDelimiter, type CsvDelimiter } from '../contract/jobs';
// Imported rather than read at run time so that the build (tsc) copies it next to the compiled processor:
// the container image holds only the build output.
import builtInSchemas from '../config/schemas.json';

/** How messages name the schema file built into the processor. */
export const BUILT_IN_SCHEMA_FILE = 'config/schemas.json';

const name = z.string().min(1);
const common = {
  name,
  required: z.boolean().default(false),
  description: z.string().optional(),
};
const numeric = { ...common, totalsBy: name.optional() };

const columnSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('string'), ...common }),
  z.strictObject({ type: z.literal('integer'), ...numeric }),
  z.strictObject({ type: z.literal('decimal'), ...numeric }),
  z.strictObject({ type: z.literal('date'), ...common }),
  z.strictObject({
    type: z.literal('currency'),
    ...common,
    codes: z
      .array(z.string().regex(/^[A-Z]{3}$/, 'a currency code is 3 upper-case letters'))
      .min(1)
      .optional(),
  }),
  z.strictObject({ type: z.literal('enum'), ...common, values: z.array(z.string()).min(1) }),
]);

const csvSchemaSchema = z
  .strictObject({
    description: z.string().optional(),
    maxRejectedPercent: z.number().min(0).max(100).default(100),
    delimiter: z
      .string()
      .transform((value, ctx) => {
        const delimiter = parseCsvDelimiter(value);
        if (delimiter === undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `expected ${CSV_DELIMITER_CHOICES}, got ${JSON.stringify(value)}`,
          });
          return z.NEVER;
        }
        return delimiter;
      })
      .optional(),
    columns: z.array(columnSchema).min(1),
    table: z
      .strictObject({ partitionKey: name.optional(), sortKey: name.optional() })
      .refine((t) => t.sortKey === undefined || t.partitionKey !== undefined, {
        message: 'a sortKey needs a partitionKey',
      })
      .optional(),
  })
  .superRefine((schema, ctx) => {
    const byName = new Map(schema.columns.map((c) => [c.name, c]));
    if (byName.size !== schema.columns.length) {
      ctx.addIssue({ code: 'custom', message: 'column names must be unique', path: ['columns'] });
    }
    for (const key of ['partitionKey', 'sortKey'] as const) {
      const column = schema.table?.[key];
      if (column === undefined) continue;
      const found = byName.get(column);
      if (!found?.required) {
        ctx.addIssue({
          code: 'custom',
          message: `${key} must name a required column (a key cannot be empty), got ${JSON.stringify(column)}`,
          path: ['table', key],
        });
      }
    }
    schema.columns.forEach((column, i) => {
      if (!('totalsBy' in column) || column.totalsBy === undefined) return;
      const by = byName.get(column.totalsBy);
      if (by?.type !== 'currency' && by?.type !== 'enum') {
        ctx.addIssue({
          code: 'custom',
          message: `totalsBy must name a currency or enum column, got ${JSON.stringify(column.totalsBy)}`,
          path: ['columns', i, 'totalsBy'],
        });
      }
    });
  });

const schemaFileSchema = z
  .strictObject({
    $comment: z.string().optional(),
    default: name.optional(),
    schemas: z.record(name, csvSchemaSchema),
  })
  .refine((file) => file.default === undefined || file.default in file.schemas, {
    message: 'default must name one of the schemas',
    path: ['default'],
  });

/** One column of a schema. */
export type ColumnSchema = z.infer<typeof columnSchema>;
/** The type of a column. */
export type ColumnType = ColumnSchema['type'];

/** A validated schema, as the job uses it. */
export interface CsvSchema {
  /** Its name in the schema file. */
  name: string;
  /** The columns, in the order the header must list them. */
  columns: ColumnSchema[];
  /** A file with a larger share of rejected rows fails (unless `MAX_REJECTED_PERCENT` overrides it). */
  maxRejectedPercent: number;
  /** The files' field separator, unless their object's metadata names another. */
  delimiter?: CsvDelimiter;
  /** csv-to-dynamodb: the columns that are the items' key; without them, the key is where the row is. */
  table?: { partitionKey?: string; sortKey?: string };
}

/** A schema file, read and checked once: its schemas by name, and how messages name the file. */
export interface SchemaFile {
  file: string;
  names: string[];
  /**
   * The schema named `schemaName`, or the file's default when it is undefined.
   * @throws ConfigError naming the schemas the file has when `schemaName` is unknown, or when it has no default.
   */
  schema(schemaName?: string): CsvSchema;
}

function checkedSchemaFile(content: unknown, file: string): SchemaFile {
  const parsed = schemaFileSchema.safeParse(content);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(file)'}: ${i.message}`);
    throw new ConfigError(`schema file ${file} is invalid:\n${problems.join('\n')}\nFix it and run again.`);
  }
  const { schemas, default: fallback } = parsed.data;
  const names = Object.keys(schemas);
  return {
    file,
    names,
    schema(schemaName) {
      const chosen = schemaName ?? fallback;
      if (chosen === undefined) {
        throw new ConfigError(
          `schema file ${file} has no default schema: set SCHEMA to one of ${names.join(', ')}`,
        );
      }
      const schema = Object.prototype.hasOwnProperty.call(schemas, chosen) ? schemas[chosen] : undefined;
      if (!schema) {
        throw new ConfigError(
          `schema ${JSON.stringify(chosen)} is not in ${file}; it has ${names.join(', ')}. Set SCHEMA to one of them`,
        );
      }
      return {
        name: chosen,
        columns: schema.columns,
        maxRejectedPercent: schema.maxRejectedPercent,
        ...(schema.delimiter ? { delimiter: schema.delimiter } : {}),
        ...(schema.table ? { table: schema.table } : {}),
      };
    },
  };
}

/**
 * Checks the parsed content of a schema file and returns the schema named `schemaName`, or the file's
 * default when it is undefined.
 * @param file the file's name, for messages.
 * @throws ConfigError naming every problem of the file, or the schemas it has when `schemaName` is unknown.
 */
export function parseSchema(content: unknown, file: string, schemaName?: string): CsvSchema {
  return checkedSchemaFile(content, file).schema(schemaName);
}

/**
 * Reads and checks `file`, or the built-in `config/schemas.json` if `file` is undefined.
 * @throws ConfigError if the file cannot be read, is not JSON or is not a valid schema file.
 */
export function openSchemaFile(file: string | undefined): SchemaFile {
  if (file === undefined) return checkedSchemaFile(builtInSchemas, BUILT_IN_SCHEMA_FILE);
  let content: unknown;
  try {
    content = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read the schema file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return checkedSchemaFile(content, file);
}

/**
 * Returns one schema ({@link SchemaFile.schema}) of `file`, or of the built-in `config/schemas.json` if `file` is
 * undefined.
 * @throws ConfigError if the file cannot be read, is not JSON or is not a valid schema file.
 */
export function loadSchema(file: string | undefined, schemaName?: string): CsvSchema {
  return openSchemaFile(file).schema(schemaName);
}
