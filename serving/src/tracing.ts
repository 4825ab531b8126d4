import { appendFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

/** Environment a pool worker inherits from the gateway so its spans go where the gateway's go. */
export const TRACING_ENV = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_TRACES_EXPORTER', 'VIGIL_TRACES_DIR'];

/**
 * Writes finished spans as JSON Lines, one file per process, in VIGIL_TRACES_DIR: the "file
 * exporter" for tests and for looking at traces without a collector.
 */
class JsonLinesSpanExporter implements SpanExporter {
  private readonly file: string;
  constructor(dir: string, service: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${service}-${process.pid}.jsonl`);
  }
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const lines = spans.map((s) =>
      JSON.stringify({
        service: (s.resource.attributes['service.name'] as string) ?? null,
        trace_id: s.spanContext().traceId,
        span_id: s.spanContext().spanId,
        parent_span_id: s.parentSpanContext?.spanId ?? null,
        name: s.name,
        kind: s.kind,
        start_ns: s.startTime[0] * 1e9 + s.startTime[1],
        duration_ns: s.duration[0] * 1e9 + s.duration[1],
        status: s.status,
        attributes: s.attributes,
      }),
    );
    try {
      appendFileSync(this.file, `${lines.join('\n')}\n`);
      done({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }
  async shutdown(): Promise<void> {}
}

let provider: BasicTracerProvider | undefined;

/**
 * Starts the OpenTelemetry tracer for this process when traces have somewhere to go: OTLP/HTTP
 * from the standard OTEL_* variables, or VIGIL_TRACES_DIR. Otherwise nothing is registered and
 * the API's no-op tracer costs next to nothing: the embedded default needs no collector.
 */
export function startTracing(service: string, attributes: Record<string, string> = {}): boolean {
  if (provider) return true;
  const env = process.env;
  const otlp = env.OTEL_TRACES_EXPORTER !== 'none' && (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const dir = env.VIGIL_TRACES_DIR;
  if (!otlp && !dir) return false;
  const spanProcessors = [];
  if (otlp) spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  if (dir) spanProcessors.push(new SimpleSpanProcessor(new JsonLinesSpanExporter(dir, service)));
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': `${hostname()}:${process.pid}`, ...attributes }),
    spanProcessors,
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return true;
}

export function tracer(): Tracer {
  return trace.getTracer('vigil');
}

export async function stopTracing(): Promise<void> {
  await provider?.shutdown().catch(() => undefined);
  provider = undefined;
}
