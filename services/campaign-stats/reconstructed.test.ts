/**
 * Reconstructed events (issue 16) end to end, against real NATS and FerretDB: they give the send-level
 * numbers of the events they stand for and no event totals; once the real events arrive — before or after
 * them, shuffled, redelivered — the numbers, links and hours are exactly those of the real events alone.
 * Expected values come from the input (test/support/campaign-stats-workload.ts), never from the service.
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { JetStreamClient } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishEnvelope } from "../../test/support/provider-envelopes.ts";
import {
  expectedFrom,
  generateWorkload,
  publishMessage,
  random,
  shuffle,
  workloadBase,
  type Expected,
  type ExpectedCounts,
  type WorkloadMessage,
} from "../../test/support/campaign-stats-workload.ts";
import type { BaseConfig } from "../shared/config.ts";
import { RESEND_EVENTS_STREAM } from "../shared/nats.ts";
import { reconstructedEvent } from "../shared/reconstructed-events.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { eventsConsumerName } from "./consumer.ts";
import { countFields } from "./counts.ts";
import { campaignStatsService, loadCampaignStatsSettings } from "./service.ts";

let config: BaseConfig;
let service: RunningService;
let client: Client<typeof CampaignStatsService>;
beforeAll(async () => {
  const nats = await privateNats();
  config = testBaseConfig({ natsUrl: nats.url });
  service = await startService(campaignStatsService({ ...loadCampaignStatsSettings({}), port: 0, consumerAckWaitMs: 2000 }), config);
  client = createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
});
afterAll(async () => service?.stop());

const hourMs = 3_600_000;
const hourOf = (t: number) => Math.floor(t / hourMs) * hourMs;
const zero = (): ExpectedCounts => Object.fromEntries(countFields.map((field) => [field, 0])) as ExpectedCounts;
/** The numbers that count sends, not events: reconstructed events give these and only these. */
const sendLevel = ["sent", "delivered", "deliveryDelayed", "hardBounced", "softBounced", "complained", "failed", "suppressed", "uniqueOpens", "uniqueClicks"] as const;
const eventTotals = ["opens", "clicks", "scannerClicks"] as const;
const [seriesStart, seriesEnd] = [workloadBase - 2 * hourMs, workloadBase + 2 * 24 * hourMs];

type RealEvent = WorkloadMessage & { kind: "event" };

/** A Resend workload of one campaign, only its registered sends (a reconciliation only knows those). */
function registeredWorkload(seed: number, sends: number, campaignId: string): WorkloadMessage[] {
  const messages = generateWorkload(seed, sends, [campaignId], ["resend"]);
  const registered = new Set(messages.filter((message) => message.kind === "record").map((message) => message.emailId));
  return messages.filter((message) => registered.has(message.emailId));
}

/**
 * What a reconciliation publishes for the sends: one reconstructed event per kind of event each send has,
 * at its sent time (the bounce with its type), so that they stand for every send-level number of the real ones.
 */
function reconstructionOf(workspaceId: string, messages: readonly WorkloadMessage[]) {
  const sentAt = new Map<string, number>();
  const byType = new Map<string, RealEvent>();
  for (const message of messages) {
    if (message.kind === "record") sentAt.set(message.emailId, message.sentAt);
    else if (message.type !== "email.sent") byType.set(`${message.emailId}\u0000${message.type}`, message);
  }
  return [...byType.values()].map((real) =>
    reconstructedEvent({
      workspaceId,
      emailId: real.emailId,
      type: real.type,
      sentAtMs: sentAt.get(real.emailId)!,
      observedAtMs: workloadBase + 3 * 24 * hourMs,
      reconciliationId: "rec-1",
      to: [`${real.emailId}@example.test`],
      ...(real.bounce ? { bounce: { ...real.bounce, message: "" } } : {}),
    }),
  );
}

/** The numbers of sends with only their reconstructed events: each send-level number in its send's sent hour, no totals, no links. */
function expectedReconstructedOnly(campaignId: string, messages: readonly WorkloadMessage[]): Expected {
  const total = zero();
  const hours = new Map<number, ExpectedCounts>();
  const count = (field: keyof ExpectedCounts, at: number) => {
    total[field] += 1;
    const bucket = hours.get(hourOf(at)) ?? zero();
    hours.set(hourOf(at), bucket);
    bucket[field] += 1;
  };
  const sends = new Map<string, { sentAt: number; kinds: Set<keyof ExpectedCounts> }>();
  for (const message of messages) if (message.kind === "record" && !sends.has(message.emailId)) sends.set(message.emailId, { sentAt: message.sentAt, kinds: new Set() });
  const fieldOf: Record<string, keyof ExpectedCounts> = {
    "email.delivered": "delivered",
    "email.delivery_delayed": "deliveryDelayed",
    "email.complained": "complained",
    "email.failed": "failed",
    "email.suppressed": "suppressed",
    "email.opened": "uniqueOpens",
    "email.clicked": "uniqueClicks",
  };
  for (const message of messages) {
    if (message.kind !== "event" || message.type === "email.sent") continue;
    const field = message.type === "email.bounced" ? (message.bounce!.type === "Permanent" ? "hardBounced" : "softBounced") : fieldOf[message.type]!;
    sends.get(message.emailId)!.kinds.add(field);
  }
  for (const { sentAt, kinds } of sends.values()) {
    count("sent", sentAt);
    for (const field of kinds) count(field, sentAt);
  }
  return { campaigns: new Map([[campaignId, total]]), links: new Map([[campaignId, new Map()]]), hours: new Map([[campaignId, hours]]) };
}

/** The first difference between what the API reports for the campaign (totals, links, every hour) and the expectation. */
async function differences(workspaceId: string, campaignId: string, expected: Expected): Promise<string | undefined> {
  const { stats } = await client.getCampaignStats({ workspaceId, campaignId });
  const counts = expected.campaigns.get(campaignId)!;
  for (const field of countFields) if (Number(stats![field]) !== counts[field]) return `${field}: got ${stats![field]}, want ${counts[field]}`;
  const { links } = await client.listLinkClicks({ workspaceId, campaignId, pageSize: 500 });
  const got = JSON.stringify(links.map((link) => [link.link, Number(link.clicks), Number(link.uniqueClicks), Number(link.scannerClicks)]));
  const wantLinks = [...expected.links.get(campaignId)!].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const want = JSON.stringify(wantLinks.map(([link, value]) => [link, value.clicks, value.uniqueClicks, value.scannerClicks]));
  if (got !== want) return `links: got ${got}, want ${want}`;
  const { points } = await client.getCampaignTimeSeries({ workspaceId, campaignId, startTime: timestampFromMs(seriesStart), endTime: timestampFromMs(seriesEnd) });
  const wantHours = expected.hours.get(campaignId)!;
  for (const hour of wantHours.keys()) if (hour < seriesStart || hour >= seriesEnd) return `hour ${hour} outside the series checked`;
  for (const point of points) {
    const hour = Number(point.bucketStartTime!.seconds) * 1000;
    const wantHour = wantHours.get(hour) ?? zero();
    for (const field of countFields) if (Number(point[field]) !== wantHour[field]) return `hour ${new Date(hour).toISOString()} ${field}: got ${point[field]}, want ${wantHour[field]}`;
  }
  return undefined;
}

/**
 * Waits for the numbers, then for every published event to be applied, and checks them again: a message
 * that changes nothing (a stand-in beside a real fact) must not be still on its way when they are judged.
 */
async function expectNumbers(workspaceId: string, campaignId: string, expected: Expected, what: string) {
  await waitFor(async () => (await differences(workspaceId, campaignId, expected)) === undefined, { timeoutMs: 45_000, intervalMs: 200, what }).catch(async (error) => {
    throw new Error(`${(error as Error).message}; first difference: ${await differences(workspaceId, campaignId, expected)}`);
  });
  await waitFor(async () => {
    const info = await service.context.nats.jsm.consumers.info(RESEND_EVENTS_STREAM, eventsConsumerName);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, { timeoutMs: 45_000, intervalMs: 100, what: "every event applied" });
  expect(await differences(workspaceId, campaignId, expected), what).toBeUndefined();
}

/** Publishes workload messages, each once with its message id and — for some — again past the duplicate window. */
async function publishWithCopies(js: JetStreamClient, workspaceId: string, messages: readonly WorkloadMessage[], rnd: () => number) {
  for (const message of shuffle(messages, rnd)) {
    await publishMessage(js, workspaceId, message);
    if (rnd() < 0.4) await publishMessage(js, workspaceId, message, 1);
  }
}

describe("reconstructed events in campaign statistics", () => {
  it("give the send-level numbers of the real events and no totals, and once the real events arrive, exactly the real events' numbers", async () => {
    const workspaceId = uniqueName("ws");
    const js = service.context.nats.js;
    const rnd = random(16);
    // "lost": every webhook lost, reconstructed first, the real ones replayed later. "replayed": the real
    // events arrived before the reconstructed ones.
    const lost = registeredWorkload(47, 40, "lost");
    const replayed = registeredWorkload(42, 25, "replayed");
    const records = [...lost, ...replayed].filter((message) => message.kind === "record");
    const eventsOf = (messages: WorkloadMessage[]) => messages.filter((message) => message.kind === "event");
    const reconstructed = reconstructionOf(workspaceId, [...lost, ...replayed]);

    const expectedLost = expectedReconstructedOnly("lost", lost);
    const realLost = expectedFrom(lost);
    // The input holds what the test claims: every send-level number, opens and clicks that reconstruction cannot give.
    for (const field of sendLevel) expect(expectedLost.campaigns.get("lost")![field], field).toBe(realLost.campaigns.get("lost")![field]);
    for (const field of [...sendLevel, ...eventTotals]) expect(realLost.campaigns.get("lost")![field], field).toBeGreaterThan(0);
    expect(realLost.campaigns.get("lost")!.opens).toBeGreaterThan(realLost.campaigns.get("lost")!.uniqueOpens);

    await publishWithCopies(js, workspaceId, [...records, ...eventsOf(replayed)], rnd);
    for (const event of shuffle(reconstructed, rnd)) {
      await publishEnvelope(js, event, { useMsgId: true });
      if (rnd() < 0.3) await publishEnvelope(js, event, { useMsgId: false });
    }
    await expectNumbers(workspaceId, "lost", expectedLost, "the reconstructed events' numbers");
    await expectNumbers(workspaceId, "replayed", expectedFrom(replayed), "the real events' numbers where they came first");

    // The real events of "lost" (a dashboard replay), shuffled with a second reconciliation run's copies.
    const rerun = shuffle(reconstructed, rnd).slice(0, 20);
    await publishWithCopies(js, workspaceId, eventsOf(lost), rnd);
    for (const event of rerun) await publishEnvelope(js, event, { useMsgId: false });
    await expectNumbers(workspaceId, "lost", realLost, "the real events' numbers once they arrived");
    await expectNumbers(workspaceId, "replayed", expectedFrom(replayed), "the real events' numbers after a second run");
  }, 180_000);

  it("count a reconstructed open in unique opens only, in the sent hour until a real open at 10:05 takes its place", async () => {
    const workspaceId = uniqueName("ws");
    const js = service.context.nats.js;
    const sentAt = workloadBase - 30 * 60_000; // 09:30
    const [tenOFive, tenTwenty] = [workloadBase + 5 * 60_000, workloadBase + 20 * 60_000];
    let svix = 0;
    const real = (emailId: string, type: string, at: number): WorkloadMessage => ({ kind: "event", svixId: `msg_open_${svix++}`, type, emailId, at, tags: {} });
    const rebuilt = (emailId: string, type: string) =>
      reconstructedEvent({ workspaceId, emailId, type, sentAtMs: sentAt, observedAtMs: workloadBase + 24 * hourMs, reconciliationId: "rec-2", to: [`${emailId}@example.test`] });
    const expectedHours = (hours: [number, Partial<ExpectedCounts>][]): Expected["hours"] =>
      new Map([["opens", new Map(hours.map(([hour, counts]) => [hour, { ...zero(), ...counts }]))]]);

    for (const emailId of ["a", "b"]) await publishMessage(js, workspaceId, { kind: "record", emailId, campaignId: "opens", sentAt });
    for (const emailId of ["a", "b"]) for (const type of ["email.delivered", "email.opened"]) await publishEnvelope(js, rebuilt(emailId, type), { useMsgId: true });
    await expectNumbers(workspaceId, "opens", {
      campaigns: new Map([["opens", { ...zero(), sent: 2, delivered: 2, uniqueOpens: 2 }]]),
      links: new Map([["opens", new Map()]]),
      hours: expectedHours([[hourOf(sentAt), { sent: 2, delivered: 2, uniqueOpens: 2 }]]),
    }, "two reconstructed opens");

    // a: its real delivery and two real opens (one of them twice); b keeps only its reconstructed open.
    const firstOpen = real("a", "email.opened", tenOFive);
    for (const message of [real("a", "email.opened", tenTwenty), firstOpen, real("a", "email.delivered", sentAt + 30_000)]) await publishMessage(js, workspaceId, message);
    await publishMessage(js, workspaceId, firstOpen, 1);
    await expectNumbers(workspaceId, "opens", {
      campaigns: new Map([["opens", { ...zero(), sent: 2, delivered: 2, opens: 2, uniqueOpens: 2 }]]),
      links: new Map([["opens", new Map()]]),
      hours: expectedHours([
        [hourOf(sentAt), { sent: 2, delivered: 2, uniqueOpens: 1 }],
        [workloadBase, { opens: 2, uniqueOpens: 1 }],
      ]),
    }, "a's real opens in place of its reconstructed one");
  });
});
