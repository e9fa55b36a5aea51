/**
 * The span helpers every instrumented place uses. Each one first asks whether
 * tracing was started in this process: when it was not (no endpoint set),
 * they call straight through — no span object, no context switch, no header
 * — so a service without tracing pays one branch per call.
 *
 * Span contents never hold personal data: names and attributes are subjects,
 * ids, counts and codes; a failure is recorded as its error class (and Mongo
 * or NATS code), with its message masked as in the logs (errors quote what
 * they failed on: a duplicate key names the key, which may hold an address).
 */
import {
  context,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type SpanOptions,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
} from "@opentelemetry/api";
import { maskAddresses } from "../log.ts";

/** What startTracing installs; undefined while tracing is off. */
export interface ActiveTracing {
  readonly tracer: Tracer;
  readonly propagator: TextMapPropagator;
}

let active: ActiveTracing | undefined;

/** Used by startTracing only. */
export function setActiveTracing(next: ActiveTracing | undefined): void {
  active = next;
}

/** The tracer and propagator in use, or undefined when tracing is off (the check hot paths make first). */
export function activeTracing(): ActiveTracing | undefined {
  return active;
}

/** Runs `fn` inside a new span (child of `parent`, by default the active context) and ends it; a throw marks it failed. */
export async function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span | undefined) => Promise<T>, parent?: Context): Promise<T> {
  if (!active) return await fn(undefined);
  const from = parent ?? context.active();
  const span = active.tracer.startSpan(name, options, from);
  try {
    return await context.with(trace.setSpan(from, span), fn, undefined, span);
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** withSpan for synchronous work (signature verification). */
export function withSpanSync<T>(name: string, options: SpanOptions, fn: (span: Span | undefined) => T): T {
  if (!active) return fn(undefined);
  const from = context.active();
  const span = active.tracer.startSpan(name, options, from);
  try {
    return context.with(trace.setSpan(from, span), fn, undefined, span);
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Records a failure on a span: its class and code as `error.type`, its masked message as the status. */
export function markFailed(span: Span, error: unknown): void {
  span.setAttribute("error.type", errorType(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? maskAddresses(error.message).slice(0, 500) : undefined });
}

/** Marks the active span, if any, failed (a consumer's handling span when its handler threw). */
export function failActiveSpan(error: unknown): void {
  if (!active) return;
  const span = trace.getSpan(context.active());
  if (span) markFailed(span, error);
}

function errorType(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const code = (error as { codeName?: unknown; code?: unknown }).codeName ?? (error as { code?: unknown }).code;
  return typeof code === "string" || typeof code === "number" ? `${error.name} ${code}` : error.name;
}

/** Reads a W3C `traceparent`/`tracestate` from headers (HTTP, Connect, or NATS message headers). */
export function extractContext<C>(carrier: C | undefined, getter: TextMapGetter<C>): Context {
  if (!active || carrier === undefined) return ROOT_CONTEXT;
  return active.propagator.extract(ROOT_CONTEXT, carrier, getter);
}

/** Writes the active (or given) context as W3C headers into the carrier. */
export function injectContext<C>(carrier: C, setter: TextMapSetter<C>, from: Context = context.active()): void {
  active?.propagator.inject(from, carrier, setter);
}

/** Node's incoming HTTP headers (lower-case names; a repeated header is an array). */
export const httpHeadersGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

/** Fetch-API `Headers` (what ConnectRPC hands an interceptor). */
export const fetchHeadersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};

/** A plain record of header values (what the gateway's publisher puts on a message). */
export const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};
