/**
 * The server span of one webhook request: it continues the sender's trace
 * when the request carries a W3C `traceparent` (a proxy or load balancer in
 * front may add one), and its children — verification, each JetStream
 * publish — put the trace context into the stored message, where every
 * consumer picks it up. Without tracing both functions do nothing but call.
 */
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import type { HttpRequest } from "../../shared/rpc/server.ts";
import type { Provider } from "../../shared/providers.ts";
import { activeTracing, extractContext, httpHeadersGetter, withSpan } from "../../shared/tracing/spans.ts";

/** Runs the handling of a webhook request inside its server span. */
export async function traceWebhookRequest(req: HttpRequest, provider: Provider, handle: () => Promise<void>): Promise<void> {
  if (!activeTracing()) return await handle();
  const route = `/webhooks/${provider}`;
  const attributes = { "http.request.method": req.method, "http.route": route, "url.path": route, "url.scheme": "http", "network.protocol.version": req.httpVersion };
  await withSpan(`${req.method} ${route}`, { kind: SpanKind.SERVER, attributes }, handle, extractContext(req.headers, httpHeadersGetter));
}

/** What the request came to; an answer of 5xx (nothing stored) marks the span failed, as HTTP server spans do. */
export function recordWebhookAnswer(status: number, outcome: string, workspaceId: string | undefined, events: number | undefined): void {
  if (!activeTracing()) return;
  const span = trace.getSpan(context.active());
  if (!span) return;
  span.setAttributes({ "http.response.status_code": status, "ngsreach.webhook.outcome": outcome, "ngsreach.workspace_id": workspaceId, "ngsreach.webhook.events": events });
  if (status >= 500) {
    span.setAttribute("error.type", outcome);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
}
