/**
 * Tracing (OpenTelemetry): one trace per file, from the ingress's hand-over through the workflow, its activities
 * and the processor run, each with its AWS calls (common/instrument.ts). Temporal carries the context from the
 * client to the workflow and its activities in headers (`@temporalio/interceptors-opentelemetry`); the compute
 * activity hands it to the processor in `TRACEPARENT`, on every backend.
 *
 * Where spans go is the standard `OTEL_TRACES_EXPORTER`: `otlp` (`OTEL_EXPORTER_OTLP_ENDPOINT`; on AWS the
 * worker's collector sidecar, to X-Ray), `zipkin` (`OTEL_EXPORTER_ZIPKIN_ENDPOINT`: `npm run dev -- --traces`),
 * or `none`, the default: context still flows, nothing is sent.
 */
import { context, propagation, type Context, type Tracer } from '@opentelemetry/api';
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

/** The tracer of the project's own spans (`trace.getTracer(TRACER_NAME)`: a no-op until tracing starts). */
export const TRACER_NAME = 'file-pipeline';

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

/** `TRACEPARENT` (and `TRACESTATE`) of the active span, for a process that continues the trace. */
export function traceContextEnvironment(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return {
    ...(carrier.traceparent ? { TRACEPARENT: carrier.traceparent } : {}),
    ...(carrier.tracestate ? { TRACESTATE: carrier.tracestate } : {}),
  };
}

/** The context `TRACEPARENT` names (the root context without one). */
export function contextFromEnvironment(env: NodeJS.ProcessEnv): Context {
  const carrier = {
    ...(env.TRACEPARENT ? { traceparent: env.TRACEPARENT } : {}),
    ...(env.TRACESTATE ? { tracestate: env.TRACESTATE } : {}),
  };
  return propagation.extract(context.active(), carrier);
}

/** Runs `fn` in a span named `name` under `parent`, ending it with its outcome. */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  parent: Context,
  attributes: Record<string, string | number>,
  fn: () => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, parent, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: 2, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}
