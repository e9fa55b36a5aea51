/**
 * RecordSend's audit entry goes out through the SendRecorded outbox, against
 * the real database and JetStream: once per registration, crash or not, and
 * without the recipient.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateNats, shared, uniqueName } from "../../../test/harness.ts";
import { decodeAuditEntry, type AuditRecord } from "../../shared/audit.ts";
import { createLogger } from "../../shared/log.ts";
import { connectNats, DOMAIN_EVENTS_STREAM, ensureStreams, type NatsHandles } from "../../shared/nats.ts";
import { jetStreamSendRecordedPublisher } from "../outbound.ts";
import { SendsRepository } from "../sends-repository.ts";
import { recordSend, type RecordSendDeps } from "./record-send.ts";
import { sweepSendRecordedOutbox } from "./send-recorded-outbox.ts";

describe("the audit entry of RecordSend", () => {
  let client: MongoClient;
  let db: Db;
  let repo: SendsRepository;
  let nats: NatsHandles;

  beforeAll(async () => {
    nats = await connectNats((await privateNats()).url, "record-send-audit-test", createLogger({}, "error"));
    await ensureStreams(nats.jsm, { eventsMaxAgeMs: 3_600_000, duplicateWindowMs: 120_000 });
    client = await new MongoClient(shared.mongoUri, { retryWrites: false }).connect();
    db = client.db(uniqueName("delivery_audit"));
    repo = new SendsRepository(db);
    await repo.ensureIndexes();
  });
  afterAll(async () => {
    await nats?.nc.close();
    await client?.close();
  });

  /** Every audit entry the stream holds for the workspace, with the raw bytes. */
  async function published(workspaceId: string): Promise<{ entries: AuditRecord[]; raw: string[] }> {
    const subject = `audit.${workspaceId}.delivery-status`;
    const info = await nats.jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: subject });
    const total = Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
    const result = { entries: [] as AuditRecord[], raw: [] as string[] };
    if (total === 0) return result;
    const reader = await nats.js.consumers.get(DOMAIN_EVENTS_STREAM, { filter_subjects: [subject] });
    for await (const msg of await reader.fetch({ max_messages: total, expires: 2000 })) {
      result.entries.push(decodeAuditEntry(msg.data, msg.subject));
      result.raw.push(Buffer.from(msg.data).toString("latin1"));
      if (result.entries.length === total) break;
    }
    return result;
  }

  /** The real publisher over a JetStream client whose audit publishes fail while `down.audit` is set. */
  function publisher(down: { audit: boolean }) {
    const js = {
      publish: (subject: string, data: Uint8Array, options: object) =>
        down.audit && subject.startsWith("audit.") ? Promise.reject(new Error("nats unavailable")) : nats.js.publish(subject, data, options),
    } as unknown as JetStreamClient;
    return jetStreamSendRecordedPublisher(js);
  }

  it("is published once, naming the caller and the email id but not the recipient, even when the first publish failed", async () => {
    const ws = uniqueName("ws");
    const down = { audit: true };
    const failures: unknown[] = [];
    const deps: RecordSendDeps = {
      repo,
      notify: () => {},
      publisher: publisher(down),
      now: () => Date.now(),
      onPublishFailure: (error) => void failures.push(error),
    };
    const input = { workspaceId: ws, emailId: "email-a", campaignId: "camp", subscriberId: "sub", recipient: "Private.Person@Example.com", caller: "billing" };

    expect((await recordSend(deps, input)).created).toBe(true);
    expect(failures).toHaveLength(1);
    expect((await published(ws)).entries).toEqual([]);
    expect((await repo.get(ws, "email-a"))?.pendingSendRecorded).toBe(true);

    down.audit = false;
    expect(await sweepSendRecordedOutbox({ repo, publisher: deps.publisher })).toBeGreaterThanOrEqual(1);
    await sweepSendRecordedOutbox({ repo, publisher: deps.publisher });
    await recordSend(deps, input); // an identical repeat registers nothing and audits nothing

    const { entries, raw } = await published(ws);
    expect(entries).toEqual([
      expect.objectContaining({ workspaceId: ws, service: "delivery-status", action: "record_send", caller: "billing", target: "email-a", actor: "", note: "" }),
    ]);
    expect(raw.join("").toLowerCase()).not.toContain("private.person");
    expect((await repo.get(ws, "email-a"))?.pendingSendRecorded).toBe(false);
  });
});
