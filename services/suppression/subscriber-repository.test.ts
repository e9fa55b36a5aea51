import { MongoClient } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../test/harness.ts";
import { KeyedLock } from "../shared/keyed-lock.ts";
import { createLogger } from "../shared/log.ts";
import type { OutboxPublisher } from "./outbox.ts";
import { SendRepository } from "./send-repository.ts";
import { defaultSoftBouncePolicy } from "./soft-bounce-policy.ts";
import { SubscriberRepository } from "./subscriber-repository.ts";
import { addManually, newSubscriber } from "./subscriber-state.ts";
import type { SuppressionDeps } from "./use-cases/deps.ts";
import { sweepOutbox } from "./use-cases/sweep-outbox.ts";

const client = new MongoClient(shared.mongoUri, { retryWrites: false });
afterAll(async () => client.close());

/** What the sweep needs; publishing must not happen in these tests (every outbox is empty). */
function sweepDeps(db: ReturnType<MongoClient["db"]>, subscribers: SubscriberRepository): SuppressionDeps {
  const outbox = { flush: async () => expect.fail("nothing to publish") } as unknown as OutboxPublisher;
  return {
    subscribers,
    sends: new SendRepository(db),
    outbox,
    lock: new KeyedLock(),
    policy: defaultSoftBouncePolicy,
    lookup: "find-one",
    log: createLogger({}, "error"),
    now: () => Date.now(),
  };
}

describe("the subscriber repository", () => {
  it("refuses a save based on a stale read (always version-guarded)", async () => {
    const repository = new SubscriberRepository(client.db(uniqueName("test")));
    const ws = uniqueName("ws");
    const base = { ...newSubscriber(ws, "a@x.com", 1), version: 1 };
    expect(await repository.save(base, [])).toBe("saved");
    expect(await repository.save({ ...base, version: 1 }, [])).toBe("conflict");
    expect(await repository.save({ ...base, subscriberId: "first", version: 2 }, [])).toBe("saved");
    expect(await repository.save({ ...base, subscriberId: "stale", version: 2 }, [])).toBe("conflict");
    expect((await repository.get(ws, "a@x.com"))?.state.subscriberId).toBe("first");
  });

  it("finds many addresses the same way with both lookup strategies", async () => {
    const repository = new SubscriberRepository(client.db(uniqueName("test")));
    const ws = uniqueName("ws");
    const suppressed = (workspaceId: string, email: string) =>
      addManually(newSubscriber(workspaceId, email, 1), { reason: "manual", subscriberId: "", actor: "a", note: "n", atMs: 5 }).state;
    await repository.save({ ...suppressed(ws, "in@x.com"), version: 1 }, []);
    await repository.save({ ...newSubscriber(ws, "active@x.com", 1), version: 1 }, []);
    await repository.save({ ...suppressed("other", "out@x.com"), version: 1 }, []);
    for (const strategy of ["find-one", "in"] as const) {
      const found = await repository.suppressionsOf(ws, ["in@x.com", "active@x.com", "out@x.com", "never@x.com"], strategy);
      expect([...found.keys()], strategy).toEqual(["in@x.com"]);
    }
  });

  it("answers more addresses than one $in query takes (the erased pseudonyms of 1,000 addresses can be more)", async () => {
    const repository = new SubscriberRepository(client.db(uniqueName("test")));
    const ws = uniqueName("ws");
    const emails = Array.from({ length: 2_500 }, (_, i) => `a${i}@x.com`);
    // One suppressed address in each query of 1,000 and at both edges of every query.
    const suppressedOnes = ["a0@x.com", "a999@x.com", "a1000@x.com", "a1999@x.com", "a2000@x.com", "a2499@x.com"];
    const manual = { reason: "manual", subscriberId: "", actor: "a", note: "n", atMs: 5 } as const;
    await repository.insertMany(suppressedOnes.map((email) => ({ ...addManually(newSubscriber(ws, email, 1), manual).state, version: 1 })));
    for (const strategy of ["find-one", "in"] as const) {
      const found = await repository.suppressionsOf(ws, emails, strategy);
      expect([...found.keys()].sort(), strategy).toEqual([...suppressedOnes].sort());
    }
  });

  it("reads a document of the old shape with its suppression and rewrites it in the new shape on save", async () => {
    const db = client.db(uniqueName("test"));
    const repository = new SubscriberRepository(db);
    const ws = uniqueName("ws");
    const record = { reason: "bounced", source: "event", atMs: 5000, svixId: "h1", emailId: "e1", campaignId: "c", actor: "", note: "", detail: "General" };
    await db.collection<Record<string, unknown> & { _id: string }>("suppression_subscribers").insertOne({
      _id: `${ws}:old@x.com`,
      workspaceId: ws,
      email: "old@x.com",
      subscriberId: "sub_old",
      suppression: record,
      softBounces: [{ svixId: "s1", atMs: 4000, subType: "MailboxFull", emailId: "e0", campaignId: "c", counts: true }],
      deliveries: [3000],
      streakFloorMs: 0,
      removedAtMs: 0,
      applied: ["s1", "h1"],
      history: [{ kind: "suppressed", atMs: 5000, reason: "bounced", source: "event", svixId: "h1", emailId: "e1", campaignId: "c", actor: "", note: "" }],
      version: 3,
      updatedAtMs: 5000,
      suppressed: true,
      reason: "bounced",
      outbox: [],
    });
    const stored = await repository.get(ws, "old@x.com");
    expect(stored?.state).toMatchObject({ suppression: record, version: 3, facts: { lasting: record, deliveries: [3000], newestMs: 5000 } });
    expect((await repository.suppressionsOf(ws, ["old@x.com"], "find-one")).get("old@x.com")).toEqual(record);
    expect(await repository.save({ ...stored!.state, version: 4 }, [])).toBe("saved");
    const raw = await db.collection<{ _id: string }>("suppression_subscribers").findOne({ _id: `${ws}:old@x.com` });
    expect(raw).toMatchObject({ suppression: record, suppressed: true, version: 4, facts: { lasting: record } });
    expect(raw).not.toHaveProperty("applied");
    expect(raw).not.toHaveProperty("streakFloorMs");
  });

  it("keeps the outbox mark of a writer between its mark and its save while another instance clears a drained outbox", async () => {
    const repository = new SubscriberRepository(client.db(uniqueName("test")));
    const ws = uniqueName("ws");
    const v1 = { ...newSubscriber(ws, "race@x.com", 1), version: 1 };
    expect(await repository.save(v1, [])).toBe("saved");
    // Writer: marks for v2, then (below) saves v2 with an entry. Meanwhile another instance saw the outbox drained at v1.
    await repository.markOutboxPending(ws, "race@x.com", 2, 10);
    expect(await repository.clearOutboxPending(ws, "race@x.com", 1)).toBe(false);
    expect(await repository.save({ ...v1, version: 2 }, ["entry"])).toBe("saved");
    expect((await repository.outboxPending(10)).map((mark) => [mark.email, mark.forVersion])).toEqual([["race@x.com", 2]]);
    // Published and pulled: now the mark goes.
    const after = await repository.removeFromOutbox(ws, "race@x.com", "entry");
    expect(after).toEqual({ version: 3, left: 0 });
    expect(await repository.clearOutboxPending(ws, "race@x.com", after!.version)).toBe(true);
    expect(await repository.outboxPending(10)).toEqual([]);
  });

  it("sweeps away the mark of a writer that died between mark and save, fencing it so a late save cannot strand an entry", async () => {
    const db = client.db(uniqueName("test"));
    const repository = new SubscriberRepository(db);
    const ws = uniqueName("ws");
    const v1 = { ...newSubscriber(ws, "dead@x.com", 1), version: 1 };
    expect(await repository.save(v1, [])).toBe("saved");
    await repository.markOutboxPending(ws, "dead@x.com", 2, 10);
    // Never saved, and the first save of a fresh address that was marked but never inserted.
    await repository.markOutboxPending(ws, "never@x.com", 1, 10);

    expect(await sweepOutbox(sweepDeps(db, repository))).toBe(0);
    expect(await repository.outboxPending(10)).toEqual([]);
    expect((await repository.get(ws, "dead@x.com"))?.state.version).toBe(2);
    expect(await repository.save({ ...v1, version: 2 }, ["late entry"])).toBe("conflict");
    expect(await repository.save({ ...newSubscriber(ws, "never@x.com", 1), version: 1 }, ["late entry"])).toBe("conflict");
  });
});
