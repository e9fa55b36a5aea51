/**
 * Reads what JetStream actually stored: every envelope of RESEND_EVENTS
 * (counted per svix id), and the dead letters of each consumer.
 */
import { createLogger } from "../../services/shared/log.ts";
import { connectNats, DEAD_LETTERS_STREAM, RESEND_EVENTS_STREAM, type NatsHandles } from "../../services/shared/nats.ts";
import { decodeResendEvent } from "../../services/shared/resend-events.ts";
import { deadLetterHeaders } from "../../services/shared/consumer.ts";

/** A NATS connection for the checker (close it with `nc.close()`). */
export function checkerConnection(url: string): Promise<NatsHandles> {
  return connectNats(url, "faults-checker", createLogger({}, "error"));
}

/** Visits every message of a stream (optionally filtered) in order, through an ordered consumer. */
export async function readStream(
  nats: NatsHandles,
  stream: string,
  visit: (msg: { seq: number; subject: string; data: Uint8Array; headers?: { get(k: string): string } }) => void,
  filterSubject?: string,
): Promise<void> {
  const info = await nats.jsm.streams.info(stream, filterSubject ? { subjects_filter: filterSubject } : undefined);
  const last = info.state.last_seq;
  const expected = filterSubject ? Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0) : info.state.messages;
  if (expected === 0) return;
  const reader = await nats.js.consumers.get(stream, filterSubject ? { filter_subjects: [filterSubject] } : {});
  const messages = await reader.consume({ max_messages: 512 });
  const timeout = setTimeout(() => void messages.stop(), 30_000);
  let visited = 0;
  try {
    for await (const msg of messages) {
      if (msg.seq <= last) visited++;
      visit({ seq: msg.seq, subject: msg.subject, data: msg.data, headers: msg.headers as never });
      if (msg.seq >= last || msg.info.pending === 0) break;
    }
  } finally {
    clearTimeout(timeout);
    await messages.close().catch(() => undefined);
  }
  // A read that came back short is no verdict: CI once saw a whole cluster run read as 0 stored copies while
  // every event was applied. The caller retries (the checker's `retrying`).
  if (visited < expected) throw new Error(`read ${visited} of the ${expected} messages ${stream} holds${filterSubject ? ` on ${filterSubject}` : ""}`);
}

/** Stored copies per svix id of the workspaces' events (undecodable envelopes counted apart). */
export async function storedCopies(nats: NatsHandles, workspaceIds: readonly string[]) {
  const copies = new Map<string, number>();
  let undecodable = 0;
  for (const workspaceId of workspaceIds) {
    await readStream(
      nats,
      RESEND_EVENTS_STREAM,
      (msg) => {
        try {
          const event = decodeResendEvent(msg.data);
          copies.set(event.svixId, (copies.get(event.svixId) ?? 0) + 1);
        } catch {
          undecodable++;
        }
      },
      `resend.events.${workspaceId}.>`,
    );
  }
  return { copies, undecodable };
}

/** Dead letters per consumer name. */
export async function deadLetterCounts(nats: NatsHandles): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  await readStream(nats, DEAD_LETTERS_STREAM, (msg) => {
    const consumer = msg.headers?.get(deadLetterHeaders.consumer) || msg.subject.slice("dead.".length);
    counts[consumer] = (counts[consumer] ?? 0) + 1;
  });
  return counts;
}
