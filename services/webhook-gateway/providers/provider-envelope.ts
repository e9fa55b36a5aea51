/**
 * A provider's event as the stream stores it: the same envelope as a Resend webhook's, so every consumer
 * applies it with the rules it already has. The provider's ids are namespaced ("sendgrid:<id>") for the
 * event id and the email id, so no two providers' events or sends can collide; the provider's own type
 * and bounce classification are kept beside the mapped ones, for the timeline.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EmailEventDataSchema, ResendEventSchema, type EmailEventData, type ResendEvent } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { emailIdOf, eventIdOf, providerToApi } from "../../shared/providers.ts";
import { envelopeSchemaVersion } from "../../shared/resend-events.ts";
import type { EventKind, ProviderEvent } from "./provider-adapter.ts";

const typeOfKind: Record<EventKind, string> = {
  sent: "email.sent",
  delivery_delayed: "email.delivery_delayed",
  delivered: "email.delivered",
  bounced: "email.bounced",
  complained: "email.complained",
  opened: "email.opened",
  clicked: "email.clicked",
  failed: "email.failed",
  suppressed: "email.suppressed",
  unsubscribed: "email.unsubscribed",
};

/** The envelope type: the mapped one, or "<provider>.<own type>" for an event nobody acts on. */
export function envelopeType(event: ProviderEvent): string {
  if (event.kind) return typeOfKind[event.kind];
  const own = event.providerType.toLowerCase().replace(/[^a-z0-9_]+/g, "_").slice(0, 64) || "unknown";
  return `${event.provider}.${own}`;
}

function emailData(event: ProviderEvent): EmailEventData {
  const email = create(EmailEventDataSchema, {
    emailId: emailIdOf(event.provider, event.messageId),
    from: event.from,
    to: event.recipients,
    subject: event.subject,
    tags: event.tags,
    recipientsNamed: event.recipientsNamed === true,
    providerType: event.providerType,
  });
  if (event.bounce) {
    const { type, subType, message, diagnosticCode, providerType, smtpStatus } = event.bounce;
    email.detail = { case: "bounce", value: { $typeName: "ngsreach.events.v1.Bounce", type, subType, message, diagnosticCode, providerType, smtpStatus } };
  } else if (event.click) {
    const timestamp = event.eventTime ? timestampFromMs(event.eventTime.getTime()) : undefined;
    email.detail = { case: "click", value: { $typeName: "ngsreach.events.v1.Click", ...event.click, timestamp } };
  } else if (event.kind === "failed") {
    email.detail = { case: "failed", value: { $typeName: "ngsreach.events.v1.Failure", reason: event.reason ?? "" } };
  } else if (event.kind === "suppressed") {
    email.detail = { case: "suppressed", value: { $typeName: "ngsreach.events.v1.ResendSuppression", type: event.providerType, message: event.reason ?? "" } };
  }
  return email;
}

export interface EnvelopeInput {
  workspaceId: string;
  event: ProviderEvent;
  receivedAtMs: number;
  /** The verified body (the event's own JSON is used instead when the adapter split one body into many). */
  body: Buffer;
}

/** The stream's envelope of one verified provider event. */
export function providerEnvelope({ workspaceId, event, receivedAtMs, body }: EnvelopeInput): ResendEvent {
  const received = timestampFromMs(receivedAtMs);
  return create(ResendEventSchema, {
    schemaVersion: envelopeSchemaVersion,
    workspaceId,
    svixId: eventIdOf(event.provider, event.eventId),
    type: envelopeType(event),
    eventTime: event.eventTime ? timestampFromMs(event.eventTime.getTime()) : received,
    receivedTime: received,
    rawBody: event.raw ?? body,
    email: event.messageId ? emailData(event) : undefined,
    provider: providerToApi(event.provider),
  });
}
