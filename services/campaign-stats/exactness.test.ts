/**
 * End to end against real NATS and FerretDB: the numbers equal those computed
 * from the input after triple concurrent delivery in random order, and after
 * crashes between any two writes followed by restarts. Every workload mixes
 * providers (Resend ids, "sendgrid:" and "ses:" ones, each with its provider
 * on the envelope) in one run: the rules are the same for all of them.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MailboxProvider } from "../../gen/ngsreach/events/v1/mailbox_provider_pb.ts";
import { CampaignStatsSchema, CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import type { BaseConfig } from "../shared/config.ts";
import { countFields, zeroCounts } from "./counts.ts";
import { campaignStatsService, loadCampaignStatsSettings, type CampaignStatsSettings } from "./service.ts";
import { providerOfEmailId } from "../shared/providers.ts";
import { contributionOf, dayMs, hourMs, sumContributions } from "./send-state.ts";
import { StatsRepository } from "./stats-repository.ts";
import {
  expectedFrom,
  generateWorkload,
  publishMessage,
  random,
  recipientDomainOf,
  shuffle,
  workloadBase,
  workloadProviders,
  type Expected,
  type WorkloadMessage,
} from "../../test/support/campaign-stats-workload.ts";

let config: BaseConfig;
let mongo: MongoClient;
beforeAll(async () => {
  const nats = await privateNats();
  config = testBaseConfig({ natsUrl: nats.url });
  mongo = new MongoClient(config.mongoUri);
  await mongo.connect();
});
afterAll(async () => {
  await mongo?.close();
});

const settings = (extra: Partial<CampaignStatsSettings> = {}): CampaignStatsSettings => ({
  ...loadCampaignStatsSettings({}),
  port: 0,
  consumerAckWaitMs: 2000,
  ...extra,
});

function clientOf(service: RunningService): Client<typeof CampaignStatsService> {
  return createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
}

const providerName: Record<number, string> = {
  [MailboxProvider.GMAIL]: "gmail",
  [MailboxProvider.MICROSOFT]: "microsoft",
  [MailboxProvider.YAHOO]: "yahoo",
  [MailboxProvider.APPLE]: "apple",
  [MailboxProvider.OTHER]: "other",
};

/** Compares every number the API reports with the expectation; returns a description of the first difference. */
async function differences(client: Client<typeof CampaignStatsService>, workspaceId: string, expected: Expected): Promise<string | undefined> {
  for (const [campaignId, counts] of expected.campaigns) {
    const { stats } = await client.getCampaignStats({ workspaceId, campaignId });
    for (const field of countFields) {
      if (Number(stats![field]) !== counts[field]) return `${campaignId}.${field}: got ${stats![field]}, want ${counts[field]}`;
    }
  }
  return undefined;
}

async function expectAllNumbers(client: Client<typeof CampaignStatsService>, workspaceId: string, expected: Expected) {
  const repo = new StatsRepository(mongo.db(config.mongoDatabase));
  for (const [campaignId, counts] of expected.campaigns) {
    const { stats } = await client.getCampaignStats({ workspaceId, campaignId });
    // Totals and rates against the input.
    for (const field of countFields) expect(Number(stats![field]), `${campaignId}.${field}`).toBe(counts[field]);
    expect(stats!.rates!.deliveryRate).toBeCloseTo(counts.delivered / counts.sent, 12);
    expect(stats!.rates!.bounceRate).toBeCloseTo(counts.hardBounced / counts.sent, 12);
    expect(stats!.rates!.unsubscribeRate).toBeCloseTo(counts.unsubscribed / counts.delivered, 12);
    expect(stats!.rates!.humanClickRate).toBeCloseTo(counts.humanUniqueClicks / counts.delivered, 12);
    expect(counts.humanUniqueClicks).toBeLessThan(counts.uniqueClicks); // the workload has sends clicked by scanners only
    // Per mailbox provider, against the recipients' domains in the input; only providers with sends.
    const byProvider = Object.fromEntries(stats!.byProvider.map((entry) => [providerName[entry.provider], Object.fromEntries(countFields.map((field) => [field, Number(entry[field])]))]));
    expect(byProvider, `${campaignId} by provider`).toEqual(Object.fromEntries(expected.byProvider!.get(campaignId)!));
    for (const entry of stats!.byProvider) expect(entry.rates!.complaintRate).toBeCloseTo(entry.delivered > 0n ? Number(entry.complained) / Number(entry.delivered) : 0, 12);
    // Totals against a recount from the stored per-send state. The numbers can be exact while a crashed
    // message's last step (marking its round done) still waits for redelivery: wait for that too.
    const sends = await waitFor(
      async () => {
        const stored = await repo.sendsOfCampaign(workspaceId, campaignId);
        const unconfirmed = await repo.unconfirmedDeltas(stored.map((send) => send.pending));
        return unconfirmed.every((deltas) => deltas.length === 0) ? stored : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "every delta to be confirmed by a done round" },
    );
    const recount = sumContributions(sends.map((send) => contributionOf(send.state, { scannerWindowMs: 10_000 }))).get(`c\u0000${campaignId}`) ?? {};
    for (const field of countFields) expect(recount[field] ?? 0, `recount ${campaignId}.${field}`).toBe(counts[field]);
    // Per-link clicks.
    const { links } = await client.listLinkClicks({ workspaceId, campaignId, pageSize: 500 });
    const wantLinks = [...(expected.links.get(campaignId) ?? new Map())].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    expect(links.map((link) => [link.link, { clicks: Number(link.clicks), uniqueClicks: Number(link.uniqueClicks), scannerClicks: Number(link.scannerClicks) }])).toEqual(wantLinks);
    // Hourly series, through the API (the counts TimeSeriesPoint has) and as stored (every count).
    const [start, end] = [workloadBase - hourMs, workloadBase + 5 * 24 * hourMs];
    const { points } = await client.getCampaignTimeSeries({ workspaceId, campaignId, startTime: timestampFromMs(start), endTime: timestampFromMs(end) });
    const wantHours = expected.hours.get(campaignId)!;
    for (const point of points) {
      const want = wantHours.get(Number(point.bucketStartTime!.seconds) * 1000) ?? zeroCounts();
      for (const field of countFields) expect(Number(point[field]), `hour ${point.bucketStartTime!.seconds} ${field}`).toBe(want[field]);
    }
    const hours = Array.from({ length: (end - start) / hourMs }, (_, index) => start + index * hourMs);
    const stored = new Map((await repo.getHours(workspaceId, campaignId, hours)).map((record) => [record.hour, record.counts]));
    for (const hour of hours) {
      const want = wantHours.get(hour) ?? zeroCounts();
      for (const field of countFields) expect(stored.get(hour)?.[field] ?? 0, `stored hour ${hour} ${field}`).toBe(want[field]);
    }
  }
}

/** BatchGetCampaignStats and WatchCampaignStats' first message carry every field GetCampaignStats does (the breakdown, human and machine counts). */
async function expectSameEverywhere(client: Client<typeof CampaignStatsService>, workspaceId: string, campaignIds: string[]) {
  const single = await Promise.all(campaignIds.map(async (campaignId) => toJson(CampaignStatsSchema, (await client.getCampaignStats({ workspaceId, campaignId })).stats!)));
  expect(single.every((stats) => (stats as { byProvider?: unknown[] }).byProvider?.length)).toBe(true);
  const batch = await client.batchGetCampaignStats({ workspaceId, campaignIds });
  expect(batch.stats.map((stats) => toJson(CampaignStatsSchema, stats))).toEqual(single);
  const watching = new AbortController();
  const first = new Map<string, unknown>();
  try {
    for await (const update of client.watchCampaignStats({ workspaceId, campaignIds }, { signal: watching.signal })) {
      first.set(update.stats!.campaignId, toJson(CampaignStatsSchema, update.stats!));
      if (first.size === campaignIds.length) break;
    }
  } finally {
    watching.abort();
  }
  expect(campaignIds.map((id) => first.get(id))).toEqual(single);
}

/** The workspace's numbers per UTC day and provider against the input, every day of the workload's range. */
async function expectDeliverability(client: Client<typeof CampaignStatsService>, workspaceId: string, expected: Expected) {
  const days = [...expected.days!.keys()].sort((a, b) => a - b);
  const [first, last] = [days[0]! - dayMs, days[days.length - 1]! + 2 * dayMs];
  const response = await client.getWorkspaceDeliverability({ workspaceId, startTime: timestampFromMs(first + 5000), endTime: timestampFromMs(last - 5000) });
  expect(response.days.map((day) => Number(day.dayStartTime!.seconds) * 1000)).toEqual(Array.from({ length: (last - first) / dayMs }, (_, i) => first + i * dayMs));
  const fields = ["sent", "delivered", "hardBounced", "softBounced", "complained"] as const;
  for (const day of response.days) {
    const want = expected.days!.get(Number(day.dayStartTime!.seconds) * 1000) ?? new Map();
    const got = Object.fromEntries(day.providers.map((entry) => [providerName[entry.provider], Object.fromEntries(fields.map((field) => [field, Number(entry[field])]))]));
    // Every provider with any count that day (only opens, say), with these five of its counts.
    const wanted = Object.fromEntries([...want].map(([provider, counts]) => [provider, Object.fromEntries(fields.map((field) => [field, counts[field]]))]));
    expect(got, `day ${day.dayStartTime!.seconds}`).toEqual(wanted);
    for (const entry of day.providers) {
      expect(entry.complaintRate).toBeCloseTo(entry.delivered > 0n ? Number(entry.complained) / Number(entry.delivered) : 0, 12);
      expect(entry.bounceRate).toBeCloseTo(entry.sent > 0n ? Number(entry.hardBounced) / Number(entry.sent) : 0, 12);
    }
  }
}

/** The workload holds what the tests claim to check: every provider's sends, unsubscribes of each provider that reports them, some reported twice. */
function expectCoverage(messages: readonly WorkloadMessage[]) {
  expect(new Set(messages.map((message) => providerOfEmailId(message.emailId)))).toEqual(new Set(workloadProviders));
  expect(new Set(messages.map((message) => recipientDomainOf(message.emailId)[1]))).toEqual(new Set(["gmail", "microsoft", "yahoo", "apple", "other"]));
  const unsubscribes = new Map<string, number>();
  for (const message of messages) {
    if (message.kind === "event" && message.type === "email.unsubscribed") unsubscribes.set(message.emailId, (unsubscribes.get(message.emailId) ?? 0) + 1);
  }
  expect(new Set([...unsubscribes.keys()].map(providerOfEmailId))).toEqual(new Set(["sendgrid", "ses"]));
  expect([...unsubscribes.values()].some((reports) => reports > 1)).toBe(true);
}

describe("exact campaign statistics", () => {
  it("match the input after every message is delivered three times concurrently, in random order", async () => {
    const workspaceId = uniqueName("ws");
    const messages = generateWorkload(11, 40, ["spring", "summer:sale"]);
    expectCoverage(messages);
    const expected = expectedFrom(messages);
    const service = await startService(campaignStatsService(settings()), config);
    try {
      const js = service.context.nats.js;
      const rnd = random(99);
      for (const message of shuffle(messages, rnd)) {
        await Promise.all([0, 1, 2].map((copy) => publishMessage(js, workspaceId, message, copy)));
      }
      const client = clientOf(service);
      await waitFor(async () => (await differences(client, workspaceId, expected)) === undefined, { timeoutMs: 45_000, what: "exact stats" });
      await expectAllNumbers(client, workspaceId, expected);
      await expectDeliverability(client, workspaceId, expected);
      await expectSameEverywhere(client, workspaceId, [...expected.campaigns.keys()]);
      // The copies arrive faster than they are applied, so most went through batches (bulk writes), not one by one.
      const batched = /^ngsreach_consumer_batch_messages_sum\{consumer="campaign-stats-events"\} (\d+)$/m.exec(await service.context.metrics.render());
      expect(Number(batched?.[1])).toBeGreaterThan(messages.length);
      // Unique opens count sends, not events: the workload has sends with several opens.
      const totals = [...expected.campaigns.values()];
      expect(totals.some((counts) => counts.opens > counts.uniqueOpens)).toBe(true);
    } finally {
      await service.stop();
    }
  });

  it("stay apart for two workspaces whose messages share email ids, svix ids and campaign ids in the same batches", async () => {
    const [a, b] = [uniqueName("ws"), uniqueName("ws")];
    // One seed: the first 12 sends of both workloads are the same messages (same email and svix ids), then A has 8 more.
    const [forA, forB] = [generateWorkload(31, 20, ["shared"]), generateWorkload(31, 12, ["shared"])];
    const service = await startService(campaignStatsService(settings()), config);
    try {
      const js = service.context.nats.js;
      // Interleaved, so batches mix the two workspaces; the workloads reuse the same ids.
      for (let i = 0; i < Math.max(forA.length, forB.length); i++) {
        if (forA[i]) await publishMessage(js, a, forA[i]!);
        if (forB[i]) await publishMessage(js, b, forB[i]!);
      }
      const client = clientOf(service);
      await waitFor(async () => (await differences(client, a, expectedFrom(forA))) === undefined && (await differences(client, b, expectedFrom(forB))) === undefined, {
        timeoutMs: 45_000,
        what: "exact stats in both workspaces",
      });
      await expectAllNumbers(client, a, expectedFrom(forA));
      await expectAllNumbers(client, b, expectedFrom(forB));
      await expectDeliverability(client, a, expectedFrom(forA));
      await expectDeliverability(client, b, expectedFrom(forB));
    } finally {
      await service.stop();
    }
  });

  it("match the input when the process crashes between any two writes and restarts", async () => {
    const workspaceId = uniqueName("ws");
    // Sends 2.5 h apart: the workload spans four UTC days, each with its own deliverability numbers.
    const messages: WorkloadMessage[] = generateWorkload(23, 30, ["autumn"], undefined, 2.5 * hourMs);
    expectCoverage(messages);
    const expected = expectedFrom(messages);
    const rnd = random(7);
    const crashes = new Map<string, number>();
    let crashed = false;
    let budget = 10;
    // Every point crashes the first time it is reached, then at random: batches reach each point once for
    // many messages, so chance alone left some points never crashed.
    const crashPoint = (label: string) => {
      if (budget > 0 && (!crashes.has(label) || rnd() < 0.04)) {
        budget -= 1;
        crashes.set(label, (crashes.get(label) ?? 0) + 1);
        crashed = true;
        throw new Error(`simulated crash at ${label}`);
      }
    };
    let service = await startService(campaignStatsService(settings({ crashPoint })), config);
    try {
      const js = service.context.nats.js;
      for (const message of shuffle(messages, rnd)) await publishMessage(js, workspaceId, message);
      const client = () => clientOf(service);
      // Every crash is followed by a fresh process (no memory carried over), until the numbers settle.
      await waitFor(
        async () => {
          if (crashed) {
            crashed = false;
            await service.stop();
            service = await startService(campaignStatsService(settings({ crashPoint })), config);
          }
          return (await differences(client(), workspaceId, expected)) === undefined;
        },
        { timeoutMs: 50_000, intervalMs: 200, what: "exact stats after crashes" },
      ).catch(async (error) => {
        throw new Error(`${(error as Error).message}; first difference: ${await differences(client(), workspaceId, expected)}`);
      });
      await expectAllNumbers(client(), workspaceId, expected);
      expect(expected.days!.size).toBeGreaterThanOrEqual(4);
      await expectDeliverability(client(), workspaceId, expected);
      expect([...crashes.keys()]).toEqual(
        expect.arrayContaining(["after-send-write", "after-apply-campaign", "after-apply-hour", "after-apply-link", "after-apply-day", "after-round-done"]),
      );
    } finally {
      await service.stop();
    }
  }, 180_000);
});
