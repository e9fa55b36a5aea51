/** Sends with many events against the real database: bounded documents, exact counts, every event listed. */
import { BSON, MongoClient, type CommandStartedEvent, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sampleEmailEvent, type EmailEventType, type SampleOptions } from "../../../cli/resend-samples.ts";
import { shared, uniqueName } from "../../../test/harness.ts";
import { parseResendEvent } from "../../shared/resend-events.ts";
import { toIncomingEvent } from "../consumer.ts";
import { projectSend, type EventFact } from "../send-projection.ts";
import { keptFactsLimit } from "../send-retirement.ts";
import { sendKey, SendsRepository } from "../sends-repository.ts";
import { applyEvent, applyEvents, type IncomingEvent } from "./apply-event.ts";
import { listSendEvents } from "./queries.ts";

const t0 = Date.parse("2026-11-20T10:00:00.000Z");
const us = (seconds: number) => (t0 + seconds * 1000) * 1000;

function incoming(workspaceId: string, emailId: string, svixId: string, type: EmailEventType, seconds: number, options: SampleOptions = {}): IncomingEvent {
  const body = sampleEmailEvent(type, { emailId, createdAt: new Date(t0 + seconds * 1000), to: ["ann@example.com"], ...options });
  const envelope = parseResendEvent({ workspaceId, svixId, receivedAtMs: t0 + 3_600_000, rawBody: new TextEncoder().encode(JSON.stringify(body)) });
  return toIncomingEvent(envelope)!;
}
const openSvix = (i: number) => `svix_open_${String(i).padStart(5, "0")}`;

describe("a send with many events, against the real database", () => {
  let client: MongoClient;
  let db: Db;
  let repo: SendsRepository;
  const commands: CommandStartedEvent[] = [];
  const deps = () => ({ repo, notify: () => {}, now: () => t0 + 7_200_000 });
  /** The send document exactly as stored. */
  const rawSend = (ws: string, emailId: string) => db.collection("delivery_sends").findOne({ _id: sendKey(ws, emailId) as never });

  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri, { monitorCommands: true }).connect();
    client.on("commandStarted", (event) => commands.push(event));
    db = client.db(uniqueName("delivery_retired"));
    repo = new SendsRepository(db);
    await repo.ensureIndexes();
  });
  afterAll(async () => {
    await db.dropDatabase().catch(() => {});
    await client.close();
  });

  it("keeps a send opened 600 times as small and as cheap to write as at its hundredth open, and counts a redelivered early open once", { timeout: 120_000 }, async () => {
    const ws = uniqueName("ws");
    await applyEvent(deps(), incoming(ws, "img", "svix_delivered", "email.delivered", 0));
    const perWrite: { commands: number; bytes: number }[] = [];
    for (let i = 0; i < 600; i++) {
      commands.length = 0;
      expect(await applyEvent(deps(), incoming(ws, "img", openSvix(i), "email.opened", 10 + i))).toBe(true);
      const writes = commands.filter((command) => command.commandName === "update" && command.command.update === "delivery_sends");
      perWrite.push({ commands: commands.length, bytes: writes.reduce((sum, command) => sum + BSON.calculateObjectSize(command.command), 0) });
    }
    // Flat: each write (the whole document, as FerretDB rewrites it) peaks as high around the 600th open as around the 100th.
    const peak = (values: number[]) => Math.max(...values);
    const bytes = perWrite.map((write) => write.bytes);
    expect(peak(bytes.slice(500))).toBeLessThanOrEqual(peak(bytes.slice(100, 200)) * 1.05);
    expect(peak(bytes)).toBeLessThan(32_000); // ~100 facts of ~200 B (tags and recipient included)
    expect(BSON.calculateObjectSize((await rawSend(ws, "img"))!)).toBeLessThan(32_000);
    // Four round trips per open (timeline insert, send read, timeline lookup, send write), plus a retirement every ~90.
    const commandsAfter = perWrite.slice(100).map((write) => write.commands);
    expect(commandsAfter.reduce((a, b) => a + b, 0) / commandsAfter.length).toBeLessThan(4.2);
    expect(Math.max(...commandsAfter)).toBeLessThanOrEqual(6);

    const stored = (await repo.get(ws, "img"))!;
    expect(stored.facts.length).toBeLessThanOrEqual(keptFactsLimit);
    expect(stored.state).toMatchObject({ openCount: 600, status: "opened", firstOpenedAtUs: us(10), lastEventAtUs: us(609) });
    // Redeliveries of an open retired long ago, of the latest one and of the delivery: recognised, nothing changes.
    for (const [svixId, type, second] of [[openSvix(57), "email.opened", 67], [openSvix(599), "email.opened", 609], ["svix_delivered", "email.delivered", 0]] as const) {
      expect(await applyEvent(deps(), incoming(ws, "img", svixId, type, second)), svixId).toBe(false);
    }
    expect(await applyEvents(deps(), [incoming(ws, "img", openSvix(3), "email.opened", 13), incoming(ws, "img", "svix_click", "email.clicked", 2000)])).toBe(1);
    expect((await repo.get(ws, "img"))!.state).toMatchObject({ openCount: 600, clickCount: 1, status: "clicked" });

    const listed: string[] = [];
    let pageToken = "";
    do {
      const page = await listSendEvents(repo, { workspaceId: ws, emailId: "img", pageSize: 100, pageToken });
      listed.push(...page.items.map((entry) => entry.svixId));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(listed).toEqual(["svix_delivered", ...Array.from({ length: 600 }, (_, i) => openSvix(i)), "svix_click"]);
  });

  it("reads a send stored with every fact on it (before retirement existed), folds it the same, and recognises its old events once it retired them", async () => {
    const ws = uniqueName("ws");
    const events = [
      incoming(ws, "old", "svix_sent", "email.sent", 0, { tags: { campaign_id: "tagged" } }),
      incoming(ws, "old", "svix_soft", "email.bounced", 5, { bounce: { type: "Transient", subType: "MailboxFull" } }),
      incoming(ws, "old", "svix_delivered", "email.delivered", 10),
      ...Array.from({ length: 250 }, (_, i) => incoming(ws, "old", openSvix(i), "email.opened", 20 + i)),
      incoming(ws, "old", "svix_click", "email.clicked", 400, { click: { link: "https://example.com/a" } }),
    ];
    // The old shape: every fact on the document, no retired counts, timeline entries without a folded flag.
    const facts: EventFact[] = events.map((event) => event.fact);
    await db.collection("delivery_timeline").insertMany(events.map((event) => ({ _id: `${ws}:${event.fact.svixId}`, ...event.timeline })) as never[]);
    const state = projectSend(undefined, facts);
    await db.collection("delivery_sends").insertOne({
      _id: sendKey(ws, "old"),
      workspaceId: ws,
      emailId: "old",
      version: 254,
      facts,
      state,
      campaignId: state.campaignId,
      subscriberId: state.subscriberId,
      status: state.status,
      updatedAtMs: t0,
    } as never);
    expect((await repo.get(ws, "old"))!.state).toMatchObject({ openCount: 250, clickCount: 1, softBounceCount: 1, campaignId: "tagged", status: "clicked" });

    expect(await applyEvent(deps(), incoming(ws, "old", openSvix(250), "email.opened", 500))).toBe(true);
    const after = (await repo.get(ws, "old"))!;
    expect(after.facts.length).toBeLessThan(20);
    expect(after.state).toEqual(projectSend(undefined, [...facts, incoming(ws, "old", openSvix(250), "email.opened", 500).fact]));
    for (const svixId of [openSvix(57), "svix_soft", "svix_sent"]) {
      const again = events.find((event) => event.fact.svixId === svixId)!;
      expect(await applyEvent(deps(), structuredClone(again)), svixId).toBe(false);
    }
    expect((await repo.get(ws, "old"))!.state).toMatchObject({ openCount: 251, softBounceCount: 1 });
    const page = await listSendEvents(repo, { workspaceId: ws, emailId: "old", pageSize: 1000, pageToken: "" });
    expect(page.items.map((entry) => entry.svixId)).toEqual([...events.map((event) => event.fact.svixId), openSvix(250)]);
  });

  it("redoes a batch read from a copy taken before the send retired its facts, and still recognises a redelivered retired event", async () => {
    const ws = uniqueName("ws");
    for (let i = 0; i < 60; i++) await applyEvent(deps(), incoming(ws, "race", openSvix(i), "email.opened", i));
    const stale = (await repo.get(ws, "race"))!;
    // Another writer, as the batch cannot see: takes the send past the limit, which retires open 5.
    await applyEvents(deps(), Array.from({ length: 60 }, (_, i) => incoming(ws, "race", openSvix(60 + i), "email.opened", 60 + i)));
    const retired = (await repo.get(ws, "race"))!;
    expect(retired.timelinePages).toBeGreaterThan(0);
    expect(retired.facts.map((fact) => fact.svixId)).not.toContain(openSvix(5));
    let served = false;
    const staleOnce = new (class extends SendsRepository {
      override async getMany(keys: readonly { workspaceId: string; emailId: string }[]) {
        const sends = await super.getMany(keys);
        if (served) return sends;
        served = true;
        return sends.map((send) => (send?.emailId === "race" ? stale : send));
      }
    })(db);
    const batch = [incoming(ws, "race", openSvix(5), "email.opened", 5), incoming(ws, "race", openSvix(500), "email.opened", 500)];
    expect(await applyEvents({ ...deps(), repo: staleOnce }, batch)).toBe(1);
    expect(served).toBe(true);
    expect((await repo.get(ws, "race"))!.state.openCount).toBe(121);
  });

  it("keeps a retired event of one workspace from hiding the same svix id in another", async () => {
    const [a, b] = [uniqueName("ws"), uniqueName("ws")];
    // Two batches each: a write retires only facts already stored.
    for (const [ws, from] of [[a, 0], [a, 60], [b, 200], [b, 260]] as const) {
      await applyEvents(deps(), Array.from({ length: 60 }, (_, i) => incoming(ws, "same", openSvix(from + i), "email.opened", from + i)));
    }
    expect((await repo.get(a, "same"))!.facts.map((fact) => fact.svixId)).not.toContain(openSvix(7));
    expect((await repo.get(b, "same"))!.timelinePages).toBeGreaterThan(0);
    expect(await applyEvent(deps(), incoming(a, "same", openSvix(7), "email.opened", 7))).toBe(false);
    expect(await applyEvent(deps(), incoming(b, "same", openSvix(7), "email.opened", 7))).toBe(true);
    expect((await repo.get(a, "same"))!.state.openCount).toBe(120);
    expect((await repo.get(b, "same"))!.state.openCount).toBe(121);
  });
});
