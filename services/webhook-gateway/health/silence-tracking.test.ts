/**
 * Gap detection's writes and announcements against the real database and NATS: several instances
 * recording sends of one workspace at once, and the monitor's WebhookSilence published once per silence.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhookSilenceSchema, type WebhookSilence } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { privateNats, shared, uniqueName } from "../../../test/harness.ts";
import { seededRandom, shuffle } from "../../../test/seeded-random.ts";
import { loadBaseConfig } from "../../shared/config.ts";
import { KeyedLock } from "../../shared/keyed-lock.ts";
import { createLogger } from "../../shared/log.ts";
import { connectMongo, type MongoHandles } from "../../shared/mongo.ts";
import { connectNats, DOMAIN_EVENTS_STREAM, ensureStreams, type NatsHandles } from "../../shared/nats.ts";
import { noteSendRecorded } from "./note-send-recorded.ts";
import { jetStreamSilencePublisher, webhookSilenceSubject, type DetectedSilence } from "./silence-events.ts";
import { checkSilences, type SilenceMonitorDeps } from "./silence-monitor.ts";
import { SilenceRepository } from "./silence-repository.ts";

const log = createLogger({}, "error");

describe("webhook silence tracking", () => {
  const database = uniqueName("test");
  const instances: MongoHandles[] = [];
  let nats: NatsHandles;

  beforeAll(async () => {
    // Two connections: two gateway instances sharing one database.
    for (const name of ["gateway-1", "gateway-2"]) instances.push(await connectMongo(shared.mongoUri, database, name));
    nats = await connectNats((await privateNats()).url, "silence-test", log);
    await ensureStreams(nats.jsm, loadBaseConfig({}));
  });
  afterAll(async () => {
    await nats?.nc.close();
    for (const mongo of instances) await mongo.close();
  });

  const stored = async (subject: string): Promise<WebhookSilence[]> => {
    const info = await nats.jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: subject });
    const total = info.state.subjects?.[subject] ?? 0;
    if (total === 0) return [];
    const reader = await nats.js.consumers.get(DOMAIN_EVENTS_STREAM, { filter_subjects: [subject] });
    const events: WebhookSilence[] = [];
    for await (const msg of await reader.fetch({ max_messages: total, expires: 2000 })) {
      events.push(fromBinary(WebhookSilenceSchema, msg.data));
      if (events.length === total) break;
    }
    return events;
  };

  it("ends at the oldest and newest send when instances record many sends of one workspace at once", async () => {
    const base = Date.now() - 3_600_000;
    const random = seededRandom(16);
    // Each message on any of the instances; the oldest and the newest arrive anywhere in the burst.
    const workspaces = Array.from({ length: 3 }, () => uniqueName("ws"));
    const deps = Array.from({ length: 8 }, (_, i) => ({ silences: new SilenceRepository(instances[i % 2]!.db), lastAcceptedAt: async () => undefined, lock: new KeyedLock() }));
    const sends = workspaces.flatMap((workspaceId) => Array.from({ length: 24 }, (_, i) => ({ workspaceId, recordedAt: new Date(base + i * 1000) })));
    await Promise.all(shuffle(sends, random).map((send, i) => noteSendRecorded(deps[i % deps.length]!, send.workspaceId, send.recordedAt)));
    for (const workspaceId of workspaces) {
      expect((await deps[0]!.silences.find(workspaceId))?.state, workspaceId).toEqual({
        oldestUnansweredSendAt: new Date(base),
        newestUnansweredSendAt: new Date(base + 23_000),
      });
    }
  });

  it("announces a silence once, with its start, the last accepted webhook and when it was noticed", async () => {
    const workspaceId = uniqueName("ws");
    const now = new Date();
    const sentAt = new Date(now.getTime() - 120_000);
    const lastAcceptedAt = new Date(now.getTime() - 300_000);
    const silences = new SilenceRepository(instances[0]!.db);
    await noteSendRecorded({ silences, lastAcceptedAt: async () => lastAcceptedAt, lock: new KeyedLock() }, workspaceId, sentAt);
    const published: DetectedSilence[] = [];
    const publish = jetStreamSilencePublisher(nats.js);
    const deps: SilenceMonitorDeps = {
      silences,
      lastAcceptedAt: async (id) => (id === workspaceId ? lastAcceptedAt : new Date()),
      publish: async (silence) => {
        published.push(silence);
        await publish(silence);
      },
      silenceMs: 60_000,
      now: () => now,
      log,
    };

    expect(await checkSilences(deps)).toEqual({ silent: 1, announced: 1, failed: 0 });
    const [event, ...more] = await stored(webhookSilenceSubject(workspaceId));
    expect(more).toEqual([]);
    expect(event!.workspaceId).toBe(workspaceId);
    expect(timestampDate(event!.sinceTime!)).toEqual(sentAt);
    expect(timestampDate(event!.lastAcceptedTime!)).toEqual(lastAcceptedAt);
    expect(timestampDate(event!.detectedTime!)).toEqual(now);

    // Still silent at the next pass, and not announced again.
    expect(await checkSilences(deps)).toEqual({ silent: 1, announced: 0, failed: 0 });
    expect(published).toHaveLength(1);
  });

  it("publishes the same message again after a crash between the publish and its note, which the stream keeps once", async () => {
    const workspaceId = uniqueName("ws");
    const silences = new SilenceRepository(instances[0]!.db);
    const sentAt = new Date(Date.now() - 120_000);
    await noteSendRecorded({ silences, lastAcceptedAt: async () => undefined, lock: new KeyedLock() }, workspaceId, sentAt);
    const deps: SilenceMonitorDeps = {
      silences,
      lastAcceptedAt: async (id) => (id === workspaceId ? undefined : new Date()),
      publish: jetStreamSilencePublisher(nats.js),
      silenceMs: 60_000,
      now: () => new Date(),
      log,
    };
    expect((await checkSilences(deps)).announced).toBe(1);
    await instances[0]!.db.collection("gateway_webhook_silence").updateOne({ _id: workspaceId as never }, { $unset: { announcedSince: "" } });
    expect((await checkSilences(deps)).announced).toBe(1);
    const events = await stored(webhookSilenceSubject(workspaceId));
    expect(events.map((event) => timestampDate(event.sinceTime!))).toEqual([sentAt]);
    expect(events[0]!.lastAcceptedTime).toBeUndefined();
  });
});
