/**
 * The check index against real NATS and FerretDB, with two instances of the service on one database:
 * every answer is current on both — right after the other instance's change, for a change saved but
 * not yet published, across an erasure and after a restart — and the answers came from memory.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { ErasureAppliedSchema, SuppressionReason } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalServer } from "../../../tools/local-servers.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../../test/harness.ts";
import { startSuppression, type Harness } from "../../../test/support/suppression-service.ts";
import type { BaseConfig } from "../../shared/config.ts";
import { parseSecretKeys } from "../../shared/secret-box.ts";
import { outboxEntry } from "../outbox.ts";
import { SubscriberRepository } from "../subscriber-repository.ts";
import { addManually, newSubscriber } from "../subscriber-state.ts";

const secretKeys = parseSecretKeys(`k1:${Buffer.alloc(32, 3).toString("base64")}`);
// No sweep during a test: a change left unpublished stays so until the test ends.
// A long wait for the index to catch up: the backlog test below puts it seconds behind.
const settings = { secretKeys, outboxSweepMs: 3_600_000, checkIndex: { waitMs: 20_000, maxEntries: 5_000_000 } };

let config: BaseConfig;
let nats: LocalServer;
let a: Harness;
let b: Harness;
const started: Harness[] = [];
const start = async () => {
  const h = await startSuppression(config, settings);
  started.push(h);
  return h;
};

beforeAll(async () => {
  nats = await privateNats();
  config = testBaseConfig({ natsUrl: nats.url });
  [a, b] = [await start(), await start()];
  await Promise.all([a, b].map(indexLoaded));
});
afterAll(async () => {
  await Promise.all(started.map((h) => h.service.stop()));
});

/** How many checks of an instance each path answered (ngsreach_suppression_check_answers_total). */
async function answersOf(h: Harness): Promise<Record<string, number>> {
  const text = await h.service.context.metrics.render();
  const counts: Record<string, number> = {};
  for (const [, by, value] of text.matchAll(/^ngsreach_suppression_check_answers_total\{by="([^"]+)"\} (\d+)/gm)) counts[by!] = Number(value);
  return counts;
}

/** Waits until the instance's index loaded: a check of it is answered from memory. */
async function indexLoaded(h: Harness): Promise<void> {
  await waitFor(
    async () => {
      const before = (await answersOf(h)).index ?? 0;
      await h.client.checkSuppressions({ workspaceId: "ws_probe", emails: ["probe@example.com"] });
      return ((await answersOf(h)).index ?? 0) > before;
    },
    { what: "the check index loaded" },
  );
}

const suppressedOn = async (h: Harness, workspaceId: string, email: string) =>
  (await h.client.checkSuppressions({ workspaceId, emails: [email] })).results[0]!;

describe("CheckSuppressions from the check index", () => {
  it("shows one instance's change in the other's very next check, both ways, and answers from memory", async () => {
    const ws = uniqueName("ws");
    const before = await answersOf(b);
    for (let i = 0; i < 25; i++) {
      const email = `next${i}@example.com`;
      await a.client.addSuppression({ workspaceId: ws, email, reason: SuppressionReason.COMPLAINED, actor: "ops", note: "test" });
      expect((await suppressedOn(b, ws, email)).reason, `round ${i}, after the add`).toBe(SuppressionReason.COMPLAINED);
      await a.client.removeSuppression({ workspaceId: ws, email, actor: "ops", note: "test" });
      expect((await suppressedOn(b, ws, email)).suppressed, `round ${i}, after the removal`).toBe(false);
    }
    const after = await answersOf(b);
    expect((after.index ?? 0) - (before.index ?? 0)).toBe(50);
  });

  it("waits for what was published before the check: a change behind a backlog of 10,000 events is in the next check", async () => {
    const ws = uniqueName("ws");
    const { js } = a.service.context.nats;
    // Events of documents that do not exist (each read back as "not suppressed"), put in the stream fast.
    for (let from = 0; from < 10_000; from += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => js.publish(`subscriber.${ws}.unsuppressed`, new Uint8Array(), { msgID: `${ws}:filler${from + i}@example.com:v2` })));
    }
    const before = (await answersOf(b)).index ?? 0;
    await a.client.addSuppression({ workspaceId: ws, email: "behind@example.com", reason: SuppressionReason.MANUAL, actor: "ops", note: "n" });
    expect((await suppressedOn(b, ws, "behind@example.com")).reason).toBe(SuppressionReason.MANUAL);
    expect((await answersOf(b)).index).toBe(before + 1);
  });

  it("answers a change saved but never published (its writer stopped in between) as the database has it", async () => {
    const ws = uniqueName("ws");
    // What a crash right after the state write leaves: the state, its outbox entry and the pending mark.
    const repository = new SubscriberRepository(a.service.context.mongo.db);
    const outcome = addManually(newSubscriber(ws, "crash@example.com", 1), { reason: "manual", subscriberId: "s", actor: "ops", note: "n", atMs: 1000 });
    const state = { ...outcome.state, version: 1 };
    await repository.markOutboxPending(ws, "crash@example.com", state.version, 1000);
    expect(await repository.save(state, [outboxEntry(state, outcome.transition!)])).toBe("saved");

    for (const h of [a, b]) {
      const before = (await answersOf(h)).index ?? 0;
      expect((await suppressedOn(h, ws, "crash@example.com")).reason).toBe(SuppressionReason.MANUAL);
      expect((await answersOf(h)).index).toBe(before + 1);
    }
  });

  it("answers an erased address as suppressed (erased) on both instances, and after a restart", async () => {
    const ws = uniqueName("ws");
    const never = "never.seen@example.com";
    const manual = "manual@example.com";
    await a.client.addSuppression({ workspaceId: ws, email: manual, reason: SuppressionReason.MANUAL, actor: "ops", note: "asked" });
    for (const email of [never, manual]) {
      const { erasure } = await a.client.eraseSubscriber({ workspaceId: ws, subscriber: { case: "email", value: email }, actor: "dpo", note: "ticket" });
      await waitFor(
        async () => (await a.client.getErasure({ workspaceId: ws, erasureId: erasure!.erasureId })).erasure!.services.find((s) => s.service === "suppression")?.done === true,
        { what: "the suppression part of the erasure" },
      );
    }
    const restarted = await start();
    await indexLoaded(restarted);
    for (const h of [a, b, restarted]) {
      expect((await suppressedOn(h, ws, never)).reason).toBe(SuppressionReason.ERASED);
      expect((await suppressedOn(h, ws, manual)).reason).toBe(SuppressionReason.MANUAL);
    }
  });

  it("loads what is stored at start and answers a batch of addresses the way the database does", async () => {
    const ws = uniqueName("ws");
    const emails = Array.from({ length: 300 }, (_, i) => `load${i}@example.com`);
    for (const email of emails.slice(0, 100)) await a.client.addSuppression({ workspaceId: ws, email, reason: SuppressionReason.BOUNCED, actor: "ops", note: "n" });
    await a.client.removeSuppression({ workspaceId: ws, email: emails[7]!, actor: "ops", note: "n" });
    const restarted = await start();
    await indexLoaded(restarted);
    const results = (await restarted.client.checkSuppressions({ workspaceId: ws, emails })).results;
    expect(results.map((r) => r.suppressed)).toEqual(emails.map((_, i) => i < 100 && i !== 7));
    // Another workspace's suppressions are not this one's.
    const other = (await restarted.client.checkSuppressions({ workspaceId: uniqueName("ws"), emails })).results;
    expect(other.some((r) => r.suppressed)).toBe(false);
  });

  // Each makes its workspace database-only: a suppression stored behind the index's back is then answered.
  it.each([
    ["an erasure applied whose request the index never saw", (ws: string) => ({
      subject: `erasure.${ws}.applied`,
      data: toBinary(ErasureAppliedSchema, create(ErasureAppliedSchema, { workspaceId: ws, erasureId: "never-requested", service: "suppression", documents: 1 })),
      msgID: `erasure-applied:never-requested:${ws}`,
    })],
    ["a subscriber event whose message id names no document", (ws: string) => ({ subject: `subscriber.${ws}.suppressed`, data: new Uint8Array(), msgID: `not-a-document-id-${ws}` })],
  ])("reads the database for a workspace after %s", async (_what, event) => {
    const ws = uniqueName("ws");
    const outcome = addManually(newSubscriber(ws, "hidden@example.com", 1), { reason: "manual", subscriberId: "", actor: "ops", note: "n", atMs: 1000 });
    await new SubscriberRepository(a.service.context.mongo.db).insertMany([{ ...outcome.state, version: 1 }]);
    expect((await suppressedOn(a, ws, "hidden@example.com")).suppressed).toBe(false);
    const { subject, data, msgID } = event(ws);
    await a.service.context.nats.js.publish(subject, data, { msgID });
    expect((await suppressedOn(a, ws, "hidden@example.com")).reason).toBe(SuppressionReason.MANUAL);
  });

  it("turns itself off above SUPPRESSION_CHECK_INDEX_MAX, and the database answers", async () => {
    const ws = uniqueName("ws");
    await a.client.addSuppression({ workspaceId: ws, email: "limit@example.com", reason: SuppressionReason.MANUAL, actor: "ops", note: "n" });
    const small = await startSuppression(config, { ...settings, checkIndex: { waitMs: 1000, maxEntries: 1 } });
    started.push(small);
    await waitFor(async () => {
      await suppressedOn(small, ws, "limit@example.com");
      return ((await answersOf(small)).database_off ?? 0) > 0;
    }, { what: "the index off" });
    expect((await suppressedOn(small, ws, "limit@example.com")).reason).toBe(SuppressionReason.MANUAL);
    expect((await answersOf(small)).index).toBeUndefined();
  });

  // Last: it stops this file's NATS.
  it("answers from the database while NATS is down (the index cannot prove itself current)", async () => {
    const ws = uniqueName("ws");
    await a.client.addSuppression({ workspaceId: ws, email: "down@example.com", reason: SuppressionReason.BOUNCED, actor: "ops", note: "n" });
    const quick = await startSuppression(config, { ...settings, checkIndex: { waitMs: 300, maxEntries: 5_000_000 } });
    started.push(quick);
    await indexLoaded(quick);
    await nats.stop();
    const before = (await answersOf(quick)).database_behind_stream ?? 0;
    const startedAt = Date.now();
    const results = (await quick.client.checkSuppressions({ workspaceId: ws, emails: ["down@example.com", "up@example.com"] })).results;
    expect(results.map((r) => r.suppressed)).toEqual([true, false]);
    expect((await answersOf(quick)).database_behind_stream).toBe(before + 1);
    // Not a timing assertion on speed: the wait is bounded by the setting, not by a JetStream timeout.
    expect(Date.now() - startedAt).toBeLessThan(4000);
  });
});
