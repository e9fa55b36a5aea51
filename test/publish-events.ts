/**
 * Publishes Resend events straight into JetStream, as the gateway would, so
 * consumer tests need no gateway: body -> envelope -> RESEND_EVENTS.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { randomBytes } from "node:crypto";
import { encodeResendEvent, eventMessageId, eventSubject, parseResendEvent } from "../services/shared/resend-events.ts";

export interface PublishedEvent {
  svixId: string;
  seq: number;
  duplicate: boolean;
}

/** Publishes one Resend body for a workspace; reuse `svixId` to simulate a retry. */
export async function publishResendEvent(
  js: JetStreamClient,
  workspaceId: string,
  body: Record<string, unknown>,
  options: { svixId?: string; receivedAtMs?: number; useMsgId?: boolean } = {},
): Promise<PublishedEvent> {
  const svixId = options.svixId ?? `msg_${randomBytes(10).toString("hex")}`;
  const event = parseResendEvent({
    workspaceId,
    svixId,
    receivedAtMs: options.receivedAtMs ?? Date.now(),
    rawBody: new TextEncoder().encode(JSON.stringify(body)),
  });
  const ack = await js.publish(eventSubject(workspaceId, event.type), encodeResendEvent(event), {
    // Retries after the duplicate window arrive without dedupe: useMsgId:false simulates that.
    msgID: options.useMsgId === false ? undefined : eventMessageId(workspaceId, svixId),
  });
  return { svixId, seq: ack.seq, duplicate: ack.duplicate };
}
