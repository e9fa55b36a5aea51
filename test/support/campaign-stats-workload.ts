/**
 * Test support: a generated campaign workload (send registrations and events
 * of several sending providers) and the statistics expected from it, computed
 * straight from the input — independently of the service's code — as
 * DESIGN.md asks. The expectation never looks at the provider: the rules are
 * the same for every one.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient } from "@nats-io/jetstream";
import { SendRecordedSchema } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { emailIdOf, eventIdOf, providerOfEmailId, providerToApi, type Provider } from "../../services/shared/providers.ts";
import { emailEnvelope, isProviderEventType, ownId, publishEnvelope, type EnvelopeOptions } from "./provider-envelopes.ts";
import { seededRandom, shuffle } from "../seeded-random.ts";

export const humanAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
export const scannerAgent = "Mozilla/5.0 (compatible; Barracuda Sentinel link protection)";

/**
 * One message of the workload, in publishing order. Ids are as NgsReach knows them: a Resend email id and
 * svix id as they are, another provider's prefixed with its name ("sendgrid:em-1"), which is how
 * publishMessage tells whose event it is.
 */
export type WorkloadMessage = (
  | { kind: "record"; emailId: string; campaignId: string; sentAt: number }
  | { kind: "event"; svixId: string; type: string; emailId: string; at: number; tags: Record<string, string>; bounce?: { type: string; subType: string }; click?: { link: string; ua: string; at: number } }
) & {
  /** The recipient's domain; absent: `recipientDomainOf(emailId)` (expectedFrom assumes that). */
  domain?: string;
};

/** Expected counts of one campaign (same names as the service's count fields). */
export type ExpectedCounts = Record<
  | "sent" | "delivered" | "deliveryDelayed" | "hardBounced" | "softBounced" | "complained" | "failed" | "suppressed"
  | "opens" | "uniqueOpens" | "clicks" | "uniqueClicks" | "scannerClicks" | "unsubscribed" | "humanUniqueClicks" | "machineOpens",
  number
>;

export interface Expected {
  campaigns: Map<string, ExpectedCounts>;
  /** Per campaign, the counts per mailbox provider of the recipients (only providers with sends); absent: not checked. */
  byProvider?: Map<string, Map<string, ExpectedCounts>>;
  /** The workspace's counts per UTC day (start ms) and provider, over every campaign; absent: not checked. */
  days?: Map<number, Map<string, ExpectedCounts>>;
  links: Map<string, Map<string, { clicks: number; uniqueClicks: number; scannerClicks: number }>>;
  hours: Map<string, Map<number, ExpectedCounts>>;
}

const zero = (): ExpectedCounts => ({
  sent: 0, delivered: 0, deliveryDelayed: 0, hardBounced: 0, softBounced: 0, complained: 0, failed: 0,
  suppressed: 0, opens: 0, uniqueOpens: 0, clicks: 0, uniqueClicks: 0, scannerClicks: 0, unsubscribed: 0,
  humanUniqueClicks: 0, machineOpens: 0,
});

/** Deterministic pseudo-random numbers, so a failing run can be reproduced from its seed. */
export const random = seededRandom;

export const workloadBase = Date.UTC(2026, 10, 26, 10, 0, 0);
const links = ["https://acme.test/a", "https://acme.test/b?x=1.2", "https://acme.test/c"];

/**
 * Recipient domains the sends go to, in turn, with the mailbox provider each belongs to — written down
 * here, not asked of the service's table.
 */
export const recipientDomains: readonly (readonly [domain: string, provider: string])[] = [
  ["gmail.com", "gmail"],
  ["example.test", "other"],
  ["outlook.de", "microsoft"],
  ["GoogleMail.com", "gmail"],
  ["yahoo.co.jp", "yahoo"],
  ["icloud.com", "apple"],
  ["hotmail.co.uk", "microsoft"],
  ["live.example.test", "other"],
];

/** The recipient domain of a workload's send (by its email id, so every message of the send agrees). */
export function recipientDomainOf(emailId: string): readonly [domain: string, provider: string] {
  let hash = 0;
  for (const char of emailId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return recipientDomains[hash % recipientDomains.length]!;
}

/** The providers a workload's sends are spread over: Resend's own ids, and two providers' prefixed ones. */
export const workloadProviders = ["resend", "sendgrid", "ses"] as const;
export type WorkloadProvider = (typeof workloadProviders)[number];

/**
 * Generates `sends` sends over `campaigns` and `providers` (each send goes through one, picked at random),
 * with registrations, tags, and every kind of event.
 */
export function generateWorkload(
  seed: number,
  sends: number,
  campaigns: string[],
  providers: readonly WorkloadProvider[] = workloadProviders,
  /** Time between two sends' registrations: 97 s keeps a workload within a day, hours spread it over days. */
  spacingMs = 97_000,
): WorkloadMessage[] {
  const rnd = random(seed);
  const pick = <T,>(items: readonly T[]) => items[Math.floor(rnd() * items.length)]!;
  const messages: WorkloadMessage[] = [];
  let svix = 0;
  for (let i = 0; i < sends; i++) {
    const provider = pick(providers);
    const emailId = emailIdOf(provider, `em-${seed}-${i}`);
    const campaignId = pick(campaigns);
    const sentAt = workloadBase + i * spacingMs;
    const mode = rnd();
    // 70 % registered (a third of those also tagged, sometimes with another campaign), 20 % tag only, 10 % neither.
    const tags: Record<string, string> = {};
    if (mode < 0.7) {
      messages.push({ kind: "record", emailId, campaignId, sentAt });
      if (rnd() < 0.33) tags.campaign_id = rnd() < 0.5 ? campaignId : pick(campaigns);
    } else if (mode < 0.9) tags.campaign_id = campaignId;
    const event = (type: string, at: number, extra: Partial<WorkloadMessage & { kind: "event" }> = {}) =>
      messages.push({ kind: "event", svixId: eventIdOf(provider, `msg_${seed}_${svix++}`), type, emailId, at, tags, ...extra });
    if (rnd() < 0.9) event("email.sent", sentAt + 1000);
    const outcome = rnd();
    if (outcome < 0.08) event("email.bounced", sentAt + 20_000, { bounce: { type: "Permanent", subType: "General" } });
    else if (outcome < 0.13) event("email.bounced", sentAt + 20_000, { bounce: { type: "Transient", subType: "MailboxFull" } });
    else if (outcome < 0.15) event("email.failed", sentAt + 2000);
    // SES reports a send to a suppressed address as a bounce (subtype OnAccountSuppressionList).
    else if (outcome < 0.17 && provider === "ses") event("email.bounced", sentAt + 2000, { bounce: { type: "Permanent", subType: "OnAccountSuppressionList" } });
    else if (outcome < 0.17) event("email.suppressed", sentAt + 2000);
    else {
      if (rnd() < 0.1) event("email.delivery_delayed", sentAt + 10_000);
      const deliveredAt = sentAt + 30_000;
      event("email.delivered", deliveredAt);
      if (rnd() < 0.05) event("email.delivered", deliveredAt + 5000);
      if (rnd() < 0.03) event("email.complained", deliveredAt + 3_600_000);
      const opens = Math.floor(rnd() * 4);
      for (let o = 0; o < opens; o++) event("email.opened", deliveredAt + 60_000 + Math.floor(rnd() * 3 * 3_600_000));
      // Every fourth delivered send is also opened by a privacy proxy 2 s after delivery, some before the
      // first delivery event arrives: a machine open (not drawn from rnd, so the rest of the workload stays).
      if (i % 4 === 0) event("email.opened", deliveredAt + 2000);
      const clicks = Math.floor(rnd() * 3);
      for (let c = 0; c < clicks; c++) {
        const style = rnd();
        // Scanner by timing (2 s after delivery), scanner by user agent, or human (minutes later).
        const at = style < 0.25 ? deliveredAt + 2000 : deliveredAt + 120_000 + Math.floor(rnd() * 2 * 3_600_000);
        const ua = style >= 0.25 && style < 0.4 ? scannerAgent : humanAgent;
        event("email.clicked", at, { click: { link: pick(links), ua, at } });
      }
      // Resend has no email.unsubscribed; the other providers report an unsubscribe, some twice (SendGrid's
      // unsubscribe and group_unsubscribe, SES's subscription change per topic), in either time order.
      if (provider !== "resend" && rnd() < 0.3) {
        event("email.unsubscribed", deliveredAt + 60_000 + Math.floor(rnd() * 4 * 3_600_000));
        if (rnd() < 0.5) event("email.unsubscribed", deliveredAt + 60_000 + Math.floor(rnd() * 4 * 3_600_000));
      }
    }
    // A few sends get a late event after everything else (exercises "keeps counting when status changes").
    if (mode >= 0.9 && rnd() < 0.5) messages.push({ kind: "record", emailId, campaignId, sentAt });
  }
  return messages;
}

/** The statistics the input implies (DESIGN.md definitions), without any of the service's code. */
export function expectedFrom(messages: WorkloadMessage[], scannerWindowMs = 10_000, machineOpenWindowMs = 5_000): Expected {
  const sends = new Map<string, { record?: { campaignId: string; sentAt: number }; tag?: string; events: (WorkloadMessage & { kind: "event" })[] }>();
  const seen = new Set<string>();
  for (const message of messages) {
    const send = sends.get(message.emailId) ?? { events: [] };
    sends.set(message.emailId, send);
    if (message.kind === "record") send.record ??= { campaignId: message.campaignId, sentAt: message.sentAt };
    else if (!seen.has(message.svixId)) {
      seen.add(message.svixId);
      send.events.push(message);
      if (message.tags.campaign_id) send.tag ??= message.tags.campaign_id;
    }
  }
  const expected: Required<Expected> = { campaigns: new Map(), byProvider: new Map(), days: new Map(), links: new Map(), hours: new Map() };
  for (const [emailId, send] of sends) {
    const campaignId = send.record?.campaignId ?? send.tag;
    if (!campaignId) continue;
    const total = expected.campaigns.get(campaignId) ?? zero();
    expected.campaigns.set(campaignId, total);
    const providers = expected.byProvider.get(campaignId) ?? new Map<string, ExpectedCounts>();
    expected.byProvider.set(campaignId, providers);
    const provider = recipientDomainOf(emailId)[1];
    const atProvider = providers.get(provider) ?? zero();
    providers.set(provider, atProvider);
    const hours = expected.hours.get(campaignId) ?? new Map<number, ExpectedCounts>();
    expected.hours.set(campaignId, hours);
    const count = (field: keyof ExpectedCounts, at: number) => {
      total[field] += 1;
      atProvider[field] += 1;
      const day = Math.floor(at / 86_400_000) * 86_400_000;
      const ofDay = expected.days.get(day) ?? new Map<string, ExpectedCounts>();
      expected.days.set(day, ofDay);
      const dayAtProvider = ofDay.get(provider) ?? zero();
      ofDay.set(provider, dayAtProvider);
      dayAtProvider[field] += 1;
      const hour = Math.floor(at / 3_600_000) * 3_600_000;
      const bucket = hours.get(hour) ?? zero();
      hours.set(hour, bucket);
      bucket[field] += 1;
    };
    const first = (type: string, filter: (e: WorkloadMessage & { kind: "event" }) => boolean = () => true) => {
      const times = send.events.filter((e) => e.type === type && filter(e)).map((e) => e.at);
      return times.length ? Math.min(...times) : undefined;
    };
    const sentAt = send.record?.sentAt ?? first("email.sent");
    if (sentAt !== undefined) count("sent", sentAt);
    const deliveredAt = first("email.delivered");
    for (const [field, at] of [
      ["delivered", deliveredAt],
      ["deliveryDelayed", first("email.delivery_delayed")],
      ["hardBounced", first("email.bounced", (e) => e.bounce?.type === "Permanent")],
      ["softBounced", first("email.bounced", (e) => e.bounce?.type !== "Permanent")],
      ["complained", first("email.complained")],
      ["failed", first("email.failed")],
      ["suppressed", first("email.suppressed")],
      ["unsubscribed", first("email.unsubscribed")],
      ["uniqueOpens", first("email.opened")],
    ] as const) if (at !== undefined) count(field, at);
    for (const open of send.events.filter((e) => e.type === "email.opened")) {
      count("opens", open.at);
      // Before delivery + 5 s: a machine open.
      if (deliveredAt !== undefined && open.at < deliveredAt + machineOpenWindowMs) count("machineOpens", open.at);
    }
    const clicks = send.events.filter((e) => e.type === "email.clicked");
    const campaignLinks = expected.links.get(campaignId) ?? new Map();
    expected.links.set(campaignId, campaignLinks);
    const linksOfSend = new Set<string>();
    const humanClicks: number[] = [];
    for (const click of clicks) {
      const scanner = click.click!.ua === scannerAgent || (deliveredAt !== undefined && click.click!.at < deliveredAt + scannerWindowMs);
      if (!scanner) humanClicks.push(click.click!.at);
      count("clicks", click.click!.at);
      if (scanner) count("scannerClicks", click.click!.at);
      const link = campaignLinks.get(click.click!.link) ?? { clicks: 0, uniqueClicks: 0, scannerClicks: 0 };
      campaignLinks.set(click.click!.link, link);
      link.clicks += 1;
      link.scannerClicks += scanner ? 1 : 0;
      if (!linksOfSend.has(click.click!.link)) link.uniqueClicks += 1;
      linksOfSend.add(click.click!.link);
    }
    if (clicks.length) count("uniqueClicks", Math.min(...clicks.map((c) => c.click!.at)));
    // A send with a click that is not a scanner's, in the hour of its first such click.
    if (humanClicks.length) count("humanUniqueClicks", Math.min(...humanClicks));
  }
  return expected;
}

/** Publishes one workload message; `copy` > 0 publishes without a message id (a late retry JetStream cannot dedupe). */
export async function publishMessage(js: JetStreamClient, workspaceId: string, message: WorkloadMessage, copy = 0): Promise<void> {
  const provider = providerOfEmailId(message.emailId);
  if (message.kind === "record") {
    const local = message.emailId.replace(/[^A-Za-z0-9._-]/g, "-");
    const bytes = toBinary(
      SendRecordedSchema,
      create(SendRecordedSchema, {
        workspaceId,
        emailId: message.emailId,
        campaignId: message.campaignId,
        subscriberId: `sub-${local}`,
        recipient: `${local}@${message.domain ?? recipientDomainOf(message.emailId)[0]}`,
        sentTime: timestampFromMs(message.sentAt),
        recordedTime: timestampFromMs(message.sentAt),
        provider: providerToApi(provider),
      }),
    );
    await js.publish(`sends.${workspaceId}.recorded`, bytes, copy === 0 ? { msgID: `${workspaceId}:${message.emailId}` } : {});
    return;
  }
  if (!isProviderEventType(message.type)) throw new Error(`no provider sends ${message.type}`);
  const envelope = emailEnvelope(provider, workspaceId, message.type, { eventId: ownId(provider, message.svixId), messageId: ownId(provider, message.emailId) }, {
    createdAt: new Date(message.at),
    to: [`${ownId(provider, message.emailId)}@${message.domain ?? recipientDomainOf(message.emailId)[0]}`],
    tags: message.tags,
    bounce: message.bounce,
    click: message.click ? { link: message.click.link, userAgent: message.click.ua, timestamp: new Date(message.click.at) } : undefined,
    ...(message.bounce ? bounceAsReported(provider, message.bounce) : {}),
  });
  await publishEnvelope(js, envelope, { useMsgId: copy === 0 });
}

/** A bounce in the provider's own words (Resend has none): SendGrid names a soft bounce "blocked"; SES classifies it in bounceType. */
function bounceAsReported(provider: Provider, bounce: { type: string }): EnvelopeOptions {
  if (provider === "resend") return {};
  const hard = bounce.type === "Permanent";
  const smtpStatus = hard ? "5.1.1" : "4.2.2";
  if (provider === "sendgrid") return { providerType: hard ? "bounce" : "blocked", bounceProviderType: hard ? "bounce" : "blocked", smtpStatus };
  return { bounceProviderType: bounce.type, smtpStatus };
}

/** Fisher–Yates shuffle with the given random source. */
export { shuffle };
