/**
 * The AWS SDK's OpenTelemetry instrumentation: a client span for each AWS call, under the span that made it.
 * It patches the SDK as its modules load, so each process's main.ts imports this module first of all
 * (common/tracing-sdk.ts registers where the spans go). Only when spans are sent: otherwise its tens of megabytes
 * are not loaded (the processor's memory bound has no room for them).
 */
import type * as Instrumentation from '@opentelemetry/instrumentation';
import type * as AwsSdkInstrumentation from '@opentelemetry/instrumentation-aws-sdk';
import { exportsTraces } from './tracing';

if (exportsTraces(process.env)) {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only when spans are sent, before the SDK */
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof Instrumentation;
  const { AwsInstrumentation } =
    require('@opentelemetry/instrumentation-aws-sdk') as typeof AwsSdkInstrumentation;
  /* eslint-enable @typescript-eslint/no-require-imports */
  registerInstrumentations({ instrumentations: [new AwsInstrumentation()] });
}
