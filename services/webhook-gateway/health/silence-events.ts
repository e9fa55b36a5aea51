/**
 * The WebhookSilence domain event (`webhooks.<ws>.silent` on DOMAIN_EVENTS) that lets delivery status
 * reconcile the sends of a silent workspace. Its message id comes from the workspace and the silence's
 * start, so every instance that detects one silence, and every retry, stores it once (inside the
 * stream's duplicate window; consumers are idempotent by the same start after it).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient } from "@nats-io/jetstream";
import { WebhookSilenceSchema } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { publishTraced } from "../../shared/tracing/nats-spans.ts";

/** A silence the monitor found, as published. */
export interface DetectedSilence {
  workspaceId: string;
  since: Date;
  lastAcceptedAt?: Date;
  detectedAt: Date;
}

/** Publishes a WebhookSilence; resolves once JetStream stored it. */
export type PublishSilence = (silence: DetectedSilence) => Promise<void>;

export const webhookSilenceSubject = (workspaceId: string) => `webhooks.${workspaceId}.silent`;

/** Starts with the subject, so it never equals another DOMAIN_EVENTS id (those start `<workspace>:`, and a workspace id has no dot). */
export const webhookSilenceMessageId = (workspaceId: string, since: Date) => `${webhookSilenceSubject(workspaceId)}:${since.toISOString()}`;

/** PublishSilence on JetStream, the message id making every publish of one silence the same message. */
export function jetStreamSilencePublisher(js: JetStreamClient): PublishSilence {
  return async (silence) => {
    const event = create(WebhookSilenceSchema, {
      workspaceId: silence.workspaceId,
      sinceTime: timestampFromDate(silence.since),
      lastAcceptedTime: silence.lastAcceptedAt ? timestampFromDate(silence.lastAcceptedAt) : undefined,
      detectedTime: timestampFromDate(silence.detectedAt),
    });
    await publishTraced(js, webhookSilenceSubject(silence.workspaceId), toBinary(WebhookSilenceSchema, event), {
      msgID: webhookSilenceMessageId(silence.workspaceId, silence.since),
    });
  };
}
