/**
 * Starting OpenTelemetry tracing in a service process, when — and only when —
 * an OTLP endpoint is configured: then the SDK is loaded, a tracer provider
 * with a batch span processor and an OTLP/HTTP exporter (protobuf or JSON)
 * is registered, with the AsyncLocalStorage context manager (the active span
 * follows async calls, on Node and on Deno) and the W3C trace-context
 * propagator. Without an endpoint nothing is loaded or registered: the span
 * helpers call straight through and the API stays its no-op self.
 *
 * One provider per process. Tests run several services in one process; they
 * share the first one's provider (and service name) and the last to stop
 * shuts it down.
 */
import { randomUUID } from "node:crypto";
import { context, diag, DiagLogLevel, propagation, trace } from "@opentelemetry/api";
import type { Sampler, SpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import type { Logger } from "../log.ts";
import type { TracingConfig } from "./config.ts";
import { setActiveTracing } from "./spans.ts";

/** A started tracing setup; `stop` flushes the spans still queued and shuts the exporter down. */
export interface TracingHandle {
  readonly serviceName: string;
  /** The batch span processor (tests check what was installed). */
  readonly processor: SpanProcessor;
  stop(): Promise<void>;
}

interface Shared {
  provider: TracerProvider;
  handle: Omit<TracingHandle, "stop">;
  users: number;
}

let shared: Shared | undefined;

/** How long a stop waits for the last export (the collector may be down; shutdown must still end). */
const stopTimeoutMs = 2000;

/** Registers tracing if `config` names an endpoint; undefined (and nothing registered) otherwise. */
export async function startTracing(config: TracingConfig | undefined, serviceName: string, log: Logger): Promise<TracingHandle | undefined> {
  if (!config?.tracesUrl) return undefined;
  if (!shared) shared = await register(config, config.tracesUrl, config.serviceName ?? serviceName, log);
  shared.users++;
  const current = shared;
  let stopped = false;
  return {
    ...current.handle,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (--current.users > 0) return;
      shared = undefined;
      setActiveTracing(undefined);
      await Promise.race([
        current.provider.shutdown().catch((error: unknown) => log.warn("tracing: could not export the last spans", { error })),
        new Promise((resolve) => setTimeout(resolve, stopTimeoutMs).unref?.()),
      ]);
      trace.disable();
      context.disable();
      propagation.disable();
      diag.disable();
    },
  };
}

async function register(config: TracingConfig, tracesUrl: string, serviceName: string, log: Logger): Promise<Shared> {
  const [sdk, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { resourceFromAttributes }, exporters] = await Promise.all([
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
    config.protocol === "http/json" ? import("@opentelemetry/exporter-trace-otlp-http") : import("@opentelemetry/exporter-trace-otlp-proto"),
  ]);
  // The SDK reports failed exports through its diagnostic logger, silent unless one is set.
  diag.setLogger(
    {
      error: (message) => log.warn(`tracing: ${message}`),
      warn: (message) => log.warn(`tracing: ${message}`),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  );
  const processor = new sdk.BatchSpanProcessor({
    exporter: new exporters.OTLPTraceExporter({ url: tracesUrl }),
    scheduledDelayMillis: config.scheduledDelayMs,
    maxQueueSize: config.maxQueueSize,
    maxExportBatchSize: Math.min(512, config.maxQueueSize),
  });
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName, "service.instance.id": randomUUID() }),
    sampler: samplerOf(sdk, config),
    spanProcessors: [processor],
  });
  const propagator = new W3CTraceContextPropagator();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(propagator);
  trace.setGlobalTracerProvider(provider);
  setActiveTracing({ tracer: provider.getTracer("ngsreach"), propagator });
  log.info("tracing on", { serviceName, endpoint: tracesUrl.replace(/\/\/[^@/]*@/, "//***@"), protocol: config.protocol, sampler: config.sampler, ratio: config.samplerRatio });
  return { provider, handle: { serviceName, processor }, users: 0 };
}

function samplerOf(sdk: typeof import("@opentelemetry/sdk-trace"), config: TracingConfig): Sampler {
  const root = config.sampler.endsWith("always_on")
    ? new sdk.AlwaysOnSampler()
    : config.sampler.endsWith("always_off")
      ? new sdk.AlwaysOffSampler()
      : new sdk.TraceIdRatioBasedSampler(config.samplerRatio);
  return config.sampler.startsWith("parentbased_") ? new sdk.ParentBasedSampler({ root }) : root;
}
