/**
 * A Resend event from the stream: what it means for an address, which
 * address it is about, and the change it makes there.
 *
 * Which address (DESIGN.md "Multi-recipient emails"): the recipient of the
 * send record; else the single `to` address (with the `subscriber_id` tag
 * when present); else the event waits for the send record — never every
 * recipient of the email.
 */
import type { ResendEvent } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { PoisonMessageError } from "../../shared/errors.ts";
import { attributionFromTags, isHardBounce, isMessageLevelBounce } from "../../shared/resend-events.ts";
import { normaliseAddress } from "../address.ts";
import { applyEvent, type AddressEvent } from "../subscriber-state.ts";
import type { Attribution } from "../send-repository.ts";
import { changeSubscriber } from "./change-subscriber.ts";
import type { SuppressionDeps } from "./deps.ts";

/** An event's meaning before we know whose it is; stored as canonical JSON while pending. */
export interface PendingEvent {
  kind: AddressEvent["kind"];
  svixId: string;
  atMs: number;
  emailId: string;
  subType: string;
  counts: boolean;
  detail: string;
  tagCampaignId: string;
}

/** The event types this service consumes (subject filters). */
export const consumedTypes = ["email.bounced", "email.complained", "email.suppressed", "email.delivered"];

/** What an event means for an address, or undefined for types we do not act on. */
export function interpret(event: ResendEvent): PendingEvent | undefined {
  if (!consumedTypes.includes(event.type)) return undefined;
  const email = event.email;
  if (!email || !email.emailId) throw new PoisonMessageError(`${event.type} without parsable data.email_id`);
  const atMs = event.eventTime
    ? timestampMs(event.eventTime)
    : email.createdAt
      ? timestampMs(email.createdAt)
      : event.receivedTime
        ? timestampMs(event.receivedTime)
        : 0;
  const base = {
    svixId: event.svixId,
    atMs,
    emailId: email.emailId,
    subType: "",
    counts: false,
    detail: "",
    tagCampaignId: attributionFromTags(email).campaignId ?? "",
  };
  switch (event.type) {
    case "email.complained":
      return { ...base, kind: "complaint" };
    case "email.delivered":
      return { ...base, kind: "delivered" };
    case "email.suppressed":
      return { ...base, kind: "resend_suppressed", detail: email.detail.case === "suppressed" ? email.detail.value.type : "" };
    default: {
      if (email.detail.case !== "bounce") return { ...base, kind: "soft_bounce" }; // unclassifiable: recorded, never counted
      const bounce = email.detail.value;
      const messageLevel = isMessageLevelBounce(bounce);
      if (isHardBounce(bounce) && !messageLevel) return { ...base, kind: "hard_bounce", subType: bounce.subType };
      return { ...base, kind: "soft_bounce", subType: bounce.subType, counts: !messageLevel };
    }
  }
}

/** Canonical JSON (fixed key order) so a redelivered pending event is the same string. */
export function pendingToJson(event: PendingEvent): string {
  const { kind, svixId, atMs, emailId, subType, counts, detail, tagCampaignId } = event;
  return JSON.stringify({ kind, svixId, atMs, emailId, subType, counts, detail, tagCampaignId });
}

/** Applies an interpreted event to one address. */
export async function applyToAddress(
  deps: SuppressionDeps,
  workspaceId: string,
  email: string,
  event: PendingEvent,
  who: { subscriberId: string; campaignId: string },
): Promise<void> {
  const origin = {
    svixId: event.svixId,
    atMs: event.atMs,
    emailId: event.emailId,
    campaignId: who.campaignId || event.tagCampaignId,
    subscriberId: who.subscriberId,
  };
  const addressEvent: AddressEvent =
    event.kind === "hard_bounce"
      ? { kind: "hard_bounce", subType: event.subType, ...origin }
      : event.kind === "soft_bounce"
        ? { kind: "soft_bounce", subType: event.subType, counts: event.counts, ...origin }
        : event.kind === "resend_suppressed"
          ? { kind: "resend_suppressed", detail: event.detail, ...origin }
          : { kind: event.kind, ...origin };
  await changeSubscriber(deps, workspaceId, email, (state) => applyEvent(state, addressEvent, deps.policy, deps.now()));
}

/** Handles one event from the stream: resolve the address, apply or keep pending. */
export async function applyResendEvent(deps: SuppressionDeps, event: ResendEvent): Promise<void> {
  const meaning = interpret(event);
  if (!meaning || !event.email) return;
  const workspaceId = event.workspaceId;
  const email = event.email;
  await deps.lock.run(`send:${workspaceId}:${meaning.emailId}`, async () => {
    let attribution: Attribution | undefined = await deps.sends.get(workspaceId, meaning.emailId);
    if (!attribution) {
      const single = email.to.length === 1 ? normaliseAddress(email.to[0] ?? "") : undefined;
      if (single) {
        const subscriberId = attributionFromTags(email).subscriberId ?? "";
        await applyToAddress(deps, workspaceId, single, meaning, { subscriberId, campaignId: "" });
        return;
      }
      attribution = await deps.sends.addPending(workspaceId, meaning.emailId, pendingToJson(meaning));
      if (!attribution) {
        deps.log.debug("event kept until its send record arrives", { workspaceId, emailId: meaning.emailId, to: email.to.length });
        return;
      }
    }
    await applyToAddress(deps, workspaceId, attribution.recipient, meaning, attribution);
  });
}
