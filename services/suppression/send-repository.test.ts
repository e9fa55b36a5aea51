import { MongoClient } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../test/harness.ts";
import { SendRepository } from "./send-repository.ts";

// Two clients: two instances' connection pools, so their operations really interleave on the server.
const clients = [new MongoClient(shared.mongoUri, { retryWrites: false }), new MongoClient(shared.mongoUri, { retryWrites: false })];
afterAll(async () => Promise.all(clients.map((client) => client.close())));

describe("the send repository", () => {
  it("keeps every event two instances add at once for an email nobody has seen yet", async () => {
    const dbName = uniqueName("test");
    const [a, b] = clients.map((client) => new SendRepository(client.db(dbName)));
    const ws = uniqueName("ws");
    for (let round = 0; round < 40; round++) {
      const emailId = `e${round}`;
      const added = await Promise.all([a!.addPending(ws, emailId, `one-${round}`), b!.addPending(ws, emailId, `two-${round}`)]);
      expect(added).toEqual([undefined, undefined]);
      const pending = await a!.attribute({ workspaceId: ws, emailId, campaignId: "c", subscriberId: "s", recipient: "r@x.com" });
      expect(pending.sort(), `round ${round}`).toEqual([`one-${round}`, `two-${round}`]);
    }
  });

  it("hands an event added after the attribution the attribution instead of keeping it", async () => {
    const repository = new SendRepository(clients[0]!.db(uniqueName("test")));
    const ws = uniqueName("ws");
    await repository.addPending(ws, "e1", "early");
    expect(await repository.attribute({ workspaceId: ws, emailId: "e1", campaignId: "c", subscriberId: "s", recipient: "r@x.com" })).toEqual(["early"]);
    expect(await repository.addPending(ws, "e1", "late")).toMatchObject({ recipient: "r@x.com", subscriberId: "s" });
    await repository.clearPending(ws, "e1", ["early"]);
    expect(await repository.attribute({ workspaceId: ws, emailId: "e1", campaignId: "c", subscriberId: "s", recipient: "r@x.com" })).toEqual([]);
  });
});
