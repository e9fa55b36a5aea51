/**
 * End to end against real NATS and FerretDB: the numbers equal those computed
 * from the input after triple concurrent delivery in random order, and after
 * crashes between any two writes followed by restarts.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import type { BaseConfig } from "../shared/config.ts";
import { countFields, zeroCounts } from "./counts.ts";
import { campaignStatsService, loadCampaignStatsSettings, type CampaignStatsSettings } from "./service.ts";
import { contributionOf, sumContributions } from "./send-state.ts";
import { StatsRepository } from "./stats-repository.ts";
import { expectedFrom, generateWorkload, publishMessage, random, shuffle, workloadBase, type Expected, type WorkloadMessage } from "../../test/support/campaign-stats-workload.ts";

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
    // Totals against a recount from the stored per-send state. The numbers can be exact while a crashed
    // message's last step (dropping its applied pending entry) still waits for redelivery: wait for that too.
    const sends = await waitFor(
      async () => {
        const stored = await repo.sendsOfCampaign(workspaceId, campaignId);
        return stored.every((send) => send.pending.length === 0) ? stored : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "every pending entry to be dropped" },
    );
    const recount = sumContributions(sends.map((send) => contributionOf(send.state, { scannerWindowMs: 10_000 }))).get(`c\u0000${campaignId}`) ?? {};
    for (const field of countFields) expect(recount[field] ?? 0, `recount ${campaignId}.${field}`).toBe(counts[field]);
    // Per-link clicks.
    const { links } = await client.listLinkClicks({ workspaceId, campaignId, pageSize: 500 });
    const wantLinks = [...(expected.links.get(campaignId) ?? new Map())].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    expect(links.map((link) => [link.link, { clicks: Number(link.clicks), uniqueClicks: Number(link.uniqueClicks), scannerClicks: Number(link.scannerClicks) }])).toEqual(wantLinks);
    // Hourly series.
    const { points } = await client.getCampaignTimeSeries({
      workspaceId,
      campaignId,
      startTime: timestampFromMs(workloadBase - 3_600_000),
      endTime: timestampFromMs(workloadBase + 3 * 24 * 3_600_000),
    });
    const wantHours = expected.hours.get(campaignId)!;
    for (const point of points) {
      const want = wantHours.get(Number(point.bucketStartTime!.seconds) * 1000) ?? zeroCounts();
      for (const field of countFields) expect(Number(point[field]), `hour ${point.bucketStartTime!.seconds} ${field}`).toBe(want[field]);
    }
  }
}

describe("exact campaign statistics", () => {
  it("match the input after every message is delivered three times concurrently, in random order", async () => {
    const workspaceId = uniqueName("ws");
    const messages = generateWorkload(11, 40, ["spring", "summer:sale"]);
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
      // The copies arrive faster than they are applied, so most went through batches (bulk writes), not one by one.
      const batched = /^ngsreach_consumer_batched_messages_total_campaign_stats_events (\d+)$/m.exec(service.context.metrics.render());
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
    } finally {
      await service.stop();
    }
  });

  it("match the input when the process crashes between any two writes and restarts", async () => {
    const workspaceId = uniqueName("ws");
    const messages: WorkloadMessage[] = generateWorkload(23, 30, ["autumn"]);
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
      expect([...crashes.keys()]).toEqual(
        expect.arrayContaining(["after-send-write", "after-apply-campaign", "after-apply-hour", "after-apply-link", "after-pending-removed"]),
      );
    } finally {
      await service.stop();
    }
  }, 180_000);
});
