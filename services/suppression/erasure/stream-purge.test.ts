import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AckPolicy } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SendRecordedSchema, SubscriberSuppressedSchema, SuppressionReason, SuppressionSource } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { privateNats, uniqueName } from "../../../test/harness.ts";
import { encodeAuditEntry } from "../../shared/audit.ts";
import { loadBaseConfig } from "../../shared/config.ts";
import { createLogger } from "../../shared/log.ts";
import { connectNats, DOMAIN_EVENTS_STREAM, ensureConsumer, ensureStreams, RESEND_EVENTS_STREAM, type NatsHandles } from "../../shared/nats.ts";
import { encodeResendEvent, parseResendEvent } from "../../shared/resend-events.ts";
import { addressMatcher } from "./payload-addresses.ts";
import { purgeSubscriberMessages } from "./stream-purge.ts";

const bob = "Bob.Smith@example.com";
/** 43 characters: its protobuf length byte is "+", a local-part character. */
const long = "a.rather.long.local.part.of.bob@example.com";
const limits = { maxScanned: 100_000, batchSize: 4 };

const sendRecorded = (workspaceId: string, recipient: string) =>
  toBinary(
    SendRecordedSchema,
    // sent_time follows the recipient: its tag byte is "2", a domain character.
    create(SendRecordedSchema, { workspaceId, emailId: uniqueName("email"), campaignId: "c", subscriberId: "s", recipient, sentTime: timestampFromMs(1_000) }),
  );
const webhook = (workspaceId: string, body: unknown) =>
  encodeResendEvent(parseResendEvent({ workspaceId, svixId: uniqueName("msg"), receivedAtMs: 1_000, rawBody: Buffer.from(JSON.stringify(body)) }));
const delivered = (to: string) => ({ type: "email.delivered", created_at: "2024-01-01T00:00:00Z", data: { email_id: "e", to: [to], subject: "hi" } });
/** SES through SNS: the notification is JSON inside a JSON string, from an encoder escaping "<" and ">". */
const snsWrapped = (destination: string) => ({
  type: "ses.delivery", // the envelope parser wants one; the SNS body is what matters here
  Type: "Notification",
  Message: JSON.stringify({ notificationType: "Delivery", mail: { destination: [destination] } }).replace(/</g, "\\u003c").replace(/>/g, "\\u003e"),
});

describe("purging a subscriber's messages from the streams", () => {
  let nats: NatsHandles;
  beforeAll(async () => {
    nats = await connectNats((await privateNats()).url, "stream-purge-test", createLogger({}, "error"));
    await ensureStreams(nats.jsm, loadBaseConfig({}));
  });
  afterAll(async () => nats?.nc.close());

  const sequenceOf = async (subject: string, data: Uint8Array) => (await nats.js.publish(subject, data)).seq;
  const stored = async (stream: string, seq: number) => (await nats.jsm.streams.getMessage(stream, { seq })) !== null;

  it("deletes the workspace's messages naming the address from both streams and keeps every other", async () => {
    const ws = uniqueName("ws");
    const other = uniqueName("ws");
    const named = [
      [RESEND_EVENTS_STREAM, await sequenceOf(`resend.events.${ws}.email.delivered`, webhook(ws, delivered("BOB.SMITH@EXAMPLE.COM")))],
      [RESEND_EVENTS_STREAM, await sequenceOf(`resend.events.${ws}.ses.delivery`, webhook(ws, snsWrapped(`Bob Smith <${bob}>`)))],
      [DOMAIN_EVENTS_STREAM, await sequenceOf(`sends.${ws}.recorded`, sendRecorded(ws, bob))],
      [DOMAIN_EVENTS_STREAM, await sequenceOf(`sends.${ws}.recorded`, sendRecorded(ws, long))],
      [DOMAIN_EVENTS_STREAM, await sequenceOf(`subscriber.${ws}.suppressed`, toBinary(SubscriberSuppressedSchema, create(SubscriberSuppressedSchema, {
        workspaceId: ws, email: bob, reason: SuppressionReason.MANUAL, source: SuppressionSource.MANUAL,
      })))],
      [DOMAIN_EVENTS_STREAM, await sequenceOf(`audit.${ws}.suppression`, encodeAuditEntry({
        id: uniqueName("entry"), workspaceId: ws, service: "suppression", action: "add_suppression", caller: "crm", actor: "", note: "", target: bob, atMs: 1_000,
      }))],
    ] as const;
    const kept = [
      [RESEND_EVENTS_STREAM, await sequenceOf(`resend.events.${ws}.email.delivered`, webhook(ws, delivered("jim.Bob.Smith@example.com")))],
      [RESEND_EVENTS_STREAM, await sequenceOf(`resend.events.${ws}.email.delivered`, webhook(ws, delivered("bob.smith@example.com.au")))],
      [RESEND_EVENTS_STREAM, await sequenceOf(`resend.events.${ws}.email.delivered`, webhook(ws, delivered("ann@example.com")))],
      [RESEND_EVENTS_STREAM, await sequenceOf(`resend.events.${other}.email.delivered`, webhook(other, delivered(bob)))],
      [DOMAIN_EVENTS_STREAM, await sequenceOf(`sends.${other}.recorded`, sendRecorded(other, bob))],
      [DOMAIN_EVENTS_STREAM, await sequenceOf(`erasure.${ws}.requested`, Buffer.from(bob))],
    ] as const;

    const result = await purgeSubscriberMessages(nats.jsm, { workspaceId: ws, emails: [bob, long], limits });
    expect(result).toEqual({ deleted: named.length, waiting: 0, scanned: named.length + 3 });
    for (const [stream, seq] of named) expect(await stored(stream, seq), `${stream} ${seq}`).toBe(false);
    for (const [stream, seq] of kept) expect(await stored(stream, seq), `${stream} ${seq}`).toBe(true);
    expect(await purgeSubscriberMessages(nats.jsm, { workspaceId: ws, emails: [bob, long], limits })).toEqual({ deleted: 0, waiting: 0, scanned: 3 });
  });

  it("keeps a message a durable consumer taking it has not acknowledged, and deletes it on the next call after the ack", async () => {
    const ws = uniqueName("ws");
    const durable = uniqueName("reader");
    await ensureConsumer(nats.jsm, DOMAIN_EVENTS_STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subjects: [`sends.${ws}.>`] });
    // A consumer of other subjects never acknowledges these; it must not hold them back.
    await ensureConsumer(nats.jsm, DOMAIN_EVENTS_STREAM, { durable_name: uniqueName("bystander"), ack_policy: AckPolicy.Explicit, filter_subjects: [`audit.${ws}.>`] });
    const seq = await sequenceOf(`sends.${ws}.recorded`, sendRecorded(ws, bob));

    expect(await purgeSubscriberMessages(nats.jsm, { workspaceId: ws, emails: [bob], limits })).toEqual({ deleted: 0, waiting: 1, scanned: 1 });
    expect(await stored(DOMAIN_EVENTS_STREAM, seq)).toBe(true);

    const consumer = await nats.js.consumers.get(DOMAIN_EVENTS_STREAM, durable);
    const message = await consumer.next({ expires: 5000 });
    expect(message?.seq).toBe(seq);
    await message!.ackAck();
    expect(await purgeSubscriberMessages(nats.jsm, { workspaceId: ws, emails: [bob], limits })).toEqual({ deleted: 1, waiting: 0, scanned: 1 });
    expect(await stored(DOMAIN_EVENTS_STREAM, seq)).toBe(false);
  });

  it("stops at its scan cap and goes on from where it stopped", async () => {
    const ws = uniqueName("ws");
    for (let n = 0; n < 5; n++) await nats.js.publish(`resend.events.${ws}.email.delivered`, webhook(ws, delivered(n === 3 ? bob : `ann${n}@example.com`)));
    await nats.js.publish(`sends.${ws}.recorded`, sendRecorded(ws, bob));
    const first = await purgeSubscriberMessages(nats.jsm, { workspaceId: ws, emails: [bob], limits: { maxScanned: 3, batchSize: 2 } });
    expect(first).toMatchObject({ deleted: 0, scanned: 3, resumeFrom: { stream: RESEND_EVENTS_STREAM } });
    const second = await purgeSubscriberMessages(nats.jsm, { workspaceId: ws, emails: [bob], limits: { maxScanned: 3, batchSize: 2 }, from: first.resumeFrom });
    expect(second).toEqual({ deleted: 2, waiting: 0, scanned: 3 });
  });

  it("refuses a workspace id that would widen the subject filters", async () => {
    await expect(purgeSubscriberMessages(nats.jsm, { workspaceId: "*", emails: [bob], limits })).rejects.toThrow(/workspace_id/);
  });
});

describe("finding an address in a message's bytes", () => {
  const finds = (payload: string | Uint8Array, address = bob) => addressMatcher([address])(typeof payload === "string" ? Buffer.from(payload) : payload);

  it("finds it whatever its case, around its usual neighbours, and escaped", () => {
    for (const text of [
      `{"to":["${bob.toUpperCase()}"]}`,
      `Bob <${bob}>`,
      `"\\u003c${bob}\\u003e"`,
      `line\\n${bob}`,
      `{"Message":"{\\"to\\":\\"${bob.replace("@", "\\\\u0040")}\\"}"}`,
      `https://x.example/unsubscribe?email=${bob.replace("@", "%40")}&x=1`,
      `https://x.example/unsubscribe/${bob}`,
      `write to ${bob}.`,
      bob,
    ]) {
      expect(finds(text), text).toBe(true);
    }
  });

  it("does not find it inside a longer address or in another domain", () => {
    for (const text of [`jim${bob}`, `jim.${bob}`, `${bob}.au`, `${bob}-x.com`, `${bob.replace("@", "@x")}`, "nothing here"]) {
      expect(finds(text), text).toBe(false);
    }
  });

  it("finds it as a whole protobuf field whatever the length byte and the next tag are", () => {
    expect(finds(sendRecorded("ws", long), long)).toBe(true);
    expect(finds(sendRecorded("ws", `x${long}`), long)).toBe(false);
  });
});
