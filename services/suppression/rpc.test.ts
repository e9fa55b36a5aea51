/**
 * The SuppressionService API over gRPC and Connect JSON: validation, manual
 * changes with their audit and events, listing, paging and export.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SuppressionReason, SuppressionSource } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { SubscriberStatus } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { SubscriberRepository } from "./subscriber-repository.ts";
import { addManually, newSubscriber } from "./subscriber-state.ts";
import { publishedEvents, startSuppression, type Harness } from "../../test/support/suppression-service.ts";

let h: Harness;
beforeAll(async () => {
  const nats = await privateNats();
  h = await startSuppression(testBaseConfig({ natsUrl: nats.url }));
});
afterAll(async () => h?.service.stop());

async function codeOf(call: Promise<unknown>): Promise<[Code, string]> {
  const error = ConnectError.from(await call.then(() => new Error("no error"), (e: unknown) => e));
  return [error.code, error.rawMessage];
}

const add = (workspaceId: string, email: string, reason: SuppressionReason = SuppressionReason.UNSPECIFIED) =>
  h.client.addSuppression({ workspaceId, email, reason, actor: "ops@acme", note: "requested by support" });

describe("SuppressionService", () => {
  it("rejects more than 1,000 addresses, an empty list and a non-address, naming the field", async () => {
    const ws = uniqueName("ws");
    const many = Array.from({ length: 1001 }, (_, i) => `u${i}@x.com`);
    expect(await codeOf(h.client.checkSuppressions({ workspaceId: ws, emails: many }))).toEqual([Code.InvalidArgument, expect.stringMatching(/^emails: /)]);
    expect(await codeOf(h.client.checkSuppressions({ workspaceId: ws, emails: [] }))).toEqual([Code.InvalidArgument, expect.stringMatching(/^emails: /)]);
    expect(await codeOf(h.client.checkSuppressions({ workspaceId: ws, emails: ["a@x.com", "nope"] }))).toEqual([Code.InvalidArgument, "emails[1]: not an email address"]);
    expect((await codeOf(h.client.checkSuppressions({ workspaceId: "bad ws", emails: ["a@x.com"] })))[1]).toMatch(/^workspace_id/);
    const full = await h.client.checkSuppressions({ workspaceId: ws, emails: many.slice(0, 1000) });
    expect(full.results).toHaveLength(1000);
  });

  it("answers a check in request order, duplicates included, over Connect JSON as curl would", async () => {
    const ws = uniqueName("ws");
    await add(ws, "b@x.com");
    const response = await fetch(`http://127.0.0.1:${h.service.port}/ngsreach.suppression.v1.SuppressionService/CheckSuppressions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ workspaceId: ws, emails: ["a@x.com", " b@X.COM", "b@x.com"] }),
    });
    const body = (await response.json()) as { results: { email: string; suppressed?: boolean; reason?: string; status: string }[] };
    expect(body.results.map((r) => [r.email, r.suppressed ?? false, r.status])).toEqual([
      ["a@x.com", false, "SUBSCRIBER_STATUS_ACTIVE"],
      [" b@X.COM", true, "SUBSCRIBER_STATUS_SUPPRESSED"],
      ["b@x.com", true, "SUBSCRIBER_STATUS_SUPPRESSED"],
    ]);
    expect(body.results[1]?.reason).toBe("SUPPRESSION_REASON_MANUAL");
  });

  it("adds and removes by hand once each, audited and announced", async () => {
    const ws = uniqueName("ws");
    const first = await h.client.addSuppression({ workspaceId: ws, email: "M@X.com", subscriberId: "sub_m", reason: SuppressionReason.COMPLAINED, actor: "ann", note: "complained by phone" });
    expect(first.changed).toBe(true);
    expect(first.suppression).toMatchObject({ email: "M@x.com", reason: SuppressionReason.COMPLAINED, source: SuppressionSource.MANUAL, status: SubscriberStatus.COMPLAINED, actor: "ann" });
    const again = await add(ws, "M@x.com");
    expect(again.changed).toBe(false);
    expect(again.suppression?.reason).toBe(SuppressionReason.COMPLAINED);

    expect((await h.client.removeSuppression({ workspaceId: ws, email: "m@x.com", actor: "bob", note: "wrong address" })).changed).toBe(false);
    const removed = await h.client.removeSuppression({ workspaceId: ws, email: "M@x.com", actor: "bob", note: "resubscribed" });
    expect(removed).toMatchObject({ changed: true, removed: { reason: SuppressionReason.COMPLAINED } });
    expect((await h.client.removeSuppression({ workspaceId: ws, email: "M@x.com", actor: "bob", note: "again" })).changed).toBe(false);

    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "subscriberId", value: "sub_m" } });
    expect(subscriber?.status).toBe(SubscriberStatus.ACTIVE);
    expect(subscriber?.history.map((e) => [e.kind, e.actor, e.note, e.source])).toEqual([
      [1, "ann", "complained by phone", SuppressionSource.MANUAL],
      [2, "bob", "resubscribed", SuppressionSource.MANUAL],
    ]);
    await waitFor(async () => {
      const events = await publishedEvents(h.service, ws);
      return events.suppressed.length === 1 && events.unsuppressed.length === 1;
    }, { what: "one suppressed and one unsuppressed event" });
    const events = await publishedEvents(h.service, ws);
    expect(events.suppressed[0]).toMatchObject({ email: "M@x.com", subscriberId: "sub_m", actor: "ann", source: SuppressionSource.MANUAL });
    expect(events.unsuppressed[0]).toMatchObject({ email: "M@x.com", actor: "bob", note: "resubscribed", previousReason: SuppressionReason.COMPLAINED });
  });

  it("requires actor and note for manual changes and refuses other reasons", async () => {
    const ws = uniqueName("ws");
    expect((await codeOf(h.client.addSuppression({ workspaceId: ws, email: "a@x.com", actor: "", note: "n" })))).toEqual([Code.InvalidArgument, "actor: required"]);
    expect((await codeOf(h.client.removeSuppression({ workspaceId: ws, email: "a@x.com", actor: "a", note: "" })))).toEqual([Code.InvalidArgument, "note: required"]);
    expect((await codeOf(h.client.addSuppression({ workspaceId: ws, email: "a@x.com", actor: "a", note: "n", reason: SuppressionReason.SOFT_BOUNCE_POLICY })))[1]).toMatch(/^reason/);
    expect((await codeOf(h.client.addSuppression({ workspaceId: ws, email: "x", actor: "a", note: "n" })))).toEqual([Code.InvalidArgument, "email: not an email address"]);
  });

  it("answers NotFound for an address never seen, and InvalidArgument without email or subscriber id", async () => {
    const ws = uniqueName("ws");
    expect((await codeOf(h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "ghost@x.com" } })))[0]).toBe(Code.NotFound);
    expect((await codeOf(h.client.getSubscriber({ workspaceId: ws })))[0]).toBe(Code.InvalidArgument);
  });

  it("lists suppressions by address, filtered by reason, page by page, and rejects a tampered token", async () => {
    const ws = uniqueName("ws");
    for (const email of ["d@x.com", "a@x.com", "c@x.com", "b@x.com", "e@x.com"]) await add(ws, email);
    await add(ws, "z@x.com", SuppressionReason.BOUNCED);
    await h.client.removeSuppression({ workspaceId: ws, email: "c@x.com", actor: "a", note: "n" });

    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await h.client.listSuppressions({ workspaceId: ws, pageSize: 2, pageToken });
      expect(page.suppressions.length).toBeLessThanOrEqual(2);
      seen.push(...page.suppressions.map((s) => s.email));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(["a@x.com", "b@x.com", "d@x.com", "e@x.com", "z@x.com"]);

    const bounced = await h.client.listSuppressions({ workspaceId: ws, reason: SuppressionReason.BOUNCED });
    expect(bounced.suppressions.map((s) => s.email)).toEqual(["z@x.com"]);

    const first = await h.client.listSuppressions({ workspaceId: ws, pageSize: 2 });
    expect((await codeOf(h.client.listSuppressions({ workspaceId: ws, pageSize: 2, pageToken: `${first.nextPageToken}x` })))[1]).toMatch(/^page_token/);
    expect((await codeOf(h.client.listSuppressions({ workspaceId: ws, reason: SuppressionReason.BOUNCED, pageToken: first.nextPageToken })))[1]).toMatch(/^page_token/);
    expect((await codeOf(h.client.listSuppressions({ workspaceId: ws, pageSize: -1 })))[1]).toMatch(/^page_size/);
    expect((await codeOf(h.client.listSuppressions({ workspaceId: ws, reason: 99 as SuppressionReason })))[1]).toMatch(/^reason/);
  });

  it("exports every suppression of a workspace as a stream of chunks of at most 500", async () => {
    const ws = uniqueName("ws");
    const emails = Array.from({ length: 520 }, (_, i) => `user${String(i).padStart(4, "0")}@x.com`);
    // Seeded straight into the repository: 520 audited RPC round trips would only slow the test.
    const repository = new SubscriberRepository(h.service.context.mongo.db);
    const added = (workspaceId: string, email: string) =>
      addManually(newSubscriber(workspaceId, email, 1), { reason: "manual", subscriberId: "", actor: "a", note: "n", atMs: 1 }).state;
    const seed = (workspaceId: string, email: string) => repository.save({ ...added(workspaceId, email), version: 1 }, []);
    for (let i = 0; i < emails.length; i += 52) await Promise.all(emails.slice(i, i + 52).map((email) => seed(ws, email)));
    await seed(ws, "active@x.com").then(() => h.client.removeSuppression({ workspaceId: ws, email: "active@x.com", actor: "a", note: "n" }));
    await seed(uniqueName("ws"), "user0000@x.com");
    const chunks: number[] = [];
    const exported: string[] = [];
    for await (const chunk of h.client.exportSuppressions({ workspaceId: ws })) {
      chunks.push(chunk.suppressions.length);
      exported.push(...chunk.suppressions.map((s) => s.email));
    }
    expect(chunks).toEqual([500, 20]);
    expect(exported).toEqual(emails);
  });
});
