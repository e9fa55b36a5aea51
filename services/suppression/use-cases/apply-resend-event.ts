/**
 * An event from the stream (Resend's or another provider's, in the same
 * envelope and under the same rules): what it means for an address, which
 * addresses it is about, and the change it makes there.
 *
 * Which address (DESIGN.md "Multi-recipient emails"): when the provider names
 * the recipients the event is about (`recipients_named`, an SES bounce or
 * complaint), each of them, right away; otherwise the recipient of the send
 * record, else the single `to` address (with the `subscriber_id` tag when
 * present), else the event waits for the send record — never every recipient
 * of the email.
 */
import type { ResendEvent } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { PoisonMessageError } from "../../shared/errors.ts";
import { isReconstructed } from "../../shared/reconstructed-events.ts";
import { attributionFromTags, isHardBounce, isMessageLevelBounce } from "../../shared/resend-events.ts";
import { normaliseAddress } from "../address.ts";
import { applyEvent, type AddressEvent, type EventOrigin } from "../subscriber-state.ts";
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
  /** Published by a reconciliation: stands in for the real event only while none is known (address-facts.ts). */
  reconstructed?: true;
}

/** The event types this service consumes (subject filters). */
export const consumedTypes = ["email.bounced", "email.complained", "email.suppressed", "email.delivered", "email.unsubscribed"];

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
    // Dated at the send like its envelope says; only how the fold counts it differs (address-facts.ts).
    ...(isReconstructed(event) ? { reconstructed: true as const } : {}),
  };
  switch (event.type) {
    case "email.complained":
      return { ...base, kind: "complaint" };
    case "email.delivered":
      return { ...base, kind: "delivered" };
    case "email.unsubscribed":
      return { ...base, kind: "unsubscribed" };
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

/**
 * Canonical JSON (fixed key order) so a redelivered pending event is the same string. `reconstructed`
 * only when set, so a webhook's string is the one stored before the field existed.
 */
export function pendingToJson(event: PendingEvent): string {
  const { kind, svixId, atMs, emailId, subType, counts, detail, tagCampaignId, reconstructed } = event;
  return JSON.stringify({ kind, svixId, atMs, emailId, subType, counts, detail, tagCampaignId, ...(reconstructed ? { reconstructed } : {}) });
}

function addressEventOf(event: PendingEvent, origin: EventOrigin): AddressEvent {
  switch (event.kind) {
    case "hard_bounce":
      return { kind: "hard_bounce", subType: event.subType, ...origin };
    case "soft_bounce":
      return { kind: "soft_bounce", subType: event.subType, counts: event.counts, ...origin };
    case "resend_suppressed":
      return { kind: "resend_suppressed", detail: event.detail, ...origin };
    default:
      return { kind: event.kind, ...origin };
  }
}

/** Applies an interpreted event to one address. */
export async function applyToAddress(
  deps: SuppressionDeps,
  workspaceId: string,
  email: string,
  event: PendingEvent,
  who: { subscriberId: string; campaignId: string },
): Promise<void> {
  const origin: EventOrigin = {
    svixId: event.svixId,
    atMs: event.atMs,
    emailId: event.emailId,
    campaignId: who.campaignId || event.tagCampaignId,
    subscriberId: who.subscriberId,
    ...(event.reconstructed ? { reconstructed: true } : {}),
  };
  const addressEvent = addressEventOf(event, origin);
  await changeSubscriber(deps, workspaceId, email, (state) => applyEvent(state, addressEvent, deps.policy, deps.now()));
}

/** The addresses a provider named, normalised, each once (what is not an address names nobody). */
export function namedAddresses(to: readonly string[]): string[] {
  return [...new Set(to.flatMap((address) => normaliseAddress(address) ?? []))];
}

/**
 * The provider said exactly whom the event is about: each of them is affected now, whether or not the
 * send record is here, and nobody else. The send record's subscriber id belongs to its recipient only;
 * its campaign is the email's, so every named recipient's. No tag fills a missing subscriber id: `to`
 * no longer tells whether the message had one recipient, so a tag could name someone else.
 */
async function applyToNamed(deps: SuppressionDeps, workspaceId: string, to: readonly string[], meaning: PendingEvent): Promise<void> {
  const named = namedAddresses(to);
  if (named.length === 0) {
    deps.log.debug("event names no valid recipient; nothing to apply", { workspaceId, emailId: meaning.emailId, to: to.length });
    return;
  }
  const attribution = await deps.sends.get(workspaceId, meaning.emailId);
  const campaignId = attribution?.campaignId ?? "";
  // One address after another: a failure part-way is redelivered, and the addresses done are no-ops then.
  for (const address of named) {
    const subscriberId = attribution?.recipient === address ? attribution.subscriberId : "";
    await applyToAddress(deps, workspaceId, address, meaning, { subscriberId, campaignId });
  }
}

/** Handles one event from the stream: resolve the address(es), apply or keep pending. */
export async function applyResendEvent(deps: SuppressionDeps, event: ResendEvent): Promise<void> {
  const meaning = interpret(event);
  if (!meaning || !event.email) return;
  const workspaceId = event.workspaceId;
  const email = event.email;
  if (email.recipientsNamed) return await applyToNamed(deps, workspaceId, email.to, meaning);
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
