/**
 * Tracing (OpenTelemetry): one trace per file, from the ingress's hand-over through the workflow, its activities
 * and the processor run, each with its AWS calls (common/instrument.ts). Temporal carries the context from the
 * client to the workflow and its activities in headers (`@temporalio/interceptors-opentelemetry`); the compute
 * activity hands it to the processor in `TRACEPARENT`, on every backend. This module needs only the API; where
 * spans go is set up by ./tracing-sdk.ts.
 */
import { context, propagation, type Context, type Tracer } from '@opentelemetry/api';

/** The tracer of the project's own spans (`trace.getTracer(TRACER_NAME)`: a no-op until tracing starts). */
export const TRACER_NAME = 'file-pipeline';

/** Whether `env` sends spans anywhere: `OTEL_TRACES_EXPORTER` set, and not `none`. */
export function exportsTraces(env: NodeJS.ProcessEnv): boolean {
  return (env.OTEL_TRACES_EXPORTER || 'none') !== 'none';
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
