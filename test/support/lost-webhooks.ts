/**
 * A campaign whose webhooks were lost, for the reconciliation tests: each send gets a fate (what really
 * happened to it), the real webhooks that fate produces (Resend bodies, one svix id each), what Resend's
 * API says about it afterwards (`last_event`, and the bounce for a bounced one), and what the services
 * must then show — computed from the plan alone, never read back from a service.
 */
import { randomUUID } from "node:crypto";
import type { StandInEmail } from "./resend-api-stand-in.ts";
import { newMessageId } from "../../cli/sign.ts";

export type Fate = "sent" | "delayed" | "delivered" | "opened" | "clicked" | "hard" | "soft" | "complained";

export interface RealWebhook {
  svixId: string;
  type: string;
  atMs: number;
  body: string;
}

export interface PlannedSend {
  emailId: string;
  subscriberId: string;
  recipient: string;
  sentAtMs: number;
  fate: Fate;
  webhooks: RealWebhook[];
  /** How many real webhooks reached us before they were lost (a prefix of `webhooks`). */
  arrived: number;
}

/** The status each fate ends in (SendStatus names as delivery-status answers them). */
export const statusOfFate: Record<Fate, string> = {
  sent: "SENT",
  delayed: "DELIVERY_DELAYED",
  delivered: "DELIVERED",
  opened: "OPENED",
  clicked: "CLICKED",
  hard: "BOUNCED",
  soft: "SENT",
  complained: "COMPLAINED",
};

const lastEventOf: Record<Fate, string> = {
  sent: "sent",
  delayed: "delivery_delayed",
  delivered: "delivered",
  opened: "opened",
  clicked: "clicked",
  hard: "bounced",
  soft: "bounced",
  complained: "complained",
};

const bounceOf: Partial<Record<Fate, { type: string; subType: string; message: string }>> = {
  hard: { type: "Permanent", subType: "General", message: "The recipient's mail server permanently rejected the email." },
  soft: { type: "Transient", subType: "MailboxFull", message: "The recipient's mailbox is full." },
};

const fates: readonly [Fate, number][] = [
  ["sent", 0.06],
  ["delayed", 0.04],
  ["delivered", 0.3],
  ["opened", 0.2],
  ["clicked", 0.2],
  ["hard", 0.08],
  ["soft", 0.05],
  ["complained", 0.07],
];

function pickFate(random: () => number): Fate {
  let roll = random();
  for (const [fate, share] of fates) if ((roll -= share) < 0) return fate;
  return "delivered";
}

const minute = 60_000;

function webhook(type: string, emailId: string, recipient: string, atMs: number, extra: Record<string, unknown> = {}): RealWebhook {
  const body = JSON.stringify({ type, created_at: new Date(atMs).toISOString(), data: { email_id: emailId, created_at: new Date(atMs).toISOString(), to: [recipient], ...extra } });
  return { svixId: newMessageId(), type, atMs, body };
}

/** The real webhooks of a fate: opens and clicks come one to three times (event totals the API cannot tell). */
function webhooksOf(fate: Fate, emailId: string, recipient: string, sentAtMs: number, random: () => number): RealWebhook[] {
  const at = (minutes: number) => sentAtMs + minutes * minute;
  const delivered = webhook("email.delivered", emailId, recipient, at(0.1));
  const opens = (from: number) => Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => webhook("email.opened", emailId, recipient, at(from + i * 7)));
  const clicks = (from: number) =>
    Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) =>
      webhook("email.clicked", emailId, recipient, at(from + i * 5), {
        click: { link: `https://example.com/offer/${i}`, ipAddress: "192.0.2.1", userAgent: "Mozilla/5.0 (Macintosh)", timestamp: new Date(at(from + i * 5)).toISOString() },
      }),
    );
  switch (fate) {
    case "sent":
      return [];
    case "delayed":
      return [webhook("email.delivery_delayed", emailId, recipient, at(0.1))];
    case "delivered":
      return [delivered];
    case "opened":
      return [delivered, ...opens(10)];
    case "clicked":
      return [delivered, ...opens(10), ...clicks(40)];
    case "hard":
    case "soft":
      return [webhook("email.bounced", emailId, recipient, at(0.1), { bounce: bounceOf[fate] })];
    case "complained":
      return [delivered, webhook("email.complained", emailId, recipient, at(60))];
  }
}

/** `count` sends of one campaign, sent a second apart from `firstSentAtMs`; `arrivedShare` of them had their first webhook arrive. */
export function planLostCampaign(count: number, firstSentAtMs: number, random: () => number, arrivedShare = 0.2): PlannedSend[] {
  return Array.from({ length: count }, (_, index) => {
    const emailId = randomUUID();
    const recipient = `subscriber-${index}-${emailId.slice(0, 8)}@example.com`;
    const sentAtMs = firstSentAtMs + index * 1000;
    const fate = pickFate(random);
    const webhooks = webhooksOf(fate, emailId, recipient, sentAtMs, random);
    const arrived = webhooks.length > 0 && random() < arrivedShare ? 1 : 0;
    return { emailId, subscriberId: `sub-${index}`, recipient, sentAtMs, fate, webhooks, arrived };
  });
}

/** What Resend's API says about the campaign's emails (newest first, as it lists them). */
export function standInEmailsOf(sends: readonly PlannedSend[]): StandInEmail[] {
  return [...sends].reverse().map((send) => ({
    id: send.emailId,
    to: [send.recipient],
    created_at: new Date(send.sentAtMs).toISOString(),
    last_event: lastEventOf[send.fate],
    ...(bounceOf[send.fate] ? { bounce: bounceOf[send.fate] } : {}),
  }));
}

/** The campaign numbers the real webhooks give; `withTotals` false: opens and clicks 0 (reconstructed events never count there). */
export function expectedStats(sends: readonly PlannedSend[], withTotals: boolean): Record<string, bigint> {
  const count = (test: (send: PlannedSend) => boolean) => BigInt(sends.filter(test).length);
  const total = (type: string) => (withTotals ? BigInt(sends.reduce((sum, send) => sum + send.webhooks.filter((hook) => hook.type === type).length, 0)) : 0n);
  return {
    sent: BigInt(sends.length),
    delivered: count((send) => ["delivered", "opened", "clicked", "complained"].includes(send.fate)),
    deliveryDelayed: count((send) => send.fate === "delayed"),
    hardBounced: count((send) => send.fate === "hard"),
    softBounced: count((send) => send.fate === "soft"),
    complained: count((send) => send.fate === "complained"),
    failed: 0n,
    suppressed: 0n,
    uniqueOpens: count((send) => send.fate === "opened" || send.fate === "clicked"),
    uniqueClicks: count((send) => send.fate === "clicked"),
    opens: total("email.opened"),
    clicks: total("email.clicked"),
    scannerClicks: 0n,
  };
}

/** Addresses the real webhooks suppress: hard bounces and complaints. */
export const expectedSuppressed = (sends: readonly PlannedSend[]) => new Set(sends.filter((send) => send.fate === "hard" || send.fate === "complained").map((send) => send.recipient));

/** Sends for which Resend knows more than the webhooks that arrived (only ever a prefix): a run must count them "changed". */
export const expectedChanged = (sends: readonly PlannedSend[]) => sends.filter((send) => send.arrived < send.webhooks.length).length;
