import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmailEventType, SampleOptions } from "../../../cli/resend-samples.ts";
import { shared, uniqueName, waitFor } from "../../../test/harness.ts";
import { emailIdOf, eventIdOf, type Provider } from "../../shared/providers.ts";
import { emailEnvelope, providerTypeOf } from "../../../test/support/provider-envelopes.ts";
import { toIncomingEvent } from "../consumer.ts";
import type { SendState } from "../send-projection.ts";
import { withSendLock } from "../send-locks.ts";
import { sendKey, SendsRepository, type TimelineEntry } from "../sends-repository.ts";
import { applyEvent, applyEvents, type IncomingEvent } from "./apply-event.ts";
import { listSendEvents } from "./queries.ts";
import { recordSend } from "./record-send.ts";
import { publishSendRecorded } from "./send-recorded-outbox.ts";

const t0 = Date.parse("2026-11-20T10:00:00.000Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000);
const us = (seconds: number) => (t0 + seconds * 1000) * 1000;

/** An event of `provider` about its message `messageId`, exactly as the consumer would get it from the gateway's envelope. */
function incomingAs(provider: Provider, workspaceId: string, messageId: string, eventId: string, type: EmailEventType, seconds: number, options: SampleOptions = {}) {
  const envelope = emailEnvelope(provider, workspaceId, type, { eventId, messageId }, { createdAt: at(seconds), to: ["ann@example.com"], receivedAtMs: t0 + 3_600_000, ...options });
  return toIncomingEvent(envelope)!;
}
/** A Resend event (email id and svix id as given). */
const incoming = (workspaceId: string, emailId: string, svixId: string, type: EmailEventType, seconds: number, options: SampleOptions = {}) =>
  incomingAs("resend", workspaceId, emailId, svixId, type, seconds, options);

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe("applying events to sends, against the real database", () => {
  let client: MongoClient;
  let db: Db;
  let repo: SendsRepository;
  const changes: unknown[] = [];
  const deps = () => ({
    repo,
    notify: (change: unknown) => void changes.push(change),
    now: () => t0 + 7_200_000, // a fixed clock: the registration time is part of the compared state
    publisher: { publishSendRecorded: async () => {} },
    onPublishFailure: (error: unknown) => {
      throw error;
    },
  });

  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri).connect();
    db = client.db(uniqueName("delivery_apply"));
    repo = new SendsRepository(db);
    await repo.ensureIndexes();
  });
  afterAll(async () => {
    await db.dropDatabase().catch(() => {});
    await client.close();
  });

  // The same rules for every provider: a SendGrid history (ids "sendgrid:...") converges to the same state as Resend's.
  for (const [providerIndex, provider] of (["resend", "sendgrid"] as const).entries()) {
    it(`converges to the same record for all 120 orderings of a 5-event history, with RecordSend anywhere among them (${provider})`, async () => {
      const ws = uniqueName("ws");
      const history: [string, EmailEventType, number, SampleOptions?][] = [
        ["svix_sent", "email.sent", 0],
        ["svix_delivered", "email.delivered", 10],
        ["svix_clicked", "email.clicked", 30, { click: { link: "https://example.com/a" } }],
        ["svix_complained", "email.complained", 40],
        ["svix_bounced", "email.bounced", 50, { bounce: { type: "Permanent", subType: "General" } }],
      ];
      const orderings = permutations(history);
      expect(orderings).toHaveLength(120);

      const finals: SendState[] = [];
      const timeline: TimelineEntry[] = [];
      const sharedDeps = deps;
      const runOrdering = async (ordering: (typeof orderings)[number], index: number) => {
        const messageId = `email_${index}`;
        const emailId = emailIdOf(provider, messageId);
        // A collection per ordering: FerretDB v1 writes slow down as a collection grows (measured), and
        // the orderings are independent anyway.
        const database = client.db(`${db.databaseName}_${providerIndex}_${index}`);
        const repo = new SendsRepository(database);
        const deps = () => ({ ...sharedDeps(), repo });
        const steps: (() => Promise<unknown>)[] = ordering.map(
          ([svixId, type, seconds, options]) => () => applyEvent(deps(), incomingAs(provider, ws, messageId, `${messageId}_${svixId}`, type, seconds, options)),
        );
        // RecordSend at every position 0..5 in turn: before, between and after the events.
        steps.splice(index % 6, 0, () =>
          recordSend(deps(), { workspaceId: ws, emailId, campaignId: "camp", subscriberId: "sub", recipient: "ann@example.com", sentAtUs: us(-1) }),
        );
        for (const step of steps) await step();
        const send = await repo.get(ws, emailId);
        finals[index] = send!.state;
        if (index === 7) timeline.push(...(await repo.listTimeline((await repo.get(ws, emailId))!, undefined, 100)));
        await database.dropDatabase();
      };
      // Each ordering runs strictly in sequence; two different sends at a time (FerretDB serialises writes; more only queue).
      for (let start = 0; start < orderings.length; start += 2) {
        await Promise.all(orderings.slice(start, start + 2).map((ordering, i) => runOrdering(ordering, start + i)));
      }

      // Expected values come from the input history, not from the service.
      const expected = {
        status: "complained", // the later hard bounce never replaces a complaint
        attributed: true,
        campaignId: "camp",
        subscriberId: "sub",
        recipient: "ann@example.com",
        sentAtUs: us(-1),
        deliveredAtUs: us(10),
        firstClickedAtUs: us(30),
        complainedAtUs: us(40),
        clickCount: 1,
        openCount: 0,
        softBounceCount: 0,
        lastEventAtUs: us(50),
        recordedAtUs: (t0 + 7_200_000) * 1000,
      };
      for (const state of finals) {
        expect(state).toMatchObject(expected);
        expect(state.bouncedAtUs).toBeUndefined();
        expect(state).toEqual(finals[0]);
      }
      expect(timeline.map((entry) => entry.type)).toEqual(history.map(([, type]) => type)); // event-time order
      expect(timeline.map((entry) => entry.svixId)).toEqual(history.map(([svixId]) => eventIdOf(provider, `email_7_${svixId}`)));
      expect(timeline.map((entry) => entry.providerType ?? "")).toEqual(history.map(([, type]) => providerTypeOf(provider, type)));
    });
  }

  it("keeps one timeline entry and one count when the same svix id is applied many times concurrently", async () => {
    const ws = uniqueName("ws");
    const event = incoming(ws, "e1", "svix_open_1", "email.opened", 5);
    const results = await Promise.all(Array.from({ length: 20 }, () => applyEvent(deps(), structuredClone(event))));
    expect(results.filter(Boolean)).toHaveLength(1);
    const send = await repo.get(ws, "e1");
    expect(send!.state.openCount).toBe(1);
    expect(send!.facts).toHaveLength(1);
    expect(await repo.listTimeline((await repo.get(ws, "e1"))!, undefined, 100)).toHaveLength(1);
  });

  it("loses no update when distinct events of one send are written concurrently", async () => {
    const ws = uniqueName("ws");
    const events: IncomingEvent[] = Array.from({ length: 12 }, (_, i) => incoming(ws, "e2", `svix_open_${i}`, "email.opened", i));
    await Promise.all([
      ...events.map((event) => applyEvent(deps(), event)),
      recordSend(deps(), { workspaceId: ws, emailId: "e2", campaignId: "c", subscriberId: "s", recipient: "ann@example.com" }),
    ]);
    const send = await repo.get(ws, "e2");
    expect(send!.state.openCount).toBe(12);
    expect(send!.state.attributed).toBe(true);
    expect(send!.state.firstOpenedAtUs).toBe(us(0));
    expect(await repo.listTimeline((await repo.get(ws, "e2"))!, undefined, 100)).toHaveLength(12);
  });

  it("pages a timeline in (event time, received time, svix id) order, however many events share one time", async () => {
    const ws = uniqueName("ws");
    // 12 opens at the same second with received times out of svix-id order, 3 later clicks, 2 earlier events.
    const received = (event: IncomingEvent, receivedAtUs: number) => ({ ...event, timeline: { ...event.timeline, receivedAtUs } });
    const events = [
      ...Array.from({ length: 12 }, (_, i) => received(incoming(ws, "e5", `svix_o${i}`, "email.opened", 20), (12 - i) * 1000)),
      ...[21, 22, 22].map((second, i) => received(incoming(ws, "e5", `svix_c${i}`, "email.clicked", second), 1)),
      incoming(ws, "e5", "svix_sent", "email.sent", 1),
      incoming(ws, "e5", "svix_deliv", "email.delivered", 2),
    ];
    for (const event of events) await applyEvent(deps(), event);
    const expected = events
      .map((event) => event.timeline)
      .sort((a, b) => a.eventAtUs - b.eventAtUs || a.receivedAtUs - b.receivedAtUs || a.svixId.localeCompare(b.svixId))
      .map((entry) => entry.svixId);
    for (const pageSize of [1, 2, 3, 5, 100]) {
      const seen: string[] = [];
      let pageToken = "";
      do {
        const page = await listSendEvents(repo, { workspaceId: ws, emailId: "e5", pageSize, pageToken });
        expect(page.items.length).toBeLessThanOrEqual(pageSize);
        seen.push(...page.items.map((entry) => entry.svixId));
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(seen, `page size ${pageSize}`).toEqual(expected);
    }
  });

  it("applies a batch with repeats and several sends exactly as one event at a time would", async () => {
    const [batched, single] = [uniqueName("ws"), uniqueName("ws")];
    const events = (ws: string) => [
      incoming(ws, "b1", "svix_b1_sent", "email.sent", 0),
      incoming(ws, "b1", "svix_b1_delivered", "email.delivered", 10),
      incoming(ws, "b2", "svix_b2_sent", "email.sent", 0),
      incoming(ws, "b1", "svix_b1_delivered", "email.delivered", 10), // a redelivery inside the batch
      incoming(ws, "b2", "svix_b2_bounced", "email.bounced", 20, { bounce: { type: "Permanent", subType: "General" } }),
      incoming(ws, "b3", "svix_b3_opened", "email.opened", 30),
    ];
    await applyEvent(deps(), events(batched)[0]!); // b1 exists before the batch, the others do not
    changes.length = 0;
    expect(await applyEvents(deps(), events(batched))).toBe(4);
    expect(changes).toHaveLength(4); // one notification per new event, none for repeats
    expect(await applyEvents(deps(), events(batched))).toBe(0); // the whole batch redelivered
    for (const event of events(single)) await applyEvent(deps(), event);
    for (const emailId of ["b1", "b2", "b3"]) {
      const [a, b] = [(await repo.get(batched, emailId))!, (await repo.get(single, emailId))!];
      expect(a.state, emailId).toEqual(b.state);
      expect(a.facts.map((fact) => fact.svixId).sort(), emailId).toEqual(b.facts.map((fact) => fact.svixId).sort());
      expect((await repo.listTimeline(a, undefined, 10)).map((entry) => entry.svixId)).toEqual((await repo.listTimeline(b, undefined, 10)).map((entry) => entry.svixId));
    }
    expect((await repo.get(batched, "b2"))!.state.status).toBe("bounced");
  });

  it("keeps two workspaces apart when one batch holds the same email and svix ids of both", async () => {
    const [a, b] = [uniqueName("ws"), uniqueName("ws")];
    const batch = [
      incoming(a, "same", "svix_same_1", "email.sent", 0),
      incoming(b, "same", "svix_same_1", "email.sent", 0),
      incoming(b, "same", "svix_same_2", "email.delivered", 10),
    ];
    expect(await applyEvents(deps(), batch)).toBe(3);
    const [sendA, sendB] = [(await repo.get(a, "same"))!, (await repo.get(b, "same"))!];
    expect(sendA.facts.map((fact) => fact.svixId)).toEqual(["svix_same_1"]);
    expect(sendB.facts.map((fact) => fact.svixId).sort()).toEqual(["svix_same_1", "svix_same_2"]);
    expect((await repo.listTimeline(sendA, undefined, 10)).map((entry) => entry.workspaceId)).toEqual([a]);
    expect((await repo.listTimeline(sendB, undefined, 10)).map((entry) => entry.workspaceId)).toEqual([b, b]);
  });

  it("redoes each send of a batch alone when its bulk write loses a version guard, and loses no event", async () => {
    const ws = uniqueName("ws");
    await applyEvent(deps(), incoming(ws, "g1", "svix_g1_sent", "email.sent", 0));
    const stale = (await repo.get(ws, "g1"))!;
    await applyEvent(deps(), incoming(ws, "g1", "svix_g1_delivered", "email.delivered", 10)); // another writer, as seen by the batch
    // The batch reads the copy from before that write (what another instance's write looks like on MongoDB).
    let served = false;
    const staleOnce = new (class extends SendsRepository {
      override async getMany(keys: readonly { workspaceId: string; emailId: string }[]) {
        const sends = await super.getMany(keys);
        if (served) return sends;
        served = true;
        return sends.map((send) => (send?.emailId === "g1" ? stale : send));
      }
    })(db);
    changes.length = 0;
    const batch = [incoming(ws, "g1", "svix_g1_opened", "email.opened", 20), incoming(ws, "g2", "svix_g2_sent", "email.sent", 0)];
    // g2's insert won inside the failed bulk write, so its redo finds nothing to add: counted and notified
    // only by what the redo added (live updates are best effort; stored facts are not).
    expect(await applyEvents({ ...deps(), repo: staleOnce }, batch)).toBe(1);
    expect(served).toBe(true);
    const g1 = (await repo.get(ws, "g1"))!;
    expect(g1.facts.map((fact) => fact.svixId).sort()).toEqual(["svix_g1_delivered", "svix_g1_opened", "svix_g1_sent"]);
    expect(g1.state.status).toBe("opened");
    expect((await repo.get(ws, "g2"))!.facts).toHaveLength(1);
  });

  it("refuses a write based on a stale version (the guard MongoDB enforces across instances)", async () => {
    const ws = uniqueName("ws");
    await applyEvent(deps(), incoming(ws, "e4", "svix_s", "email.sent", 1));
    const stale = (await repo.get(ws, "e4"))!;
    await applyEvent(deps(), incoming(ws, "e4", "svix_d", "email.delivered", 2));
    expect(await repo.writeMany([{ send: { ...stale, version: stale.version + 1 }, expectedVersion: stale.version, markSendRecordedPending: false }])).toBe(false);
    expect((await repo.get(ws, "e4"))!.state.status).toBe("delivered");
  });

  it("publishes SendRecorded exactly once when the publish after the write fails (outbox + sweep)", async () => {
    const ws = uniqueName("ws");
    const published: string[] = [];
    let natsDown = true;
    const publisher = {
      publishSendRecorded: async (send: { emailId: string }) => {
        if (natsDown) throw new Error("nats unavailable");
        published.push(send.emailId);
      },
    };
    const failures: unknown[] = [];
    const input = { workspaceId: ws, emailId: "o1", campaignId: "c", subscriberId: "s", recipient: "ann@example.com" };
    const first = await recordSend({ ...deps(), publisher, onPublishFailure: (error) => void failures.push(error) }, input);
    expect(first.created).toBe(true);
    expect(failures).toHaveLength(1);
    expect((await repo.get(ws, "o1"))!.pendingSendRecorded).toBe(true);
    // An event written by a writer holding the pending flag must not resurrect it after the sweep.
    natsDown = false;
    const { sweepSendRecordedOutbox } = await import("./send-recorded-outbox.ts");
    expect(await sweepSendRecordedOutbox({ repo, publisher })).toBeGreaterThanOrEqual(1);
    await applyEvent(deps(), incoming(ws, "o1", "svix_o1", "email.delivered", 1));
    await sweepSendRecordedOutbox({ repo, publisher });
    await recordSend({ ...deps(), publisher }, input); // idempotent repeat publishes nothing
    expect(published.filter((id) => id === "o1")).toEqual(["o1"]);
    expect((await repo.get(ws, "o1"))!.pendingSendRecorded).toBe(false);
  });

  it("clears the SendRecorded outbox flag only between the send's writes (FerretDB rewrites the whole document)", async () => {
    const ws = uniqueName("ws");
    const input = { workspaceId: ws, emailId: "o2", campaignId: "c", subscriberId: "s", recipient: "ann@example.com" };
    await recordSend({ ...deps(), onPublishFailure: () => {}, publisher: { publishSendRecorded: async () => Promise.reject(new Error("down")) } }, input);
    const pending = (await repo.get(ws, "o2"))!;
    expect(pending.pendingSendRecorded).toBe(true);

    // A writer of the send is mid-change (holds its lock) while the publish succeeds.
    let release!: () => void;
    const writerDone = withSendLock(sendKey(ws, "o2"), () => new Promise<void>((resolve) => (release = resolve)));
    let published = false;
    const publishing = publishSendRecorded({ repo, publisher: { publishSendRecorded: async () => void (published = true) } }, pending);
    await waitFor(() => published, { timeoutMs: 10_000, what: "the publish" });
    // Several round trips: an unqueued clear would have been written by now and could erase that writer's change.
    for (let i = 0; i < 5; i++) expect((await repo.get(ws, "o2"))!.pendingSendRecorded).toBe(true);
    release();
    await Promise.all([writerDone, publishing]);
    expect((await repo.get(ws, "o2"))!.pendingSendRecorded).toBe(false);
  });

  it("attributes from Resend tags until RecordSend arrives, then from the registration", async () => {
    const ws = uniqueName("ws");
    await applyEvent(deps(), incoming(ws, "e3", "svix_d", "email.delivered", 1, { tags: { campaign_id: "tag-camp", subscriber_id: "tag-sub" } }));
    expect((await repo.get(ws, "e3"))!.state).toMatchObject({ attributed: false, campaignId: "tag-camp", subscriberId: "tag-sub", status: "delivered" });
    const { created, send } = await recordSend(deps(), { workspaceId: ws, emailId: "e3", campaignId: "camp", subscriberId: "sub", recipient: "ann@example.com" });
    expect(created).toBe(true);
    expect(send.state).toMatchObject({ attributed: true, campaignId: "camp", subscriberId: "sub", status: "delivered" });
  });
});
