import { MongoClient } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../test/harness.ts";
import { SubscriberRepository } from "./subscriber-repository.ts";
import { newSubscriber } from "./subscriber-state.ts";

const client = new MongoClient(shared.mongoUri, { retryWrites: false });
afterAll(async () => client.close());

describe("the subscriber repository", () => {
  it("with the version guard, refuses a save based on a stale read", async () => {
    const repository = new SubscriberRepository(client.db(uniqueName("test")), { guard: "version" });
    const ws = uniqueName("ws");
    const base = { ...newSubscriber(ws, "a@x.com", 1), version: 1 };
    expect(await repository.save(base, [])).toBe("saved");
    expect(await repository.save({ ...base, version: 1 }, [])).toBe("conflict");
    expect(await repository.save({ ...base, subscriberId: "first", version: 2 }, [])).toBe("saved");
    expect(await repository.save({ ...base, subscriberId: "stale", version: 2 }, [])).toBe("conflict");
    expect((await repository.get(ws, "a@x.com"))?.state.subscriberId).toBe("first");
  });

  it("finds many addresses the same way with both lookup strategies", async () => {
    const repository = new SubscriberRepository(client.db(uniqueName("test")), { guard: "id" });
    const ws = uniqueName("ws");
    const record = { reason: "manual" as const, source: "manual" as const, atMs: 5, svixId: "", emailId: "", campaignId: "", actor: "a", note: "n", detail: "" };
    await repository.save({ ...newSubscriber(ws, "in@x.com", 1), suppression: record, version: 1 }, []);
    await repository.save({ ...newSubscriber(ws, "active@x.com", 1), version: 1 }, []);
    await repository.save({ ...newSubscriber("other", "out@x.com", 1), suppression: record, version: 1 }, []);
    for (const strategy of ["find-one", "in"] as const) {
      const found = await repository.suppressionsOf(ws, ["in@x.com", "active@x.com", "out@x.com", "never@x.com"], strategy);
      expect([...found.keys()], strategy).toEqual(["in@x.com"]);
    }
  });
});
