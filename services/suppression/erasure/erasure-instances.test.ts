/**
 * Erasure against writers of another instance (its own lock, the same database): while instance A erases
 * an address, instance B keeps applying that address's events and send notes. Whatever interleaving the
 * two get, the end is the same: one document, under the pseudonym, holding neither the address nor the
 * subscriber id, and the address answered "suppressed" on both instances.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient } from "@nats-io/jetstream";
import { MongoClient, type Db } from "mongodb";
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErasureRequestedSchema } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { shared, uniqueName } from "../../../test/harness.ts";
import { KeyedLock } from "../../shared/keyed-lock.ts";
import { createLogger } from "../../shared/log.ts";
import { parseSecretKeys } from "../../shared/secret-box.ts";
import { OutboxPublisher } from "../outbox.ts";
import { SendRepository } from "../send-repository.ts";
import { defaultSoftBouncePolicy } from "../soft-bounce-policy.ts";
import { SubscriberRepository } from "../subscriber-repository.ts";
import { noteSubscriber } from "../subscriber-state.ts";
import { applyToAddress } from "../use-cases/apply-resend-event.ts";
import { changeSubscriber } from "../use-cases/change-subscriber.ts";
import type { SuppressionDeps } from "../use-cases/deps.ts";
import { checkSuppressions } from "../use-cases/queries.ts";
import { AddressHasher } from "./address-hash.ts";
import { eraseAddresses } from "./erase-addresses.ts";

const hasher = new AddressHasher(parseSecretKeys(`k1:${randomBytes(32).toString("base64")}`));
/** Publishing is not what this test is about: every publish is acknowledged at once. */
const js = { publish: async () => ({ seq: 1, duplicate: false, stream: "DOMAIN_EVENTS" }) } as unknown as JetStreamClient;

let client: MongoClient;
let db: Db;
const instance = (): SuppressionDeps => {
  const subscribers = new SubscriberRepository(db);
  const log = createLogger({}, "error");
  return {
    subscribers,
    sends: new SendRepository(db),
    outbox: new OutboxPublisher(js, subscribers, log),
    lock: new KeyedLock(),
    policy: defaultSoftBouncePolicy,
    lookup: "find-one",
    log,
    hasher,
    now: () => Date.now(),
  };
};

beforeAll(async () => {
  client = await new MongoClient(shared.mongoUri, { retryWrites: false }).connect();
  db = client.db(uniqueName("suppression_erasure_instances"));
});
afterAll(async () => client?.close());

const softBounce = (i: number) => ({
  kind: "soft_bounce" as const,
  svixId: `msg_b${i}`,
  atMs: Date.UTC(2026, 10, 1) + i * 60_000,
  emailId: `em-${i}`,
  subType: "MailboxFull",
  counts: true,
  detail: "",
  tagCampaignId: "",
});

describe("an erasure while another instance writes the same address", () => {
  it.each([0, 1, 2, 3, 4])("ends with the address only under its pseudonym (round %i)", async (round) => {
    const ws = uniqueName("ws");
    const email = `racer${round}@example.com`;
    const [a, b] = [instance(), instance()];
    const writes = Array.from({ length: 12 }, (_, i) => i);
    const request = create(ErasureRequestedSchema, { workspaceId: ws, erasureId: randomUUID(), emails: [email], requestedTime: timestampNow() });
    // B starts first on odd rounds (the address has a document when A reads), second on even ones (it has none).
    const writer = async () => {
      for (const i of writes) {
        if (i % 3 === 0) await changeSubscriber(b, ws, email, (state) => noteSubscriber(state, `sub-${round}`, b.now()));
        else await applyToAddress(b, ws, email, softBounce(i), { subscriberId: `sub-${round}`, campaignId: "c1" });
      }
    };
    if (round % 2 === 1) await changeSubscriber(b, ws, email, (state) => noteSubscriber(state, `sub-${round}`, b.now()));
    await Promise.all([writer(), eraseAddresses(a, request)]);

    const docs = await db.collection("suppression_subscribers").find({ workspaceId: ws }).toArray();
    expect(JSON.stringify(docs)).not.toContain("racer");
    expect(JSON.stringify(docs)).not.toContain(`sub-${round}`);
    expect(docs).toHaveLength(1);
    expect((await checkSuppressions(a, ws, [email])).has(email)).toBe(true);
    expect((await checkSuppressions(b, ws, [email])).has(email)).toBe(true);
  });
});

describe("an address's first document written between the erasure's look-up and its copy", () => {
  it("does not outlive the erasure (the erasure reads the address again once the copy exists)", async () => {
    const ws = uniqueName("ws");
    const email = "squeezed@example.com";
    const [a, b] = [instance(), instance()];
    const request = create(ErasureRequestedSchema, { workspaceId: ws, erasureId: randomUUID(), emails: [email], requestedTime: timestampNow() });
    // The worst interleaving, made certain: B's whole first write (read, insert, look for a copy: none yet)
    // runs after A found neither document and before A inserts the copy.
    const insertCopy = a.subscribers.insertIfAbsent.bind(a.subscribers);
    a.subscribers.insertIfAbsent = async (state) => {
      await applyToAddress(b, ws, email, softBounce(1), { subscriberId: "sub-squeezed", campaignId: "c1" });
      return await insertCopy(state);
    };
    await eraseAddresses(a, request);

    const docs = await db.collection("suppression_subscribers").find({ workspaceId: ws }).toArray();
    expect(JSON.stringify(docs)).not.toContain("squeezed");
    expect(docs).toHaveLength(1);
    expect((await checkSuppressions(b, ws, [email])).has(email)).toBe(true);
  });
});
