/**
 * Publishes envelopes to JetStream and resolves once the stream acknowledged
 * them — what `js.publish(subject, data, {msgID, timeout})` does, built for
 * the gateway's hot path.
 *
 * Why not `js.publish` (profile of the gateway benchmark, bench/gateway):
 * - every publish became its own socket write, because nats.js flushes its
 *   outbound buffer in a microtask and each webhook arrives in its own I/O
 *   callback — about a fifth of the gateway's CPU went to those writes;
 * - every request allocated an Error (and a second one for its timer) to keep
 *   an async stack trace, plus a timer and a request object.
 * Here publishes queued during one event-loop turn go out together in one
 * write (setImmediate), acknowledgements arrive on one wildcard inbox
 * subscription, and one sweep timer fails those not acknowledged in time.
 *
 * Semantics are js.publish's: the same subject, payload and `Nats-Msg-Id`
 * header (plus any headers given: the trace context); resolves with the
 * ack's `duplicate` flag; rejects on a JetStream error reply, on "no
 * responders" (no stream), on timeout, when the connection is lost or
 * closed. A publish that went out before a failure may still be stored —
 * the message id makes the caller's retry a duplicate.
 */
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/nats-core";

/** The publish was not acknowledged by JetStream. */
export class PublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PublishError";
  }
}

interface Pending {
  resolve(result: { duplicate: boolean }): void;
  reject(error: Error): void;
  deadline: number;
}

interface Queued {
  subject: string;
  data: Uint8Array;
  msgId: string;
  headers: Readonly<Record<string, string>> | undefined;
  token: string;
  pending: Pending;
}

export interface JetStreamPublisher {
  /** `headers`: more message headers beside Nats-Msg-Id (the trace context). */
  publish(subject: string, data: Uint8Array, msgId: string, headers?: Readonly<Record<string, string>>): Promise<{ duplicate: boolean }>;
  /** Fails what is still waiting and stops listening. */
  close(): void;
}

const decoder = new TextDecoder();

/** Starts a publisher on a connection; `timeoutMs` bounds the wait for each acknowledgement. */
export function startJetStreamPublisher(nc: NatsConnection, timeoutMs: number): JetStreamPublisher {
  const inbox = createInbox();
  const pending = new Map<string, Pending>();
  let queue: Queued[] = [];
  let flushScheduled = false;
  let sweeper: ReturnType<typeof setInterval> | undefined;
  let nextToken = 0;
  let closed = false;

  const failAll = (reason: string) => {
    if (pending.size === 0) return;
    const waiting = [...pending.values()];
    pending.clear();
    for (const entry of waiting) entry.reject(new PublishError(reason));
  };

  const onAck = (error: Error | null, msg: Msg) => {
    if (error) return failAll(`acknowledgement inbox failed: ${error.message}`);
    const token = msg.subject.slice(inbox.length + 1);
    const entry = pending.get(token);
    if (!entry) return; // timed out already
    pending.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) return entry.reject(new PublishError("no JetStream stream answers this subject"));
    let ack: { stream?: string; duplicate?: boolean; error?: { description?: string; code?: number } };
    try {
      ack = JSON.parse(decoder.decode(msg.data));
    } catch {
      return entry.reject(new PublishError("unreadable JetStream acknowledgement"));
    }
    if (ack.error) return entry.reject(new PublishError(`JetStream refused the publish: ${ack.error.description ?? ack.error.code}`));
    if (!ack.stream) return entry.reject(new PublishError("invalid JetStream acknowledgement"));
    entry.resolve({ duplicate: ack.duplicate === true });
  };
  const subscription = nc.subscribe(`${inbox}.*`, { callback: onAck });

  /** Acknowledgements all wait the same time, so the oldest entries come first in the map. */
  const sweep = () => {
    const now = Date.now();
    for (const [token, entry] of pending) {
      if (entry.deadline > now) break;
      pending.delete(token);
      entry.reject(new PublishError(`not acknowledged within ${timeoutMs} ms`));
    }
    if (pending.size === 0 && queue.length === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  /** Everything queued in this turn of the event loop goes out in one write. */
  const flush = () => {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    for (const item of batch) {
      const msgHeaders = headers();
      msgHeaders.set("Nats-Msg-Id", item.msgId);
      if (item.headers) for (const name in item.headers) msgHeaders.set(name, item.headers[name]!);
      try {
        nc.publish(item.subject, item.data, { reply: `${inbox}.${item.token}`, headers: msgHeaders });
        pending.set(item.token, item.pending);
      } catch (error) {
        item.pending.reject(new PublishError(`publish failed: ${(error as Error).message}`));
      }
    }
  };

  // A lost connection fails what waits at once (as nats.js request/reply does), instead of at the timeout.
  void (async () => {
    for await (const status of nc.status()) if (status.type === "disconnect") failAll("NATS connection lost");
  })().catch(() => undefined);
  void nc.closed().then(() => failAll("NATS connection closed"));

  return {
    publish(subject, data, msgId, extraHeaders) {
      if (closed || nc.isClosed()) return Promise.reject(new PublishError("NATS connection closed"));
      return new Promise((resolve, reject) => {
        const token = (nextToken++).toString(36);
        queue.push({ subject, data, msgId, headers: extraHeaders, token, pending: { resolve, reject, deadline: Date.now() + timeoutMs } });
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
        if (!sweeper) {
          sweeper = setInterval(sweep, Math.min(100, Math.max(10, timeoutMs / 10)));
          sweeper.unref?.();
        }
      });
    },
    close() {
      closed = true;
      subscription.unsubscribe();
      clearInterval(sweeper);
      failAll("publisher closed");
    },
  };
}
