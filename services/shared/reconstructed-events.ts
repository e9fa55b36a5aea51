/**
 * Reconstructed events: what a reconciliation run publishes on RESEND_EVENTS when Resend's API knows
 * more about an email than the webhooks told us (resend_event.proto, EventOrigin). They go through the
 * same subjects and the same idempotent consumer paths as webhooks; what differs is only how they count:
 * toward send-level numbers (delivered, unique opens and clicks, bounces, complaints, suppression), never
 * toward event totals (opens, clicks), and a real event of the same kind for the same email supersedes one.
 *
 * Their svix id is "reconciliation:<email id>:<type>": two runs (or a run resumed after a crash) that
 * reconstruct the same event publish the same message, which JetStream drops inside its duplicate window
 * and every consumer's svix-id idempotency drops after it.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventOrigin, ResendEventSchema, type Bounce, type ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { Provider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { envelopeSchemaVersion } from "./resend-events.ts";

const svixIdPrefix = "reconciliation:";

/** The svix id of the reconstructed `type` event of an email. */
export function reconstructedSvixId(emailId: string, type: string): string {
  return `${svixIdPrefix}${emailId}:${type}`;
}

/** True for an envelope a reconciliation published (never for a webhook, whatever its svix id says). */
export function isReconstructed(event: Pick<ResendEvent, "origin">): boolean {
  return event.origin === EventOrigin.RECONCILIATION;
}

export interface ReconstructedEventInput {
  workspaceId: string;
  emailId: string;
  /** "email.delivered", "email.opened", ... */
  type: string;
  /** The email's created_at at Resend: the real event happened at or after it. */
  sentAtMs: number;
  /** When the run read the email from Resend's API. */
  observedAtMs: number;
  reconciliationId: string;
  /** The recipients Resend lists for the email. */
  to: readonly string[];
  /** For email.bounced: Resend's bounce object. */
  bounce?: { type: string; subType: string; message: string };
}

/** The envelope of one reconstructed event. raw_body holds exactly the fields it was built from. */
export function reconstructedEvent(input: ReconstructedEventInput): ResendEvent {
  const bounce: Bounce | undefined = input.bounce && {
    $typeName: "ngsreach.events.v1.Bounce",
    type: input.bounce.type,
    subType: input.bounce.subType,
    message: input.bounce.message,
    diagnosticCode: "",
    providerType: "",
    smtpStatus: "",
  };
  const rawBody = JSON.stringify({
    type: input.type,
    origin: "reconciliation",
    reconciliation_id: input.reconciliationId,
    observed_at: new Date(input.observedAtMs).toISOString(),
    data: { email_id: input.emailId, created_at: new Date(input.sentAtMs).toISOString(), to: input.to, ...(input.bounce ? { bounce: input.bounce } : {}) },
  });
  return create(ResendEventSchema, {
    schemaVersion: envelopeSchemaVersion,
    workspaceId: input.workspaceId,
    svixId: reconstructedSvixId(input.emailId, input.type),
    type: input.type,
    eventTime: timestampFromMs(input.sentAtMs),
    receivedTime: timestampFromMs(input.observedAtMs),
    rawBody: new TextEncoder().encode(rawBody),
    email: {
      emailId: input.emailId,
      createdAt: timestampFromMs(input.sentAtMs),
      to: [...input.to],
      detail: bounce ? { case: "bounce", value: bounce } : { case: undefined },
    },
    provider: Provider.RESEND,
    origin: EventOrigin.RECONCILIATION,
    reconciliationId: input.reconciliationId,
  });
}
