/**
 * A loopback OTLP/HTTP trace receiver for tests: accepts what the services'
 * exporters post to `/v1/traces`, in http/json or http/protobuf, and keeps
 * every span in one shape. The exporter packages export no decoder for their
 * requests, so protobuf is read here at the wire level, the few fields of
 * opentelemetry/proto/trace/v1 a test looks at (field numbers from
 * trace.proto, common.proto and resource.proto).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

export type AttributeValue = string | number | boolean | undefined;

export interface ReceivedSpan {
  serviceName: string;
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  links: { traceId: string; spanId: string }[];
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  /** Start and end, in milliseconds since the epoch. */
  startMs: number;
  endMs: number;
}

export interface OtlpReceiver {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT (the exporters append /v1/traces). */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Content types of the requests received, in order. */
  readonly contentTypes: string[];
  close(): Promise<void>;
}

export const spanKind = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

/** Starts the receiver on a free loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const type = req.headers["content-type"] ?? "";
      contentTypes.push(type);
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      try {
        spans.push(...(type.startsWith("application/json") ? fromJson(JSON.parse(body.toString("utf8"))) : fromProtobuf(body)));
      } catch (error) {
        res.writeHead(400, { "content-type": "text/plain" }).end(String(error));
        return;
      }
      // An empty ExportTraceServiceResponse: all spans accepted.
      if (type.startsWith("application/json")) res.writeHead(200, { "content-type": "application/json" }).end("{}");
      else res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface JsonKeyValue {
  key: string;
  value?: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const { key, value } of list ?? []) {
    attributes[key] = value?.stringValue ?? (value?.intValue !== undefined ? Number(value.intValue) : (value?.boolValue ?? value?.doubleValue));
  }
  return attributes;
}

function fromJson(request: any): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const serviceName = String(jsonAttributes(resourceSpans.resource?.attributes)["service.name"] ?? "");
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          serviceName,
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? "",
          name: span.name,
          kind: span.kind,
          attributes: jsonAttributes(span.attributes),
          links: (span.links ?? []).map((link: { traceId: string; spanId: string }) => ({ traceId: link.traceId, spanId: link.spanId })),
          statusCode: span.status?.code ?? 0,
          statusMessage: span.status?.message ?? "",
          startMs: Number(BigInt(span.startTimeUnixNano ?? 0) / 1_000_000n),
          endMs: Number(BigInt(span.endTimeUnixNano ?? 0) / 1_000_000n),
        });
      }
    }
  }
  return spans;
}

/** Calls `field` for each field of the message in `bytes`; `field` reads the value or returns false to skip it. */
function readMessage(bytes: Uint8Array, field: (reader: BinaryReader, fieldNo: number, wireType: WireType) => boolean | void): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (field(reader, fieldNo, wireType) === false) reader.skip(wireType, fieldNo);
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function protoKeyValue(bytes: Uint8Array): [string, AttributeValue] {
  let key = "";
  let value: AttributeValue;
  readMessage(bytes, (reader, fieldNo) => {
    if (fieldNo === 1) key = reader.string();
    else if (fieldNo === 2) {
      // AnyValue: 1 string, 2 bool, 3 int64, 4 double.
      readMessage(reader.bytes(), (inner, valueNo) => {
        if (valueNo === 1) value = inner.string();
        else if (valueNo === 2) value = inner.bool();
        else if (valueNo === 3) value = Number(inner.int64());
        else if (valueNo === 4) value = inner.double();
        else return false;
      });
    } else return false;
  });
  return [key, value];
}

function protoSpan(bytes: Uint8Array, serviceName: string): ReceivedSpan {
  const span: ReceivedSpan = { serviceName, traceId: "", spanId: "", parentSpanId: "", name: "", kind: 0, attributes: {}, links: [], statusCode: 0, statusMessage: "", startMs: 0, endMs: 0 };
  readMessage(bytes, (reader, fieldNo) => {
    if (fieldNo === 1) span.traceId = hex(reader.bytes());
    else if (fieldNo === 2) span.spanId = hex(reader.bytes());
    else if (fieldNo === 4) span.parentSpanId = hex(reader.bytes());
    else if (fieldNo === 5) span.name = reader.string();
    else if (fieldNo === 6) span.kind = reader.int32();
    else if (fieldNo === 7) span.startMs = Number(BigInt(reader.fixed64()) / 1_000_000n);
    else if (fieldNo === 8) span.endMs = Number(BigInt(reader.fixed64()) / 1_000_000n);
    else if (fieldNo === 9) {
      const [key, value] = protoKeyValue(reader.bytes());
      span.attributes[key] = value;
    } else if (fieldNo === 13) {
      const link = { traceId: "", spanId: "" };
      readMessage(reader.bytes(), (inner, linkNo) => {
        if (linkNo === 1) link.traceId = hex(inner.bytes());
        else if (linkNo === 2) link.spanId = hex(inner.bytes());
        else return false;
      });
      span.links.push(link);
    } else if (fieldNo === 15) {
      readMessage(reader.bytes(), (inner, statusNo) => {
        if (statusNo === 3) span.statusCode = inner.int32();
        else if (statusNo === 2) span.statusMessage = inner.string();
        else return false;
      });
    } else return false;
  });
  return span;
}

/** ExportTraceServiceRequest: 1 ResourceSpans (1 Resource (1 attributes), 2 ScopeSpans (2 Span)). */
function fromProtobuf(body: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  readMessage(body, (reader, fieldNo) => {
    if (fieldNo !== 1) return false;
    let serviceName = "";
    const scopes: Uint8Array[] = [];
    readMessage(reader.bytes(), (resourceSpans, no) => {
      if (no === 1) {
        readMessage(resourceSpans.bytes(), (resource, resourceNo) => {
          if (resourceNo !== 1) return false;
          const [key, value] = protoKeyValue(resource.bytes());
          if (key === "service.name") serviceName = String(value);
        });
      } else if (no === 2) scopes.push(resourceSpans.bytes());
      else return false;
    });
    for (const scope of scopes) {
      readMessage(scope, (scopeSpans, no) => {
        if (no !== 2) return false;
        spans.push(protoSpan(scopeSpans.bytes(), serviceName));
      });
    }
  });
  return spans;
}
