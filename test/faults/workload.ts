/**
 * The events a load driver sends: realistic histories of a population of sends (cli/resend-samples.ts,
 * cli/provider-samples.ts), shuffled so every send's events arrive out of order, with deliberate
 * duplicates (the same event delivered again, as every provider retries). A workload is Resend's only, or
 * (`providers: "mixed"`) spread over Resend, SendGrid, Mailgun, Postmark and SES: each send belongs to one
 * provider and its history holds only the kinds that provider reports (histories.ts); SendGrid's events
 * travel several to a POST, and some SES sends have three recipients, two of whom one bounce names.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mailgunEventData, postmarkRecord, sendgridEvent, sesMessage, type ProviderSample, type SampleKind } from "../../cli/provider-samples.ts";
import { sampleEmailEvent, type EmailEventType } from "../../cli/resend-samples.ts";
import { newMessageId } from "../../cli/sign.ts";
import { coverageOutcome, historyOf, multiRecipientHistory, type Step } from "./histories.ts";
import { otherProviders, type OtherProvider } from "./provider-keys.ts";
import { postmarkEventId } from "./provider-requests.ts";

export type ProviderName = "resend" | OtherProvider;
export type EventType = EmailEventType | "email.unsubscribed";

/** One logical webhook event: one envelope id, whatever request carries it. */
export interface PlannedEvent {
  /** The envelope's svix_id: Svix's id for Resend, "<provider>:<event id>" for the others. */
  svixId: string;
  workspaceId: string;
  provider: ProviderName;
  /** The send's id inside NgsReach: Resend's email id, "<provider>:<message id>" for the others. */
  emailId: string;
  campaignId: string;
  subscriberId: string;
  /** The send's (first) recipient. */
  address: string;
  /** Whom the event is about: the addresses an SES bounce, complaint or delivery names, else the email's `to`. */
  recipients: readonly string[];
  /** True when the provider names exactly those recipients (they, and no one else, are affected). */
  recipientsNamed: boolean;
  /** The envelope type the event means (cli/provider-samples.ts documents each provider's). */
  type: EventType;
  /** Permanent / Transient for email.bounced. */
  bounceType?: string;
  link?: string;
  /** Event time. */
  atMs: number;
}

/** What one request carries, in the provider's own shape (signed per attempt by provider-requests.ts). */
export type Payload =
  | { provider: "resend"; body: string }
  | { provider: "sendgrid"; events: Record<string, unknown>[] }
  /** The signature's timestamp is set at the first attempt; every retry resends that signature. */
  | { provider: "mailgun"; eventData: Record<string, unknown>; token: string; timestampSeconds?: number }
  | { provider: "postmark"; record: Record<string, unknown> }
  | { provider: "ses"; snsMessageId: string; message: Record<string, unknown> };

/** One POST (sent again on every retry): one event, or several in one SendGrid array. */
export interface PlannedDelivery {
  workspaceId: string;
  events: PlannedEvent[];
  payload: Payload;
}

export interface Workload {
  workspaceId: string;
  events: PlannedEvent[];
  /** Every request once. */
  requests: PlannedDelivery[];
  /** Requests in sending order: shuffled, duplicates included (the same object twice). */
  deliveries: PlannedDelivery[];
  campaigns: string[];
  addresses: string[];
}

/** A small deterministic PRNG so a failing run can be reproduced from its seed. */
export function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  workspaceId: string;
  sends: number;
  campaigns?: number;
  /** Share of requests delivered twice (default 0.1). */
  duplicateRate?: number;
  seed?: number;
  /** "resend" (default): every send is Resend's; "mixed": sends spread over all five providers. */
  providers?: "resend" | "mixed";
}

/** The envelope type of a sample kind (cli/provider-samples.ts: every provider maps its events onto these). */
const typeOfKind = (kind: SampleKind): EventType =>
  kind === "hard_bounce" || kind === "soft_bounce" ? "email.bounced" : (`email.${kind}` as EventType);

/** SES names whom these are about (bouncedRecipients, complainedRecipients, delivery / delay recipients). */
const sesNamedKinds = new Set<SampleKind>(["delivered", "delivery_delayed", "hard_bounce", "soft_bounce", "complained"]);

interface Send {
  provider: ProviderName;
  workspaceId: string;
  messageId: string;
  campaignId: string;
  subscriberId: string;
  destination: string[];
}

/** The event and its provider's body for one step of a send's history. */
function planStep(send: Send, step: Step, at: Date): { event: PlannedEvent; payload: Payload | { provider: "sendgrid"; event: Record<string, unknown> } } {
  const { provider, messageId } = send;
  const about = step.about ?? send.destination;
  const sample: ProviderSample = { messageId, to: about, at, link: step.link, tags: { campaign_id: send.campaignId, subscriber_id: send.subscriberId } };
  const named = provider === "ses" && sesNamedKinds.has(step.kind);
  const event = (svixId: string): PlannedEvent => ({
    svixId,
    workspaceId: send.workspaceId,
    provider,
    emailId: provider === "resend" ? messageId : `${provider}:${messageId}`,
    campaignId: send.campaignId,
    subscriberId: send.subscriberId,
    address: send.destination[0]!,
    recipients: named ? about : send.destination,
    recipientsNamed: named,
    type: typeOfKind(step.kind),
    bounceType: step.kind === "hard_bounce" ? "Permanent" : step.kind === "soft_bounce" ? "Transient" : undefined,
    link: step.link,
    atMs: at.getTime(),
  });
  switch (provider) {
    case "resend": {
      const bounce = step.kind === "hard_bounce" ? { type: "Permanent", subType: "General" } : step.kind === "soft_bounce" ? { type: "Transient", subType: "MailboxFull" } : undefined;
      const body = sampleEmailEvent(typeOfKind(step.kind), {
        emailId: messageId,
        to: send.destination,
        tags: sample.tags,
        createdAt: at,
        bounce,
        click: step.link ? { link: step.link, timestamp: at } : undefined,
      });
      return { event: event(newMessageId()), payload: { provider, body: JSON.stringify(body) } };
    }
    case "sendgrid": {
      const body = sendgridEvent(step.kind, sample);
      return { event: event(`sendgrid:${body.sg_event_id as string}`), payload: { provider, event: body } };
    }
    case "mailgun": {
      const eventData = mailgunEventData(step.kind, sample);
      return { event: event(`mailgun:${eventData.id as string}`), payload: { provider, eventData, token: randomBytes(25).toString("hex") } };
    }
    case "postmark": {
      const record = postmarkRecord(step.kind, sample);
      return { event: event(`postmark:${postmarkEventId(record)}`), payload: { provider, record } };
    }
    case "ses": {
      const message = sesMessage(step.kind, sample);
      const mail = message.mail as Record<string, unknown>;
      mail.destination = send.destination;
      (mail.commonHeaders as Record<string, unknown>).to = send.destination;
      const snsMessageId = randomUUID();
      return { event: event(`ses:${snsMessageId}`), payload: { provider, snsMessageId, message } };
    }
  }
}

/** A message id as the provider writes it (SendGrid's must hold no ".": its events append ".filter..."). */
function messageIdOf(provider: ProviderName): string {
  const hex = randomBytes(12).toString("hex");
  if (provider === "resend") return randomUUID();
  if (provider === "mailgun") return `${hex}@mg.example.test`;
  if (provider === "ses") return `0100018c${hex}-000000`;
  return hex;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Builds the histories of `sends` emails and a shuffled delivery order with duplicates. */
export function buildWorkload(options: WorkloadOptions): Workload {
  const random = rng(options.seed ?? Date.now());
  const campaignCount = options.campaigns ?? 2;
  const campaigns = Array.from({ length: campaignCount }, (_, i) => `camp-${i}-${randomUUID().slice(0, 8)}`);
  const providers: readonly ProviderName[] = options.providers === "mixed" ? ["resend", ...otherProviders] : ["resend"];
  const events: PlannedEvent[] = [];
  const requests: PlannedDelivery[] = [];
  const sendgridEvents: { event: PlannedEvent; body: Record<string, unknown> }[] = [];
  const addresses: string[] = [];
  const base = Date.now() - 3_600_000;
  for (let i = 0; i < options.sends; i++) {
    const provider = providers[i % providers.length]!;
    const messageId = messageIdOf(provider);
    const tag = randomBytes(3).toString("hex");
    // The j-th send of its provider; one SES send in four (the first: its coverage hard bounce) goes to three.
    const j = Math.floor(i / providers.length);
    const recipients = provider === "ses" && j % 4 === 1 ? 3 : 1;
    const destination = Array.from({ length: recipients }, (_, r) => `user${i}${recipients > 1 ? `-${r}` : ""}.${tag}@example.test`);
    addresses.push(...destination);
    const send: Send = { provider, workspaceId: options.workspaceId, messageId, campaignId: campaigns[i % campaignCount]!, subscriberId: `sub-${i}-${tag}`, destination };
    let t = base + i * 1000;
    const forced = options.providers === "mixed" ? coverageOutcome(provider, j) : undefined;
    for (const step of recipients > 1 ? multiRecipientHistory(destination) : historyOf(random, provider, forced)) {
      t += 60_000 + Math.floor(random() * 60_000);
      const { event, payload } = planStep(send, step, new Date(t));
      events.push(event);
      if ("event" in payload) sendgridEvents.push({ event, body: payload.event });
      else requests.push({ workspaceId: options.workspaceId, events: [event], payload });
    }
  }
  // SendGrid posts batches: its events, of any sends, travel one to four in a POST.
  shuffle(sendgridEvents, random);
  for (let i = 0; i < sendgridEvents.length; ) {
    const batch = sendgridEvents.slice(i, (i += 1 + Math.floor(random() * 4)));
    requests.push({ workspaceId: options.workspaceId, events: batch.map((b) => b.event), payload: { provider: "sendgrid", events: batch.map((b) => b.body) } });
  }
  const deliveries = [...requests];
  const duplicateRate = options.duplicateRate ?? 0.1;
  for (const request of requests) if (random() < duplicateRate) deliveries.push(request);
  shuffle(deliveries, random);
  return { workspaceId: options.workspaceId, events, requests, deliveries, campaigns, addresses };
}
