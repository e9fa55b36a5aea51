/**
 * Realistic signed Resend webhooks for load: 1–2 KB `email.*` bodies (the
 * shapes of cli/resend-samples.ts, with the tags and subjects a campaign
 * sender sets), every one with its own svix id and email id, signed with
 * Svix's scheme. Written as raw HTTP/1.1 requests to a file that wrk (or the
 * Node fallback) replays once each.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { sampleEmailEvent, type EmailEventType } from "../../cli/resend-samples.ts";
import { SigningKey } from "../../services/webhook-gateway/webhook/signature.ts";
import { writeRequests, type RequestFileInfo } from "./request-file.ts";

export type { RequestFileInfo } from "./request-file.ts";

/** A campaign's event mix: most events are sends, deliveries and opens. */
export const eventMix: EmailEventType[] = [
  ...Array<EmailEventType>(6).fill("email.sent"),
  ...Array<EmailEventType>(6).fill("email.delivered"),
  ...Array<EmailEventType>(4).fill("email.opened"),
  "email.clicked", "email.clicked",
  "email.bounced",
  "email.delivery_delayed",
];

const subjects = [
  "Your November product update: faster dashboards, new integrations and a sneak peek at what's next",
  "Last chance: 30% off annual plans ends tonight — upgrade your workspace before midnight",
  "Welcome aboard! Here is everything you need to get started with your new account in five minutes",
];

/** Cheap distinct-looking hex (xorshift of n): random ids would cost more than the rest of the event. */
export function hex(n: number, length: number): string {
  let x = (n ^ 0x9e3779b9) >>> 0 || 1;
  let out = "";
  while (out.length < length) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out += (x >>> 0).toString(16).padStart(8, "0");
  }
  return out.slice(0, length);
}

/** What a campaign sender attaches to event number `n` (Resend tags; the other providers' custom data). */
export function campaignTags(n: number): Record<string, string> {
  const campaign = campaignOf(n);
  return {
    campaign_id: campaign,
    subscriber_id: `sub_${hex(n * 7 + 1, 18)}`,
    list_id: `lst_${(n % 12).toString().padStart(3, "0")}`,
    workspace_plan: "business",
    ab_variant: n % 2 === 0 ? "subject_a" : "subject_b",
    locale: "en-GB",
    utm_source: "ngsreach",
    utm_medium: "email",
    utm_campaign: campaign,
    sent_by: "ngsreach-campaign-sender-v3",
    send_batch_id: `batch_${randomUUID()}`,
    template_version: "newsletter-2026-11-v14",
    tracking_id: randomUUID(),
    audience_segment: "engaged_last_90_days_excluding_recent_purchasers",
    content_hash: `sha256_${hex(n * 13 + 5, 32)}`,
  };
}

const campaignOf = (n: number) => `cmp_${(n % 40).toString().padStart(4, "0")}_2026_11_newsletter`;

/** The recipient of event number `n`. */
export const recipientOf = (n: number) => `subscriber.${n}@customer-domain-${n % 997}.example.com`;

/** The link a click of event number `n` followed. */
export const linkOf = (n: number) =>
  `https://www.acme-example.com/blog/november-update?utm_source=ngsreach&utm_medium=email&utm_campaign=${campaignOf(n)}&ref=${n}`;

/** A bounce of event number `n` is transient one time in three. */
export const isSoftBounce = (n: number) => n % 3 === 0;

/** One realistic body for event number `n`. */
export function eventBody(n: number, now: Date): string {
  const type = eventMix[n % eventMix.length]!;
  return JSON.stringify(
    sampleEmailEvent(type, {
      emailId: randomUUID(),
      createdAt: now,
      from: "Acme Product Team <newsletter@mail.acme-example.com>",
      to: [recipientOf(n)],
      subject: subjects[n % subjects.length]!,
      tags: campaignTags(n),
      click: type === "email.clicked" ? { link: linkOf(n) } : undefined,
      bounce: type === "email.bounced" ? (isSoftBounce(n) ? { type: "Transient", subType: "MailboxFull" } : { type: "Permanent", subType: "General" }) : undefined,
    }),
  );
}

export interface RequestFileOptions {
  file: string;
  count: number;
  workspaceId: string;
  secret: string;
  /** Keeps svix ids distinct across files. */
  idPrefix: string;
}

/** Writes `count` distinct signed webhook requests (records "<length>\n<raw request>"). */
export async function writeRequestFile(options: RequestFileOptions): Promise<RequestFileInfo> {
  const key = new SigningKey(options.secret);
  const run = randomBytes(4).toString("hex");
  const now = new Date();
  const timestamp = Math.floor(now.getTime() / 1000);
  return writeRequests(options.file, options.count, (n) => {
    const body = Buffer.from(eventBody(n, now));
    const id = `msg_${options.idPrefix}${run}_${n.toString(36)}`;
    return {
      path: `/webhooks/resend?workspaceId=${options.workspaceId}`,
      headers: {
        "User-Agent": "Svix-Webhooks/1.76.1 (sender-bench)",
        "Content-Type": "application/json",
        "svix-id": id,
        "svix-timestamp": String(timestamp),
        "svix-signature": `v1,${key.sign(id, timestamp, body)}`,
      },
      body,
      events: 1,
    };
  });
}
