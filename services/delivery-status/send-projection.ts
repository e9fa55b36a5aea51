/**
 * The domain rules of a send's state (DESIGN.md "Domain rules"), as one pure
 * function: state = project(registration, facts, retired counts). Every write
 * recomputes the state from the svix-id-deduplicated set of facts folded in
 * event-time order, so the result cannot depend on the order messages arrived
 * in, on redelivery, or on which instance wrote last.
 *
 * Only a few facts decide anything but a count (`decidingFacts`: the first and
 * last of each kind, the first carrying each tag, the first 50 terminal ones),
 * so a send need not keep the others: the fold reads the deciding ones and adds
 * the counts of those it no longer keeps (send-retirement.ts). The result is the
 * same whichever superset of the deciding facts a document holds.
 *
 * A reconstructed fact (issue 16: a reconciliation read it from Resend's API
 * because the webhook never came) stands in for the real facts of its category
 * only while the send has none (`standingFacts`): its time is the send time, a
 * lower bound of the real event's, so once a real one exists it decides
 * nothing, neither time nor detail. It never counts (opens, clicks, soft
 * bounces): how many real events it stands for is unknown.
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
  // Another provider's unsubscribe (SES subscription change, SendGrid unsubscribe...): kept with its time,
  // no status of its own: the email did reach the recipient (the suppression service acts on the unsubscribe).
  "email.unsubscribed": "unsubscribed",
} as const;

export type EventKind = (typeof appliedEventTypes)[keyof typeof appliedEventTypes];

/** Statuses a send can be in (never "unspecified"). */
export type StatusName = "sent" | "delivery_delayed" | "delivered" | "opened" | "clicked" | "bounced" | "complained" | "failed" | "suppressed";

export interface BounceDetail {
  type: string;
  subType: string;
  message: string;
  diagnosticCode: string;
  /** Another provider's own classification ("HardBounce", "blocked"); absent for Resend and on facts stored before providers. */
  providerType?: string;
  /** The SMTP enhanced status code ("5.1.1") when the provider reports one; absent otherwise. */
  smtpStatus?: string;
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
  /** A reconciliation reconstructed it (its time is the send time); absent for every real event. */
  reconstructed?: true;
}

/** What RecordSend registered. */
export interface Registration {
  campaignId: string;
  subscriberId: string;
  recipient: string;
  sentAtUs: number;
  recordedAtUs: number;
  /** Who registered it (the internal token's name; "local" when auth is off), for its audit entry. */
  caller?: string;
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
  /** First email.unsubscribed event time. */
  unsubscribedAtUs?: number;
  openCount: number;
  clickCount: number;
  lastEventAtUs?: number;
  recordedAtUs?: number;
}

/** Trimmed, domain lower-cased: how recipients are compared (stored as given). */
export function normaliseAddress(address: string): string {
  const trimmed = address.trim();
  const at = trimmed.lastIndexOf("@");
  return at < 0 ? trimmed : trimmed.slice(0, at) + trimmed.slice(at).toLowerCase();
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

/** Facts folded into a send that its document no longer keeps, by the counts they still add to. */
export interface RetiredCounts {
  opened: number;
  clicked: number;
  softBounced: number;
}

export const noneRetired: RetiredCounts = Object.freeze({ opened: 0, clicked: 0, softBounced: 0 });

/**
 * How many terminal facts (hard bounce, complaint, failure, suppression) decide a send's bounce time
 * and detail: a Resend email has at most 50 recipients, each bouncing or complaining about once. The
 * status itself needs only the latest of each kind, which is always kept; past 50, `bouncedAtUs` is
 * the first hard bounce that made the send BOUNCED among the first 50 and the latest ones.
 */
export const decidingTerminalFacts = 50;

const isTerminalFact = (fact: EventFact) => fact.kind === "complained" || fact.kind === "failed" || fact.kind === "suppressed" || isHardBounceFact(fact);
const categoryOf = (fact: EventFact) => (fact.kind === "bounced" ? (isHardBounceFact(fact) ? "hard_bounce" : "soft_bounce") : fact.kind);

/**
 * The facts the fold reads, in the order given: every real fact, and a reconstructed one only while no real
 * fact of its category exists. A function of the set (it asks only which categories have a real fact), so
 * the state stays independent of the order facts arrived in. Hard and soft bounces are different
 * categories: a real soft bounce arriving first must not undo the hard bounce Resend reported.
 */
function standingFacts(facts: readonly EventFact[]): EventFact[] {
  const realCategories = new Set(facts.filter((fact) => !fact.reconstructed).map(categoryOf));
  return facts.filter((fact) => !fact.reconstructed || !realCategories.has(categoryOf(fact)));
}

/**
 * The facts that decide a send's state beyond its counts, in fold order: the first and the last of each
 * kind (first times; latest soft bounce and latest event; the latest terminal of each kind for the
 * status), the first carrying each attribution tag, and the first `decidingTerminalFacts` terminal facts
 * (the bounce time depends on how bounces and complaints interleave), all among the standing facts (a
 * superseded reconstructed fact decides nothing). A function of the set: the same for any superset of its
 * result within the same facts (the first real fact of each category is kept, so a subset still knows
 * which reconstructed facts are superseded).
 */
export function decidingFacts(facts: readonly EventFact[]): EventFact[] {
  const ordered = standingFacts(facts).sort(compareFacts);
  const keep = new Set<EventFact>();
  const last = new Map<string, EventFact>();
  const tagged = { campaignTag: false, subscriberTag: false, soleRecipient: false };
  let terminals = 0;
  for (const fact of ordered) {
    const category = categoryOf(fact);
    if (!last.has(category)) keep.add(fact);
    last.set(category, fact);
    if (isTerminalFact(fact) && terminals < decidingTerminalFacts) {
      terminals++;
      keep.add(fact);
    }
    for (const tag of ["campaignTag", "subscriberTag", "soleRecipient"] as const) {
      if (!tagged[tag] && fact[tag]) {
        tagged[tag] = true;
        keep.add(fact);
      }
    }
  }
  for (const fact of last.values()) keep.add(fact);
  return ordered.filter((fact) => keep.has(fact));
}

/** The counts retiring `facts` adds to `counts`: a reconstructed fact never counts (how many real events it stands for is unknown). */
export function addRetired(counts: RetiredCounts, facts: readonly EventFact[]): RetiredCounts {
  const next = { ...counts };
  for (const fact of facts) {
    if (fact.reconstructed) continue;
    if (fact.kind === "opened") next.opened++;
    else if (fact.kind === "clicked") next.clicked++;
    else if (fact.kind === "bounced" && !isHardBounceFact(fact)) next.softBounced++;
  }
  return next;
}

/**
 * Projects the state from the registration (if any), the distinct facts a send keeps (any order) and
 * the counts of those it retired.
 */
export function projectSend(registration: Registration | undefined, facts: readonly EventFact[], retired: RetiredCounts = noneRetired): SendState {
  return foldFacts(registration, decidingFacts(facts), addRetired(retired, facts));
}

/**
 * The fold itself: the state from facts already in fold order, with the counts given. projectSend feeds it
 * the deciding facts; folding every fact gives the same state (the tests' reference).
 */
export function foldFacts(registration: Registration | undefined, ordered: readonly EventFact[], counts: RetiredCounts): SendState {
  const state: SendState = {
    campaignId: registration?.campaignId ?? "",
    subscriberId: registration?.subscriberId ?? "",
    recipient: registration?.recipient ?? "",
    status: "sent",
    attributed: registration !== undefined,
    sentAtUs: registration?.sentAtUs,
    softBounceCount: counts.softBounced,
    failureReason: "",
    openCount: counts.opened,
    clickCount: counts.clicked,
    recordedAtUs: registration?.recordedAtUs,
  };
  let progress: StatusName = "sent";
  let terminal: StatusName | undefined;

  for (const fact of standingFacts(ordered)) {
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
        break;
      case "clicked":
        state.firstClickedAtUs = min(state.firstClickedAtUs, fact.atUs);
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
      case "unsubscribed":
        state.unsubscribedAtUs = min(state.unsubscribedAtUs, fact.atUs);
        break;
    }
  }
  state.status = terminal ?? progress;
  return state;
}
