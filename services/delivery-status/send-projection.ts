/**
 * The domain rules of a send's state (DESIGN.md "Domain rules"), as one pure
 * function: state = project(registration, facts). Every write recomputes the
 * state from the full, svix-id-deduplicated set of facts folded in event-time
 * order, so the result cannot depend on the order messages arrived in, on
 * redelivery, or on which instance wrote last.
 *
 * Times are microseconds since the epoch (Resend sends up to 6 fractional
 * digits; a JS number holds microseconds exactly until the year 2255).
 */

/** Event types this service applies; every other type is skipped. */
export const appliedEventTypes = {
  "email.sent": "sent",
  "email.delivery_delayed": "delivery_delayed",
  "email.delivered": "delivered",
  "email.opened": "opened",
  "email.clicked": "clicked",
  "email.bounced": "bounced",
  "email.complained": "complained",
  "email.failed": "failed",
  "email.suppressed": "suppressed",
} as const;

export type EventKind = (typeof appliedEventTypes)[keyof typeof appliedEventTypes];

/** Statuses a send can be in (never "unspecified"). */
export type StatusName = "sent" | "delivery_delayed" | "delivered" | "opened" | "clicked" | "bounced" | "complained" | "failed" | "suppressed";

export interface BounceDetail {
  type: string;
  subType: string;
  message: string;
  diagnosticCode: string;
}

export interface SuppressionDetail {
  type: string;
  message: string;
}

/** What the state needs to know about one distinct event (one svix id). */
export interface EventFact {
  svixId: string;
  kind: EventKind;
  /** Event time (Resend's created_at), microseconds. */
  atUs: number;
  bounce?: BounceDetail;
  failureReason?: string;
  suppression?: SuppressionDetail;
  /** Attribution fallback from the event's Resend tags. */
  campaignTag?: string;
  subscriberTag?: string;
  /** The event's `to` when it has exactly one entry. */
  soleRecipient?: string;
}

/** What RecordSend registered. */
export interface Registration {
  campaignId: string;
  subscriberId: string;
  recipient: string;
  sentAtUs: number;
  recordedAtUs: number;
}

/** The projected state of a send (everything of the proto `Send` but identity and updated_time). */
export interface SendState {
  campaignId: string;
  subscriberId: string;
  recipient: string;
  status: StatusName;
  attributed: boolean;
  sentAtUs?: number;
  deliveryDelayedAtUs?: number;
  deliveredAtUs?: number;
  firstOpenedAtUs?: number;
  firstClickedAtUs?: number;
  bouncedAtUs?: number;
  bounce?: BounceDetail;
  lastSoftBounce?: BounceDetail;
  lastSoftBounceAtUs?: number;
  softBounceCount: number;
  complainedAtUs?: number;
  failedAtUs?: number;
  failureReason: string;
  suppressedAtUs?: number;
  suppression?: SuppressionDetail;
  openCount: number;
  clickCount: number;
  lastEventAtUs?: number;
  recordedAtUs?: number;
}

const progressRank: Record<string, number> = { sent: 1, delivery_delayed: 2, delivered: 3, opened: 4, clicked: 5 };

/** Hard bounce = Resend/SES type "Permanent"; everything else is soft. */
export function isHardBounceFact(fact: EventFact): boolean {
  return fact.kind === "bounced" && (fact.bounce?.type ?? "").toLowerCase() === "permanent";
}

/** The fold order: event time, then svix id (received time differs between copies, so it is not used). */
export function compareFacts(a: EventFact, b: EventFact): number {
  return a.atUs - b.atUs || (a.svixId < b.svixId ? -1 : a.svixId > b.svixId ? 1 : 0);
}

const min = (current: number | undefined, value: number) => (current === undefined ? value : Math.min(current, value));

/** Projects the state from the registration (if any) and the distinct facts (any order). */
export function projectSend(registration: Registration | undefined, facts: readonly EventFact[]): SendState {
  const ordered = [...facts].sort(compareFacts);
  const state: SendState = {
    campaignId: registration?.campaignId ?? "",
    subscriberId: registration?.subscriberId ?? "",
    recipient: registration?.recipient ?? "",
    status: "sent",
    attributed: registration !== undefined,
    sentAtUs: registration?.sentAtUs,
    softBounceCount: 0,
    failureReason: "",
    openCount: 0,
    clickCount: 0,
    recordedAtUs: registration?.recordedAtUs,
  };
  let progress: StatusName = "sent";
  let terminal: StatusName | undefined;

  for (const fact of ordered) {
    state.lastEventAtUs = fact.atUs; // ordered ascending, so the last one is the latest
    if (!registration) {
      // Tags are a fallback only: the earliest event carrying them wins, whatever the arrival order.
      if (!state.campaignId && fact.campaignTag) state.campaignId = fact.campaignTag;
      if (!state.subscriberId && fact.subscriberTag) state.subscriberId = fact.subscriberTag;
      if (!state.recipient && fact.soleRecipient) state.recipient = fact.soleRecipient;
    }
    const rank = progressRank[fact.kind];
    if (rank !== undefined && rank > progressRank[progress]!) progress = fact.kind as StatusName;

    switch (fact.kind) {
      case "sent":
        if (!registration) state.sentAtUs = min(state.sentAtUs, fact.atUs);
        break;
      case "delivery_delayed":
        state.deliveryDelayedAtUs = min(state.deliveryDelayedAtUs, fact.atUs);
        break;
      case "delivered":
        state.deliveredAtUs = min(state.deliveredAtUs, fact.atUs);
        break;
      case "opened":
        state.firstOpenedAtUs = min(state.firstOpenedAtUs, fact.atUs);
        state.openCount++;
        break;
      case "clicked":
        state.firstClickedAtUs = min(state.firstClickedAtUs, fact.atUs);
        state.clickCount++;
        break;
      case "bounced":
        if (isHardBounceFact(fact)) {
          // Between terminals the later event wins, but a complaint is never replaced by a bounce.
          if (terminal !== "complained") {
            terminal = "bounced";
            if (state.bouncedAtUs === undefined) {
              state.bouncedAtUs = fact.atUs;
              state.bounce = fact.bounce;
            }
          }
        } else {
          state.softBounceCount++;
          state.lastSoftBounce = fact.bounce ?? { type: "", subType: "", message: "", diagnosticCode: "" };
          state.lastSoftBounceAtUs = fact.atUs;
        }
        break;
      case "complained":
        terminal = "complained";
        state.complainedAtUs = min(state.complainedAtUs, fact.atUs);
        break;
      case "failed":
        terminal = "failed";
        if (state.failedAtUs === undefined) {
          state.failedAtUs = fact.atUs;
          state.failureReason = fact.failureReason ?? "";
        }
        break;
      case "suppressed":
        terminal = "suppressed";
        if (state.suppressedAtUs === undefined) {
          state.suppressedAtUs = fact.atUs;
          state.suppression = fact.suppression ?? { type: "", message: "" };
        }
        break;
    }
  }
  state.status = terminal ?? progress;
  return state;
}
