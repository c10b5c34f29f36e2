/**
 * The AWS SDK's OpenTelemetry instrumentation: a client span for each AWS call, under the span that made it.
 * It patches the SDK as its modules load, so each process's main.ts imports this module first of all
 * (common/tracing.ts registers where the spans go).
 */
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { AwsInstrumentation } from '@opentelemetry/instrumentation-aws-sdk';

registerInstrumentations({ instrumentations: [new AwsInstrumentation()] });
