/**
 * Spans around NATS JetStream messages: a producer span for each outbound
 * event, whose context travels in the message's headers (W3C `traceparent`,
 * `tracestate`); a consumer span for each message handled, child of that
 * context; and for a batch applied in one call, a span of its own linked to
 * every message's context (a batch belongs to no single trace), while each
 * message still gets its span in its own trace, linked back to the batch.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/nats-core";
import type { JetStreamClient, JetStreamPublishOptions, JsMsg, PubAck } from "@nats-io/jetstream";
import { isSpanContextValid, SpanKind, trace, type Attributes, type Link, type Span, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import { maskAddresses } from "../log.ts";
import { activeTracing, extractContext, injectContext, markFailed, recordSetter, withSpan } from "./spans.ts";

/** NATS message headers as a carrier; names are matched exactly, as the propagator writes them lower-case. */
export const natsHeadersGetter: TextMapGetter<MsgHdrs> = {
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
  keys: (carrier) => carrier.keys(),
};

export const natsHeadersSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** Attributes of a message send. */
function sendAttributes(subject: string, msgId: string | undefined): Attributes {
  return {
    "messaging.system": "nats",
    "messaging.operation.type": "send",
    "messaging.operation.name": "send",
    "messaging.destination.name": subject,
    "messaging.message.id": messageIdAttribute(msgId),
  };
}

/** Some message ids are keyed by address (`<ws>:<address>:v<n>` of a subscriber's events): masked as in the logs. */
function messageIdAttribute(msgId: string | undefined): string | undefined {
  return msgId === undefined ? undefined : maskAddresses(msgId);
}

/**
 * `js.publish` with a producer span named `send <kind>.{workspace}.<event>` (outbound subjects carry the
 * workspace second; the span name leaves it out to stay low-cardinality, the attributes keep the subject),
 * whose context is injected into the message's headers (added to `options.headers` when given). Without
 * tracing it is `js.publish` itself.
 */
export async function publishTraced(js: JetStreamClient, subject: string, data: Uint8Array, options: Partial<JetStreamPublishOptions> = {}): Promise<PubAck> {
  if (!activeTracing()) return await js.publish(subject, data, options);
  const destination = subject.split(".").map((token, index) => (index === 1 ? "{workspace}" : token)).join(".");
  return await withSpan(`send ${destination}`, { kind: SpanKind.PRODUCER, attributes: sendAttributes(subject, options.msgID) }, async () => {
    const headers = options.headers ?? natsHeaders();
    injectContext(headers, natsHeadersSetter);
    return await js.publish(subject, data, { ...options, headers });
  });
}

/** The gateway's own publisher takes plain header records: the span around it, and the headers to send. */
export async function withSendSpan<T>(destination: string, subject: string, msgId: string, send: (headers: Record<string, string> | undefined) => Promise<T>): Promise<T> {
  if (!activeTracing()) return await send(undefined);
  return await withSpan(`send ${destination}`, { kind: SpanKind.PRODUCER, attributes: sendAttributes(subject, msgId) }, async () => {
    const headers: Record<string, string> = {};
    injectContext(headers, recordSetter);
    return await send(headers);
  });
}

/** Who consumes: the durable consumer's name and its stream. */
export interface ConsumerIdentity {
  readonly name: string;
  readonly stream: string;
}

function processAttributes(consumer: ConsumerIdentity, msg: JsMsg): Attributes {
  return {
    "messaging.system": "nats",
    "messaging.operation.type": "process",
    "messaging.operation.name": "process",
    "messaging.destination.name": msg.subject,
    "messaging.consumer.group.name": consumer.name,
    "messaging.message.id": messageIdAttribute(msg.headers?.has("Nats-Msg-Id") ? msg.headers.get("Nats-Msg-Id") : undefined),
    "ngsreach.stream": consumer.stream,
    "ngsreach.stream_sequence": msg.seq,
    "ngsreach.delivery_count": msg.info.deliveryCount,
  };
}

/** Runs the handling of one message inside a consumer span continuing the trace its headers carry. */
export async function traceMessage<T>(consumer: ConsumerIdentity, msg: JsMsg, handle: () => Promise<T>): Promise<T> {
  if (!activeTracing()) return await handle();
  const parent = extractContext(msg.headers, natsHeadersGetter);
  return await withSpan(`process ${consumer.name}`, { kind: SpanKind.CONSUMER, attributes: processAttributes(consumer, msg) }, handle, parent);
}

/**
 * Runs one `handleBatch` call inside a batch span (a root, linked to each message's context; its database
 * calls are its children) and gives each message a span in its own trace, linked to the batch span and
 * ending with it, so a webhook's trace shows when and where it was applied.
 */
export async function traceBatch<T>(consumer: ConsumerIdentity, msgs: readonly JsMsg[], apply: () => Promise<T>): Promise<T> {
  const tracing = activeTracing();
  if (!tracing) return await apply();
  const parents = msgs.map((msg) => extractContext(msg.headers, natsHeadersGetter));
  const links: Link[] = [];
  for (const parent of parents) {
    const spanContext = trace.getSpanContext(parent);
    if (spanContext && isSpanContextValid(spanContext)) links.push({ context: spanContext });
  }
  const attributes: Attributes = {
    "messaging.system": "nats",
    "messaging.operation.type": "process",
    "messaging.operation.name": "process",
    "messaging.consumer.group.name": consumer.name,
    "messaging.batch.message_count": msgs.length,
    "ngsreach.stream": consumer.stream,
  };
  let messageSpans: Span[] = [];
  try {
    return await withSpan(
      `process ${consumer.name} batch`,
      { kind: SpanKind.CONSUMER, root: true, links, attributes },
      async (batchSpan) => {
        const link = batchSpan ? [{ context: batchSpan.spanContext() }] : [];
        messageSpans = msgs.map((msg, index) =>
          tracing.tracer.startSpan(`process ${consumer.name}`, { kind: SpanKind.CONSUMER, links: link, attributes: { ...processAttributes(consumer, msg), "ngsreach.batched": true } }, parents[index]),
        );
        return await apply();
      },
    );
  } catch (error) {
    for (const span of messageSpans) markFailed(span, error);
    throw error;
  } finally {
    for (const span of messageSpans) span.end();
  }
}
