import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../test/harness.ts";
import { defaultAlertSettings } from "./alerts.ts";
import { StatsRepository } from "./stats-repository.ts";

describe("the stats repository's copies of documents it wrote", () => {
  let client: MongoClient;
  beforeAll(async () => {
    client = new MongoClient(shared.mongoUri);
    await client.connect();
  });
  afterAll(async () => client?.close());

  it("lose no write of another instance: a stale copy fails the version guard and is read again", async () => {
    const db = client.db(uniqueName("test"));
    const [a, b] = [new StatsRepository(db), new StatsRepository(db)];
    await a.init();
    await b.init();
    const part = { kind: "campaign" as const, campaignId: "c1", inc: { delivered: 1 } };
    // Every ref counts as pending on its send: this test is about the campaign document's version guard.
    const apply = (repo: StatsRepository, ref: string) =>
      repo.applyParts([{ workspaceId: "ws", ref, part }], {
        isDone: () => false,
        stillPending: async (refs) => new Set(refs.map((entry) => `${entry.workspaceId}:${entry.ref}`)),
        alertSettings: defaultAlertSettings,
        now: Date.now(),
      });

    await apply(a, "e1#1"); // a now holds a copy of the campaign document
    await apply(b, "e2#1"); // b changes it behind a's back
    await apply(a, "e3#1"); // a's copy is stale
    expect((await b.getCampaign("ws", "c1"))?.counts.delivered).toBe(3);
    await apply(a, "e2#1"); // b's part, redelivered to a: a must see it applied
    expect((await a.getCampaign("ws", "c1"))?.counts.delivered).toBe(3);
  });

  it("find the campaigns with unpublished alerts by their flag, and those written before the flag by a scan", async () => {
    const db = client.db(uniqueName("test"));
    const repo = new StatsRepository(db);
    await repo.init();
    const settings = { ...defaultAlertSettings, minDelivered: 2 };
    const bounced = (ref: string) => ({ workspaceId: "ws", ref, part: { kind: "campaign" as const, campaignId: "c1", inc: { sent: 1, delivered: 1, hardBounced: 1 } } });
    const everyRefPending = async (refs: readonly { workspaceId: string; ref: string }[]) => new Set(refs.map((entry) => `${entry.workspaceId}:${entry.ref}`));
    await repo.applyParts([bounced("a#1"), bounced("b#1"), bounced("c#1")], { isDone: () => false, stillPending: everyRefPending, alertSettings: settings, now: Date.now() });
    const found = await repo.campaignsWithOutbox();
    expect(found.map((campaign) => [campaign.campaignId, campaign.outbox.length])).toEqual([["c1", 1]]);
    await repo.removeFromOutbox("ws", "c1", found[0]!.outbox);
    expect(await repo.campaignsWithOutbox()).toEqual([]);
    // Written by a build without the flag: only the scan finds it.
    await db.collection("stats_campaigns").insertOne({ _id: "ws:old" as never, workspaceId: "ws", campaignId: "old", outbox: [found[0]!.outbox[0]] });
    expect(await repo.campaignsWithOutbox()).toEqual([]);
    expect((await repo.campaignsWithOutbox({ scan: true })).map((campaign) => campaign.campaignId)).toEqual(["old"]);
  });
});
