/**
 * Two delivery-status processes (own connections, own in-process locks: what two replicas share is only
 * the database) applying the same opens of one send at once, as the send retires facts under them.
 */
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../../test/harness.ts";
import { raceProcesses } from "../../../test/support/racer-processes.ts";
import { repoRoot } from "../../../tools/local-servers.ts";
import { keptFactsLimit } from "../send-retirement.ts";
import { SendsRepository } from "../sends-repository.ts";

const racerScript = join(repoRoot, "test", "support", "delivery-racer.ts");

describe("two delivery-status instances on one send with hundreds of events", () => {
  let client: MongoClient;
  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri).connect();
  });
  afterAll(async () => client?.close());

  it("fold every open exactly once between them while the send retires facts", { timeout: 120_000 }, async () => {
    const database = uniqueName("delivery_race");
    const ws = uniqueName("ws");
    const count = 400;
    try {
      const added = (
        await raceProcesses<{ added: number }>(racerScript, [1, 2].map((seed) => [shared.mongoUri, database, ws, String(count), String(seed)]))
      ).map((result) => result.added);
      const repo = new SendsRepository(client.db(database));
      const send = (await repo.get(ws, "raced"))!;
      expect(send.state.openCount).toBe(count);
      expect(added[0]! + added[1]!).toBe(count); // each open added by exactly one of them
      expect(send.timelinePages).toBeGreaterThan(0);
      expect(send.facts.length).toBeLessThanOrEqual(keptFactsLimit + 9);
      const listed = await repo.listTimeline(send, undefined, 1000);
      expect(new Set(listed.map((entry) => entry.svixId)).size).toBe(count);
    } finally {
      await client.db(database).dropDatabase().catch(() => {});
    }
  });
});
