/**
 * Test support: a generated campaign workload (send registrations and Resend
 * events) and the statistics expected from it, computed straight from the
 * input — independently of the service's code — as DESIGN.md asks.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient } from "@nats-io/jetstream";
import { SendRecordedSchema } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { publishResendEvent } from "../publish-events.ts";
import { seededRandom, shuffle } from "../seeded-random.ts";

export const humanAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
export const scannerAgent = "Mozilla/5.0 (compatible; Barracuda Sentinel link protection)";

/** One message of the workload, in publishing order. */
export type WorkloadMessage =
  | { kind: "record"; emailId: string; campaignId: string; sentAt: number }
  | { kind: "event"; svixId: string; type: string; emailId: string; at: number; tags: Record<string, string>; bounce?: { type: string; subType: string }; click?: { link: string; ua: string; at: number } };

/** Expected counts of one campaign (same names as the service's count fields). */
export type ExpectedCounts = Record<
  "sent" | "delivered" | "deliveryDelayed" | "hardBounced" | "softBounced" | "complained" | "failed" | "suppressed" | "opens" | "uniqueOpens" | "clicks" | "uniqueClicks" | "scannerClicks",
  number
>;

export interface Expected {
  campaigns: Map<string, ExpectedCounts>;
  links: Map<string, Map<string, { clicks: number; uniqueClicks: number; scannerClicks: number }>>;
  hours: Map<string, Map<number, ExpectedCounts>>;
}

const zero = (): ExpectedCounts => ({
  sent: 0, delivered: 0, deliveryDelayed: 0, hardBounced: 0, softBounced: 0, complained: 0, failed: 0,
  suppressed: 0, opens: 0, uniqueOpens: 0, clicks: 0, uniqueClicks: 0, scannerClicks: 0,
});

/** Deterministic pseudo-random numbers, so a failing run can be reproduced from its seed. */
export const random = seededRandom;

export const workloadBase = Date.UTC(2026, 10, 26, 10, 0, 0);
const links = ["https://acme.test/a", "https://acme.test/b?x=1.2", "https://acme.test/c"];

/** Generates `sends` sends over `campaigns`, with registrations, tags, and every kind of event. */
export function generateWorkload(seed: number, sends: number, campaigns: string[]): WorkloadMessage[] {
  const rnd = random(seed);
  const pick = <T,>(items: T[]) => items[Math.floor(rnd() * items.length)]!;
  const messages: WorkloadMessage[] = [];
  let svix = 0;
  for (let i = 0; i < sends; i++) {
    const emailId = `em-${seed}-${i}`;
    const campaignId = pick(campaigns);
    const sentAt = workloadBase + i * 97_000;
    const mode = rnd();
    // 70 % registered (a third of those also tagged, sometimes with another campaign), 20 % tag only, 10 % neither.
    const tags: Record<string, string> = {};
    if (mode < 0.7) {
      messages.push({ kind: "record", emailId, campaignId, sentAt });
      if (rnd() < 0.33) tags.campaign_id = rnd() < 0.5 ? campaignId : pick(campaigns);
    } else if (mode < 0.9) tags.campaign_id = campaignId;
    const event = (type: string, at: number, extra: Partial<WorkloadMessage & { kind: "event" }> = {}) =>
      messages.push({ kind: "event", svixId: `msg_${seed}_${svix++}`, type, emailId, at, tags, ...extra });
    if (rnd() < 0.9) event("email.sent", sentAt + 1000);
    const outcome = rnd();
    if (outcome < 0.08) event("email.bounced", sentAt + 20_000, { bounce: { type: "Permanent", subType: "General" } });
    else if (outcome < 0.13) event("email.bounced", sentAt + 20_000, { bounce: { type: "Transient", subType: "MailboxFull" } });
    else if (outcome < 0.15) event("email.failed", sentAt + 2000);
    else if (outcome < 0.17) event("email.suppressed", sentAt + 2000);
    else {
      if (rnd() < 0.1) event("email.delivery_delayed", sentAt + 10_000);
      const deliveredAt = sentAt + 30_000;
      event("email.delivered", deliveredAt);
      if (rnd() < 0.05) event("email.delivered", deliveredAt + 5000);
      if (rnd() < 0.03) event("email.complained", deliveredAt + 3_600_000);
      const opens = Math.floor(rnd() * 4);
      for (let o = 0; o < opens; o++) event("email.opened", deliveredAt + 60_000 + Math.floor(rnd() * 3 * 3_600_000));
      const clicks = Math.floor(rnd() * 3);
      for (let c = 0; c < clicks; c++) {
        const style = rnd();
        // Scanner by timing (2 s after delivery), scanner by user agent, or human (minutes later).
        const at = style < 0.25 ? deliveredAt + 2000 : deliveredAt + 120_000 + Math.floor(rnd() * 2 * 3_600_000);
        const ua = style >= 0.25 && style < 0.4 ? scannerAgent : humanAgent;
        event("email.clicked", at, { click: { link: pick(links), ua, at } });
      }
    }
    // A few sends get a late event after everything else (exercises "keeps counting when status changes").
    if (mode >= 0.9 && rnd() < 0.5) messages.push({ kind: "record", emailId, campaignId, sentAt });
  }
  return messages;
}

/** The statistics the input implies (DESIGN.md definitions), without any of the service's code. */
export function expectedFrom(messages: WorkloadMessage[], scannerWindowMs = 10_000): Expected {
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
  const expected: Expected = { campaigns: new Map(), links: new Map(), hours: new Map() };
  for (const send of sends.values()) {
    const campaignId = send.record?.campaignId ?? send.tag;
    if (!campaignId) continue;
    const total = expected.campaigns.get(campaignId) ?? zero();
    expected.campaigns.set(campaignId, total);
    const hours = expected.hours.get(campaignId) ?? new Map<number, ExpectedCounts>();
    expected.hours.set(campaignId, hours);
    const count = (field: keyof ExpectedCounts, at: number) => {
      total[field] += 1;
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
      ["uniqueOpens", first("email.opened")],
    ] as const) if (at !== undefined) count(field, at);
    for (const open of send.events.filter((e) => e.type === "email.opened")) count("opens", open.at);
    const clicks = send.events.filter((e) => e.type === "email.clicked");
    const campaignLinks = expected.links.get(campaignId) ?? new Map();
    expected.links.set(campaignId, campaignLinks);
    const linksOfSend = new Set<string>();
    for (const click of clicks) {
      const scanner = click.click!.ua === scannerAgent || (deliveredAt !== undefined && click.click!.at < deliveredAt + scannerWindowMs);
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
  }
  return expected;
}

/** Publishes one workload message; `copy` > 0 publishes without a message id (a late retry JetStream cannot dedupe). */
export async function publishMessage(js: JetStreamClient, workspaceId: string, message: WorkloadMessage, copy = 0): Promise<void> {
  if (message.kind === "record") {
    const bytes = toBinary(
      SendRecordedSchema,
      create(SendRecordedSchema, {
        workspaceId,
        emailId: message.emailId,
        campaignId: message.campaignId,
        subscriberId: `sub-${message.emailId}`,
        recipient: `${message.emailId}@example.test`,
        sentTime: timestampFromMs(message.sentAt),
        recordedTime: timestampFromMs(message.sentAt),
      }),
    );
    await js.publish(`sends.${workspaceId}.recorded`, bytes, copy === 0 ? { msgID: `${workspaceId}:${message.emailId}` } : {});
    return;
  }
  const body = sampleEmailEvent(message.type, {
    emailId: message.emailId,
    createdAt: new Date(message.at),
    tags: message.tags,
    bounce: message.bounce,
    click: message.click ? { link: message.click.link, userAgent: message.click.ua, timestamp: new Date(message.click.at) } : undefined,
  });
  await publishResendEvent(js, workspaceId, body, { svixId: message.svixId, useMsgId: copy === 0 });
}

/** Fisher–Yates shuffle with the given random source. */
export { shuffle };
