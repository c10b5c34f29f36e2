/**
 * Where spans go (common/tracing.ts says what they are): the standard `OTEL_TRACES_EXPORTER`, `otlp`
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`; on AWS the task's collector, to X-Ray), `zipkin` (`OTEL_EXPORTER_ZIPKIN_ENDPOINT`:
 * `npm run dev -- --traces`), or `none`, the default: context still flows, nothing is sent. The SDK is tens of
 * megabytes: the processor loads this module only when it sends spans.
 */
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { AWSXRayIdGenerator } from '@opentelemetry/id-generator-aws-xray';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NoopSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import { ConfigError } from './config';
import { TRACER_NAME } from './tracing';

/** The exporters `OTEL_TRACES_EXPORTER` may name. */
export const TRACE_EXPORTERS = ['none', 'otlp', 'zipkin'] as const;
export type TraceExporter = (typeof TRACE_EXPORTERS)[number];

export interface Tracing {
  /** For the worker's and the client's `plugins`: Temporal's interceptors, and the workflows' span sink. */
  plugin: OpenTelemetryPlugin;
  tracer: Tracer;
  /** Sends what is pending: before the process exits. */
  shutdown(): Promise<void>;
}

function exporterOf(name: TraceExporter): SpanExporter | undefined {
  if (name === 'otlp') return new OTLPTraceExporter();
  if (name === 'zipkin') return new ZipkinExporter();
  return undefined;
}

/**
 * Starts tracing for `component` (the service name `file-pipeline-COMPONENT`), exporting as
 * `OTEL_TRACES_EXPORTER` in `env` says (the worker and the ingress have checked it with their configuration;
 * the processor has not); `processor` replaces the exporter (the tests' in-memory one). Registers the W3C
 * trace-context propagator. Trace IDs start with their second, as X-Ray requires of the spans it takes.
 * @throws ConfigError for an exporter it does not know.
 */
export function startTracing(
  component: string,
  env: NodeJS.ProcessEnv = process.env,
  processor?: SpanProcessor,
): Tracing {
  const exporter = env.OTEL_TRACES_EXPORTER || 'none';
  if (!(TRACE_EXPORTERS as readonly string[]).includes(exporter)) {
    throw new ConfigError(
      `OTEL_TRACES_EXPORTER is "${exporter}": expected one of ${TRACE_EXPORTERS.join(', ')}. Set it, or leave it unset for none.`,
    );
  }
  const resource = new Resource({ 'service.name': `file-pipeline-${component}` });
  const spanExporter = exporterOf(exporter as TraceExporter);
  const spanProcessors = processor ? [processor] : spanExporter ? [new BatchSpanProcessor(spanExporter)] : [];
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors,
    idGenerator: new AWSXRayIdGenerator(),
  });
  provider.register();
  return {
    // Workflow spans travel through a sink to the same processor (none: they are dropped there).
    plugin: new OpenTelemetryPlugin({
      resource,
      spanProcessor: spanProcessors[0] ?? new NoopSpanProcessor(),
    }),
    tracer: provider.getTracer(TRACER_NAME),
    shutdown: () => provider.shutdown(),
  };
}
