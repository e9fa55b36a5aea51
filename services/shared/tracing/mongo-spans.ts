/**
 * A client span per MongoDB command, from the driver's command monitoring
 * (connectMongo turns it on only while tracing is): the driver emits
 * commandStarted synchronously inside the operation's async call chain, so
 * the active context (AsyncLocalStorage) is the caller's — a consumer's
 * handling span, an RPC's server span.
 *
 * A span records the command's name, collection and database only, never a
 * document, filter or error message (a duplicate-key message quotes the key).
 * Commands outside any span — health pings, background sweeps — are not
 * recorded: each would be a trace of one span, every few seconds.
 */
import type { CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent, MongoClient } from "mongodb";
import { context, SpanKind, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import { activeTracing } from "./spans.ts";

/** Commands started but not yet answered, at most this many (a lost reply must not grow the map forever). */
const maxOpenSpans = 10_000;

/** Starts a span per command on `client`; it must be created with `monitorCommands: true`. */
export function traceMongoCommands(client: MongoClient): void {
  const open = new Map<number, Span>();
  client.on("commandStarted", (event: CommandStartedEvent) => {
    const tracing = activeTracing();
    const parent = context.active();
    if (!tracing || !trace.getSpan(parent)) return;
    const collection = collectionOf(event);
    const [host, port] = splitAddress(event.address);
    const span = tracing.tracer.startSpan(
      collection ? `${event.commandName} ${collection}` : event.commandName,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": "mongodb",
          "db.system": "mongodb", // the pre-1.26 name, which many backends still key on
          "db.operation.name": event.commandName,
          "db.collection.name": collection,
          "db.namespace": event.databaseName,
          "server.address": host,
          "server.port": port,
        },
      },
      parent,
    );
    if (open.size >= maxOpenSpans) {
      const [oldest, stale] = open.entries().next().value!;
      open.delete(oldest);
      stale.end();
    }
    open.set(event.requestId, span);
  });
  client.on("commandSucceeded", (event: CommandSucceededEvent) => {
    const span = open.get(event.requestId);
    if (!span) return;
    open.delete(event.requestId);
    span.end();
  });
  client.on("commandFailed", (event: CommandFailedEvent) => {
    const span = open.get(event.requestId);
    if (!span) return;
    open.delete(event.requestId);
    const failure = event.failure as Error & { code?: unknown; codeName?: unknown };
    const code = typeof failure.code === "number" ? failure.code : undefined;
    span.setAttributes({
      "error.type": typeof failure.codeName === "string" ? failure.codeName : (failure.name ?? "Error"),
      "db.response.status_code": code === undefined ? undefined : String(code),
    });
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}

/** The collection a command names (`find: "sends"`; a getMore names it in `collection`). */
function collectionOf(event: CommandStartedEvent): string | undefined {
  const named = event.command?.[event.commandName];
  if (typeof named === "string") return named;
  const collection = event.command?.collection;
  return typeof collection === "string" ? collection : undefined;
}

function splitAddress(address: string): [string | undefined, number | undefined] {
  const colon = address.lastIndexOf(":");
  if (colon < 0) return [address || undefined, undefined];
  const port = Number(address.slice(colon + 1));
  return [address.slice(0, colon).replace(/^\[|\]$/g, ""), Number.isInteger(port) ? port : undefined];
}
