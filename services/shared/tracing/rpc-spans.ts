/**
 * A server span per ConnectRPC call (gRPC, gRPC-Web or Connect), continuing
 * the caller's trace when it sends a W3C `traceparent`. It runs outermost,
 * so it sees the code the client gets (after error mapping and the token
 * check); a server stream's span lasts until the stream ends, and the
 * handler's work between messages stays inside it.
 *
 * Health checks get no span: probes call them every few seconds, and a
 * trace of one span each would bury the calls worth reading.
 */
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from "@opentelemetry/api";
import { activeTracing, extractContext, fetchHeadersGetter } from "./spans.ts";

const untraced = new Set(["grpc.health.v1.Health"]);

/** The interceptor; without tracing it only calls through. */
export function rpcTracing(): Interceptor {
  return (next) => async (req) => {
    const tracing = activeTracing();
    if (!tracing || untraced.has(req.service.typeName)) return await next(req);
    const grpc = (req.header.get("content-type") ?? "").startsWith("application/grpc");
    const parent = extractContext(req.header, fetchHeadersGetter);
    const span = tracing.tracer.startSpan(
      `${req.service.typeName}/${req.method.name}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "rpc.system": grpc ? "grpc" : "connect_rpc",
          "rpc.service": req.service.typeName,
          "rpc.method": req.method.name,
        },
      },
      parent,
    );
    const inSpan = trace.setSpan(parent, span);
    let res;
    try {
      res = await context.with(inSpan, () => next(req));
    } catch (error) {
      finish(span, grpc, error);
      throw error;
    }
    if (!res.stream) {
      finish(span, grpc, undefined);
      return res;
    }
    return { ...res, message: streamInSpan(res, inSpan, span, grpc) } as StreamResponse;
  };
}

/** Yields the stream's messages, each produced inside the call's context; ends the span with the stream. */
async function* streamInSpan(res: StreamResponse, inSpan: Context, span: Span, grpc: boolean) {
  const iterator = res.message[Symbol.asyncIterator]();
  let failure: unknown;
  try {
    for (;;) {
      const step = await context.with(inSpan, () => iterator.next());
      if (step.done) return;
      yield step.value;
    }
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    // A client that went away ends the stream early: close the handler's generator too.
    if (failure === undefined) await iterator.return?.();
    finish(span, grpc, failure);
  }
}

function finish(span: Span, grpc: boolean, error: unknown): void {
  const code = error === undefined ? undefined : ConnectError.from(error).code;
  if (grpc) span.setAttribute("rpc.grpc.status_code", code ?? 0);
  else if (code !== undefined) span.setAttribute("rpc.connect_rpc.error_code", Code[code].replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase()));
  // As the RPC conventions say for servers: only codes that mean the server failed make the span an error.
  if (code !== undefined && serverFaults.has(code)) {
    span.setAttribute("error.type", Code[code]);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

const serverFaults = new Set([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);
