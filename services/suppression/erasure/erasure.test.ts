/**
 * Erasure in the suppression service, against the real database and JetStream: after EraseSubscriber
 * no read API and no stored document holds the address, CheckSuppressions still answers "suppressed",
 * later events and send records do not bring the address back, and GetErasure follows the services'
 * answers to DONE, deleting the request message (it carries the address).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { MongoClient } from "mongodb";
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErasureRequestedSchema, SuppressionReason } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { ErasureState, SubscriberStatus } from "../../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../../test/harness.ts";
import { publishEmailEvent } from "../../../test/support/provider-envelopes.ts";
import { publishSendRecorded, startSuppression, waitIdle, type Harness } from "../../../test/support/suppression-service.ts";
import type { BaseConfig } from "../../shared/config.ts";
import { erasureRequestedSubject, publishErasureApplied } from "../../shared/erasure-events.ts";
import { DOMAIN_EVENTS_STREAM } from "../../shared/nats.ts";
import { parseSecretKeys } from "../../shared/secret-box.ts";

const secretKeys = parseSecretKeys(`k1:${randomBytes(32).toString("base64")}`);

let h: Harness;
let config: BaseConfig;
let mongo: MongoClient;
beforeAll(async () => {
  config = testBaseConfig({ natsUrl: (await privateNats()).url });
  h = await startSuppression(config, { secretKeys });
  mongo = await new MongoClient(config.mongoUri).connect();
});
afterAll(async () => {
  await h?.service.stop();
  await mongo?.close();
});

async function codeOf(call: Promise<unknown>): Promise<Code> {
  return ConnectError.from(await call.then(() => new Error("no error"), (e: unknown) => e)).code;
}

/** JSON of anything, protobuf messages (bigint seconds) included. */
const asText = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? String(v) : v));

/** Every stored document of the service's database that mentions `text` anywhere. */
async function documentsMentioning(text: string): Promise<string[]> {
  const db = mongo.db(config.mongoDatabase);
  const found: string[] = [];
  for (const { name } of await db.listCollections().toArray()) {
    for (const doc of await db.collection(name).find({}).toArray()) {
      if (asText(doc).toLowerCase().includes(text.toLowerCase())) found.push(`${name}:${String(doc._id)}`);
    }
  }
  return found;
}

const erase = (workspaceId: string, email: string) =>
  h.client.eraseSubscriber({ workspaceId, subscriber: { case: "email", value: email }, actor: "dpo", note: "ticket 4711" });

async function erasureOf(workspaceId: string, erasureId: string) {
  return (await h.client.getErasure({ workspaceId, erasureId })).erasure!;
}

async function suppressionDone(workspaceId: string, erasureId: string): Promise<void> {
  await waitFor(async () => (await erasureOf(workspaceId, erasureId)).services.find((part) => part.service === "suppression")?.done === true, {
    what: "the suppression service's part of the erasure",
  });
}

describe("EraseSubscriber in the suppression service", () => {
  it("keeps a suppression only under the keyed hash: no read API and no document shows the address", async () => {
    const ws = uniqueName("ws");
    const email = "Ann.Erase@example.com";
    await h.client.addSuppression({ workspaceId: ws, email, subscriberId: "sub-ann", reason: SuppressionReason.MANUAL, actor: "ops", note: "Ann Erase asked by phone" });
    await publishSendRecorded(h.service, { workspaceId: ws, emailId: "em-ann-1", campaignId: "c1", subscriberId: "sub-ann", recipient: email });
    await h.client.addSuppression({ workspaceId: ws, email: "bob@example.com", actor: "ops", note: "kept" });
    await waitFor(async () => (await documentsMentioning("em-ann-1")).length > 0, { what: "the send record stored" });

    const { erasure } = await erase(ws, email);
    expect(erasure!.state).toBe(ErasureState.PENDING);
    expect(erasure!.addresses).toBe(1);
    expect(erasure!.services.map((part) => part.service)).toEqual(["suppression", "delivery-status", "webhook-gateway"]);
    await suppressionDone(ws, erasure!.erasureId);

    const check = await h.client.checkSuppressions({ workspaceId: ws, emails: [email, " ann.erase@EXAMPLE.com", "bob@example.com", "carl@example.com"] });
    expect(check.results.map((result) => [result.suppressed, result.reason])).toEqual([
      [true, SuppressionReason.MANUAL],
      [false, SuppressionReason.UNSPECIFIED], // a different local part: another mailbox
      [true, SuppressionReason.MANUAL],
      [false, SuppressionReason.UNSPECIFIED],
    ]);
    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: email } });
    expect(subscriber).toMatchObject({ email: "", subscriberId: "", erased: true, status: SubscriberStatus.SUPPRESSED });
    expect(subscriber!.history.every((entry) => entry.note === "")).toBe(true);
    expect(await codeOf(h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "subscriberId", value: "sub-ann" } }))).toBe(Code.NotFound);
    const listed = (await h.client.listSuppressions({ workspaceId: ws })).suppressions;
    expect(listed.map((item) => [item.email, item.erased, item.note])).toEqual(
      expect.arrayContaining([["", true, ""], ["bob@example.com", false, "kept"]]),
    );
    const exported = [];
    for await (const chunk of h.client.exportSuppressions({ workspaceId: ws })) exported.push(...chunk.suppressions);
    expect(exported.filter((item) => item.erased)).toHaveLength(1);
    expect(asText(exported)).not.toMatch(/ann/i);
    expect(await documentsMentioning("ann.erase@")).toEqual([]);
    expect(await documentsMentioning("sub-ann")).toEqual([]);
    expect(await codeOf(h.client.removeSuppression({ workspaceId: ws, email, actor: "ops", note: "undo" }))).toBe(Code.FailedPrecondition);
  });

  it("suppresses an address that was not suppressed (reason ERASED), and later events or send records bring nothing back", async () => {
    const ws = uniqueName("ws");
    const email = "dora@example.org";
    await publishSendRecorded(h.service, { workspaceId: ws, emailId: "em-dora-1", campaignId: "c1", subscriberId: "sub-dora", recipient: email });
    await waitFor(async () => (await documentsMentioning("em-dora-1")).length > 0, { what: "the send record stored" });
    const { erasure } = await erase(ws, email);
    await suppressionDone(ws, erasure!.erasureId);
    const reasonNow = async () => (await h.client.checkSuppressions({ workspaceId: ws, emails: [email] })).results[0]!;
    expect(await reasonNow()).toMatchObject({ suppressed: true, reason: SuppressionReason.ERASED });

    // After the erasure: a new send record and a hard bounce of the address (a late Resend retry).
    await publishSendRecorded(h.service, { workspaceId: ws, emailId: "em-dora-2", campaignId: "c2", subscriberId: "sub-dora", recipient: email });
    await publishEmailEvent(h.service.context.nats.js, ws, "resend", "email.bounced", { messageId: "em-dora-2", to: [email], bounce: { type: "Permanent", subType: "General" } });
    await h.client.addSuppression({ workspaceId: ws, email, subscriberId: "sub-dora", actor: "ops", note: "Dora again" });
    await waitFor(async () => (await documentsMentioning("em-dora-2")).length >= 1, { what: "the later send record applied" });
    await waitIdle(h.service);
    expect(await reasonNow()).toMatchObject({ suppressed: true, reason: SuppressionReason.ERASED });
    expect(await documentsMentioning("dora@")).toEqual([]);
    expect(await documentsMentioning("sub-dora")).toEqual([]);
    expect(await documentsMentioning("Dora again")).toEqual([]);
  });

  it("erases every address of a subscriber id; an unknown id is NotFound", async () => {
    const ws = uniqueName("ws");
    for (const [i, email] of ["eve@a.example", "eve@b.example"].entries()) {
      await publishSendRecorded(h.service, { workspaceId: ws, emailId: `em-eve-${i}`, campaignId: "c1", subscriberId: "sub-eve", recipient: email });
    }
    await waitFor(async () => (await documentsMentioning("sub-eve")).length >= 4, { what: "both addresses and send records stored" });
    const { erasure } = await h.client.eraseSubscriber({ workspaceId: ws, subscriber: { case: "subscriberId", value: "sub-eve" }, actor: "dpo", note: "t-1" });
    expect(erasure!.addresses).toBe(2);
    await suppressionDone(ws, erasure!.erasureId);
    expect((await h.client.checkSuppressions({ workspaceId: ws, emails: ["eve@a.example", "eve@b.example"] })).results.every((r) => r.suppressed)).toBe(true);
    expect(await documentsMentioning("eve@")).toEqual([]);
    expect(await documentsMentioning("sub-eve")).toEqual([]);
    expect(await codeOf(h.client.eraseSubscriber({ workspaceId: ws, subscriber: { case: "subscriberId", value: "nobody" }, actor: "dpo", note: "t-2" }))).toBe(Code.NotFound);
  });

  it("refuses a note holding the address, a missing target, and runs without SECRETS_KEY", async () => {
    const ws = uniqueName("ws");
    expect(await codeOf(h.client.eraseSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "fay@x.example" }, actor: "dpo", note: "for FAY@x.example" }))).toBe(Code.InvalidArgument);
    expect(await codeOf(h.client.eraseSubscriber({ workspaceId: ws, actor: "dpo", note: "t" }))).toBe(Code.InvalidArgument);
    const keyless = await startSuppression(testBaseConfig({ natsUrl: config.natsUrl }));
    try {
      expect(await codeOf(keyless.client.eraseSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "fay@x.example" }, actor: "dpo", note: "t" }))).toBe(Code.FailedPrecondition);
    } finally {
      await keyless.service.stop();
    }
  });

  it("is DONE once every service answered, and deletes the request message; a redelivered request changes nothing", async () => {
    const ws = uniqueName("ws");
    const email = "gil@example.net";
    await h.client.addSuppression({ workspaceId: ws, email, actor: "ops", note: "x" });
    const { erasure } = await erase(ws, email);
    const erasureId = erasure!.erasureId;
    await suppressionDone(ws, erasureId);
    const requests = async () => {
      const info = await h.service.context.nats.jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: erasureRequestedSubject(ws) });
      return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
    };
    expect(await requests()).toBe(1);
    const { js } = h.service.context.nats;
    await publishErasureApplied(js, { workspaceId: ws, erasureId }, "delivery-status", 3);
    expect((await erasureOf(ws, erasureId)).state).toBe(ErasureState.PENDING);
    await publishErasureApplied(js, { workspaceId: ws, erasureId }, "webhook-gateway", 0);
    await waitFor(async () => (await erasureOf(ws, erasureId)).state === ErasureState.DONE, { what: "the erasure DONE" });
    const done = await erasureOf(ws, erasureId);
    expect(done.services.map((part) => [part.service, part.done])).toEqual([["suppression", true], ["delivery-status", true], ["webhook-gateway", true]]);
    expect(done.services[1]!.documents).toBe(3);
    expect(await requests()).toBe(0);

    // The same request again (a redelivery after the message id left the duplicate window): nothing more changes.
    const before = (await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: email } })).subscriber!;
    const again = create(ErasureRequestedSchema, { workspaceId: ws, erasureId: randomUUID(), emails: [email], requestedTime: timestampNow() });
    await js.publish(erasureRequestedSubject(ws), toBinary(ErasureRequestedSchema, again));
    await waitFor(async () => (await h.service.context.nats.jsm.consumers.info(DOMAIN_EVENTS_STREAM, "suppression-erasures")).num_ack_pending === 0 && (await h.service.context.nats.jsm.consumers.info(DOMAIN_EVENTS_STREAM, "suppression-erasures")).num_pending === 0, {
      what: "the second request consumed",
    });
    const after = (await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: email } })).subscriber!;
    expect(after).toEqual(before);
  });

  it("applies a request published while no suppression instance runs, once one starts", async () => {
    const ws = uniqueName("ws");
    const email = "hal@example.com";
    await h.client.addSuppression({ workspaceId: ws, email, actor: "ops", note: "x" });
    await h.service.stop();
    const { connectNats } = await import("../../shared/nats.ts");
    const { createLogger } = await import("../../shared/log.ts");
    const handles = await connectNats(config.natsUrl, "erasure-test", createLogger({}, "error"));
    try {
      const request = create(ErasureRequestedSchema, { workspaceId: ws, erasureId: randomUUID(), emails: [email], requestedTime: timestampNow() });
      await handles.js.publish(erasureRequestedSubject(ws), toBinary(ErasureRequestedSchema, request));
    } finally {
      await handles.nc.close();
    }
    h = await startSuppression(config, { secretKeys });
    await waitFor(async () => (await documentsMentioning("hal@")).length === 0, { what: "the erasure applied after start" });
    expect((await h.client.checkSuppressions({ workspaceId: ws, emails: [email] })).results[0]!.suppressed).toBe(true);
  });
});
