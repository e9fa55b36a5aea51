/**
 * Manual suppression changes are audited through the outbox, against the real
 * database and JetStream: one entry per stored change, published even when the
 * publish after the write failed, none for a change that changed nothing.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateNats, shared, uniqueName } from "../../test/harness.ts";
import { decodeAuditEntry, type AuditRecord } from "../shared/audit.ts";
import { KeyedLock } from "../shared/keyed-lock.ts";
import { createLogger } from "../shared/log.ts";
import { connectNats, DOMAIN_EVENTS_STREAM, ensureStreams, type NatsHandles } from "../shared/nats.ts";
import { OutboxPublisher } from "./outbox.ts";
import { SendRepository } from "./send-repository.ts";
import { defaultSoftBouncePolicy } from "./soft-bounce-policy.ts";
import { SubscriberRepository } from "./subscriber-repository.ts";
import type { SuppressionDeps } from "./use-cases/deps.ts";
import { addSuppression, removeSuppression } from "./use-cases/manage.ts";
import { sweepOutbox } from "./use-cases/sweep-outbox.ts";

describe("the audit entries of manual suppression changes", () => {
  let client: MongoClient;
  let nats: NatsHandles;
  let deps: SuppressionDeps;
  const down = { audit: false };

  beforeAll(async () => {
    nats = await connectNats((await privateNats()).url, "suppression-audit-test", createLogger({}, "error"));
    await ensureStreams(nats.jsm, { eventsMaxAgeMs: 3_600_000, duplicateWindowMs: 120_000 });
    client = await new MongoClient(shared.mongoUri, { retryWrites: false }).connect();
    const db = client.db(uniqueName("suppression_audit"));
    const subscribers = new SubscriberRepository(db);
    const log = createLogger({}, "error");
    // The real publisher over a JetStream client whose audit publishes fail while `down.audit` is set.
    const js = {
      publish: (subject: string, data: Uint8Array, options: object) =>
        down.audit && subject.startsWith("audit.") ? Promise.reject(new Error("nats unavailable")) : nats.js.publish(subject, data, options),
    } as unknown as JetStreamClient;
    deps = {
      subscribers,
      sends: new SendRepository(db),
      outbox: new OutboxPublisher(js, subscribers, log),
      lock: new KeyedLock(),
      policy: defaultSoftBouncePolicy,
      lookup: "find-one",
      log,
      now: () => Date.now(),
    };
  });
  afterAll(async () => {
    await nats?.nc.close();
    await client?.close();
  });

  async function published(workspaceId: string): Promise<AuditRecord[]> {
    const subject = `audit.${workspaceId}.suppression`;
    const info = await nats.jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: subject });
    const total = Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
    const entries: AuditRecord[] = [];
    if (total === 0) return entries;
    const reader = await nats.js.consumers.get(DOMAIN_EVENTS_STREAM, { filter_subjects: [subject] });
    for await (const msg of await reader.fetch({ max_messages: total, expires: 2000 })) {
      entries.push(decodeAuditEntry(msg.data, msg.subject));
      if (entries.length === total) break;
    }
    return entries;
  }

  it("publishes one entry per stored change, naming caller, actor, note and address, and none for a no-op", async () => {
    const ws = uniqueName("ws");
    const request = { workspaceId: ws, email: "Eve@example.com", caller: "crm", actor: "support", note: "asked by phone" };
    await addSuppression(deps, { ...request, subscriberId: "sub_e", reason: "manual" });
    await removeSuppression(deps, { ...request, note: "resubscribed" });
    await removeSuppression(deps, { ...request, note: "nothing left to lift" });
    const entries = await published(ws);
    expect(entries.map(({ action, caller, actor, note, target, service }) => [service, action, caller, actor, note, target])).toEqual([
      ["suppression", "add_suppression", "crm", "support", "asked by phone", "Eve@example.com"],
      ["suppression", "remove_suppression", "crm", "support", "resubscribed", "Eve@example.com"],
    ]);
    expect(new Set(entries.map((entry) => entry.id)).size).toBe(2);
  });

  it("publishes, once, the entry of a change whose publish after the write failed", async () => {
    const ws = uniqueName("ws");
    down.audit = true;
    try {
      const outcome = await addSuppression(deps, { workspaceId: ws, email: "late@example.com", subscriberId: "", reason: "manual", caller: "crm", actor: "ops", note: "n" });
      expect(outcome.changed).toBe(true);
    } finally {
      down.audit = false;
    }
    expect(await published(ws)).toEqual([]);
    await sweepOutbox(deps);
    await sweepOutbox(deps);
    expect((await published(ws)).map((entry) => [entry.action, entry.target])).toEqual([["add_suppression", "late@example.com"]]);
    expect((await deps.subscribers.get(ws, "late@example.com"))?.outbox).toEqual([]);
  });
});
