import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BadProviderBodyError, type ProviderEvent } from "./provider-adapter.ts";
import { createSendgridAdapter, maxEventsPerBatch, signatureHeader, timestampHeader } from "./sendgrid.ts";

const fixtures = new URL("../../../test/fixtures/providers/sendgrid/", import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, fixtures));

const adapter = createSendgridAdapter();
const keyPair = () => generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const keyText = (publicKey: KeyObject) => publicKey.export({ format: "der", type: "spki" }).toString("base64");
const workspaceKey = keyPair();
const credential = adapter.parseCredential(keyText(workspaceKey.publicKey));

const nowMs = Date.UTC(2026, 10, 27, 12, 0, 0);
const nowSeconds = nowMs / 1000;

/** What SendGrid does: a base64 DER ECDSA signature of SHA-256 over the timestamp followed by the body. */
function signedHeaders(body: Buffer, options: { privateKey?: KeyObject; timestamp?: number; signedTimestamp?: number } = {}) {
  const timestamp = options.timestamp ?? nowSeconds;
  const signedTimestamp = options.signedTimestamp ?? timestamp;
  const signature = sign("sha256", Buffer.concat([Buffer.from(String(signedTimestamp)), body]), options.privateKey ?? workspaceKey.privateKey);
  return { [signatureHeader]: signature.toString("base64"), [timestampHeader]: String(timestamp) };
}

const events = (body: Buffer): ProviderEvent[] => {
  const contents = adapter.contents(body);
  if (contents.kind !== "events") throw new Error(`expected events, got ${contents.kind}`);
  return contents.events;
};

const ua = "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)";
const messageId = "14c5d75ce93";
const documented: Record<string, Partial<ProviderEvent>> = {
  "processed.json": { kind: "sent", providerType: "processed", eventId: "rbtnWrG1DVDGGGFHFyun0A==", messageId },
  "dropped.json": { kind: "suppressed", providerType: "dropped", eventId: "zmzJhfJgAfUSOW80yEbPyw==", reason: "Bounced Address" },
  "delivered.json": { kind: "delivered", providerType: "delivered", eventId: "rWVYmVk90MjZJ9iohOBa3w==" },
  "deferred.json": { kind: "delivery_delayed", providerType: "deferred", reason: "400 try again later" },
  "bounce.json": {
    kind: "bounced",
    bounce: { severity: "hard", type: "Permanent", subType: "General", providerType: "bounce", diagnosticCode: "500 unknown recipient", smtpStatus: "5.0.0", message: "500 unknown recipient" },
  },
  "blocked.json": {
    kind: "bounced",
    bounce: { severity: "soft", type: "Transient", subType: "General", providerType: "blocked", diagnosticCode: "500 unknown recipient", smtpStatus: "5.0.0", message: "500 unknown recipient" },
  },
  "open.json": { kind: "opened", open: { ipAddress: "255.255.255.255", userAgent: ua } },
  "click.json": { kind: "clicked", click: { link: "http://www.sendgrid.com/", ipAddress: "255.255.255.255", userAgent: ua } },
  "spamreport.json": { kind: "complained", eventId: "37nvH5QBz858KGVYCM4uOA==" },
  "unsubscribe.json": { kind: "unsubscribed", providerType: "unsubscribe" },
  "group_unsubscribe.json": { kind: "unsubscribed", providerType: "group_unsubscribe", reason: "unsubscribe group 10" },
  "group_resubscribe.json": { kind: undefined, providerType: "group_resubscribe", eventId: "w_u0vJhLT-OFfprar5N93g==" },
  "click-with-unique-args.json": {
    kind: "clicked",
    messageId: "sendgrid_internal_message_id",
    recipients: ["email@example.com"],
    tags: { unique_arg_key: "unique_arg_value", category: "category1,category2" },
  },
  "legacy-unsubscribe-without-ids.json": { kind: "unsubscribed", messageId: "", recipients: ["nick@sendgrid.com"] },
};

describe("SendGrid adapter", () => {
  it("maps every documented event to its kind, keeping SendGrid's own detail", () => {
    const files = readdirSync(fixtures).filter((name) => name.endsWith(".json") && name !== "mixed-batch.json");
    expect(files.sort()).toEqual(Object.keys(documented).sort());
    for (const [file, expected] of Object.entries(documented)) {
      const [event] = events(fixture(file));
      expect(event, file).toMatchObject({ provider: "sendgrid", ...expected });
    }
  });

  it("reads the message id up to the first dot, the recipient, the time and the category of each event", () => {
    const [event] = events(fixture("delivered.json"));
    const { raw, ...read } = event!;
    // Each event keeps its own JSON, to be stored instead of the whole batch.
    expect(JSON.parse(raw!.toString())).toEqual((JSON.parse(fixture("delivered.json").toString()) as unknown[])[0]);
    expect(read).toEqual({
      provider: "sendgrid",
      eventId: "rWVYmVk90MjZJ9iohOBa3w==",
      kind: "delivered",
      providerType: "delivered",
      messageId: "14c5d75ce93",
      eventTime: new Date(1513299569 * 1000),
      recipients: ["example@test.com"],
      from: "",
      subject: "",
      tags: { category: "cat facts" },
    });
  });

  it("splits the documented mixed batch into one event per element, in order, each with its own id", () => {
    const batch = events(fixture("mixed-batch.json"));
    expect(batch.map((event) => event.kind)).toEqual([
      "sent", "delivery_delayed", "delivered", "opened", "clicked", "bounced", "suppressed", "complained", "unsubscribed", "unsubscribed", undefined,
    ]);
    expect(new Set(batch.map((event) => event.eventId)).size).toBe(batch.length);
  });

  it("counts a drop for a suppression list as suppressed and any other drop as failed", () => {
    const [dropped] = JSON.parse(fixture("dropped.json").toString()) as Record<string, unknown>[];
    const kindFor = (reason: string) => events(Buffer.from(JSON.stringify([{ ...dropped, reason }])))[0]!.kind;
    for (const reason of ["Bounced Address", "Unsubscribed Address", "Spam Reporting Address", "Invalid", "unsubscribed address"]) expect(kindFor(reason), reason).toBe("suppressed");
    for (const reason of ["Spam Content", "Invalid SMTPAPI header", "Recipient List over Package Quota"]) expect(kindFor(reason), reason).toBe("failed");
  });

  it("keeps an event without sg_event_id under a hash of its own JSON, the same on a retry of the batch", () => {
    const first = events(fixture("legacy-unsubscribe-without-ids.json"))[0]!;
    const again = events(fixture("legacy-unsubscribe-without-ids.json"))[0]!;
    expect(first.eventId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(again.eventId).toBe(first.eventId);
    const other = events(Buffer.from(JSON.stringify([{ ...JSON.parse(fixture("legacy-unsubscribe-without-ids.json").toString())[0], timestamp: 1380822438 }])))[0]!;
    expect(other.eventId).not.toBe(first.eventId);
  });

  it("returns an event type it does not know with kind undefined and SendGrid's name for it", () => {
    const body = Buffer.from(JSON.stringify([{ event: "account_status_change", sg_event_id: "x1", timestamp: 1513299569, type: "compliance_suspend" }]));
    expect(events(body)[0]).toMatchObject({ kind: undefined, providerType: "account_status_change", eventId: "x1" });
  });

  it("verifies a body signed with the workspace's key, and with either of two keys during a rotation", async () => {
    const body = fixture("mixed-batch.json");
    expect(await adapter.verify({ headers: signedHeaders(body), body, nowMs }, [credential])).toEqual({ ok: true });
    const next = keyPair();
    const both = [adapter.parseCredential(keyText(next.publicKey)), credential];
    expect(await adapter.verify({ headers: signedHeaders(body), body, nowMs }, both)).toEqual({ ok: true });
    expect(await adapter.verify({ headers: signedHeaders(body, { privateKey: next.privateKey }), body, nowMs }, both)).toEqual({ ok: true });
  });

  it("rejects a signature made with another key as bad_signature", async () => {
    const body = fixture("bounce.json");
    const headers = signedHeaders(body, { privateKey: keyPair().privateKey });
    expect(await adapter.verify({ headers, body, nowMs }, [credential])).toEqual({ ok: false, reason: "bad_signature" });
    expect(await adapter.verify({ headers: signedHeaders(body), body, nowMs }, [])).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects a body changed after signing, even by one byte", async () => {
    const body = fixture("bounce.json");
    const headers = signedHeaders(body);
    const edited = Buffer.from(body.toString().replace('"type": "bounce"', '"type": "blocked"'));
    expect(edited.equals(body)).toBe(false);
    expect(await adapter.verify({ headers, body: edited, nowMs }, [credential])).toEqual({ ok: false, reason: "bad_signature" });
    const oneByte = Buffer.from(body);
    oneByte[oneByte.length - 2] = oneByte[oneByte.length - 2]! ^ 1;
    expect(await adapter.verify({ headers, body: oneByte, nowMs }, [credential])).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects a timestamp header other than the one signed", async () => {
    const body = fixture("open.json");
    const headers = signedHeaders(body, { timestamp: nowSeconds, signedTimestamp: nowSeconds - 10 });
    expect(await adapter.verify({ headers, body, nowMs }, [credential])).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("accepts timestamps up to five minutes off either way and rejects anything further as expired_timestamp", async () => {
    const body = fixture("open.json");
    const at = (offset: number) => adapter.verify({ headers: signedHeaders(body, { timestamp: nowSeconds + offset }), body, nowMs }, [credential]);
    expect(await at(-300)).toEqual({ ok: true });
    expect(await at(300)).toEqual({ ok: true });
    expect(await at(-301)).toEqual({ ok: false, reason: "expired_timestamp" });
    expect(await at(301)).toEqual({ ok: false, reason: "expired_timestamp" });
  });

  it("rejects a request without both headers, or with a timestamp that is not a number, as missing_signature", async () => {
    const body = fixture("open.json");
    const headers = signedHeaders(body);
    const cases: Record<string, string>[] = [
      {},
      { [signatureHeader]: headers[signatureHeader]! },
      { [timestampHeader]: headers[timestampHeader]! },
      { ...headers, [timestampHeader]: "soon" },
      { ...headers, [signatureHeader]: "" },
    ];
    for (const candidate of cases) {
      expect(await adapter.verify({ headers: candidate, body, nowMs }, [credential]), JSON.stringify(Object.keys(candidate))).toEqual({ ok: false, reason: "missing_signature" });
    }
  });

  it("rejects a signature that is not DER, or absurdly long, as bad_signature without throwing", async () => {
    const body = fixture("open.json");
    for (const signature of ["bm90LWRlcg==", "A".repeat(10_000)]) {
      const headers = { [signatureHeader]: signature, [timestampHeader]: String(nowSeconds) };
      expect(await adapter.verify({ headers, body, nowMs }, [credential])).toEqual({ ok: false, reason: "bad_signature" });
    }
  });

  it("throws BadProviderBodyError for verified bodies that are not a batch of events, naming no address", () => {
    const [event] = JSON.parse(fixture("delivered.json").toString()) as Record<string, unknown>[];
    const bodies: Record<string, unknown> = {
      "an object": { ...event },
      "an element that is not an object": [event, "example@test.com"],
      "an element without an event type": [{ ...event, event: undefined }],
      "an event type of 65 characters": [{ ...event, event: "x".repeat(65) }],
      "an sg_event_id of 257 characters": [{ ...event, sg_event_id: "e".repeat(257) }],
      "an sg_event_id that is a number": [{ ...event, sg_event_id: 7 }],
      "an sg_message_id of 257 characters": [{ ...event, sg_message_id: "m".repeat(257) }],
    };
    for (const [what, body] of Object.entries(bodies)) {
      expect(() => adapter.contents(Buffer.from(JSON.stringify(body))), what).toThrow(BadProviderBodyError);
      try {
        adapter.contents(Buffer.from(JSON.stringify(body)));
      } catch (error) {
        expect((error as Error).message, what).not.toContain("@");
      }
    }
    expect(() => adapter.contents(Buffer.from("[{"))).toThrow(/not JSON/);
  });

  it(`takes batches of up to ${maxEventsPerBatch} events and refuses a larger one`, () => {
    const [event] = JSON.parse(fixture("processed.json").toString()) as Record<string, unknown>[];
    const batch = (size: number) => Buffer.from(JSON.stringify(Array.from({ length: size }, (_, i) => ({ ...event, sg_event_id: `e${i}` }))));
    expect(events(batch(maxEventsPerBatch))).toHaveLength(maxEventsPerBatch);
    expect(() => adapter.contents(batch(maxEventsPerBatch + 1))).toThrow(BadProviderBodyError);
    expect(events(Buffer.from("[]"))).toEqual([]);
  });

  it("takes custom arguments as tags, never SendGrid's own fields, and at most 50 of them", () => {
    const [event] = JSON.parse(fixture("processed.json").toString()) as Record<string, unknown>[];
    const custom = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`arg${i}`, `v${i}`]));
    const [mapped] = events(Buffer.from(JSON.stringify([{ ...event, campaign_id: "c-1", subscriber_id: 42, sg_template_id: "t", marketing_campaign_id: 5, ...custom }])));
    expect(mapped!.tags).toMatchObject({ campaign_id: "c-1", subscriber_id: "42" });
    expect(Object.keys(mapped!.tags)).toHaveLength(50);
    for (const reserved of ["email", "timestamp", "smtp-id", "event", "sg_event_id", "sg_message_id", "sg_template_id", "marketing_campaign_id", "pool"]) {
      expect(mapped!.tags).not.toHaveProperty(reserved);
    }
  });

  it("parses the verification key as SendGrid shows it (base64 DER), with or without PEM armour", () => {
    const { publicKey } = keyPair();
    const bare = keyText(publicKey);
    const pem = publicKey.export({ format: "pem", type: "spki" }).toString();
    expect(adapter.parseCredential(bare).asymmetricKeyType).toBe("ec");
    expect(adapter.parseCredential(pem).asymmetricKeyType).toBe("ec");
    expect(adapter.fingerprint(pem)).toBe(adapter.fingerprint(bare));
    expect(adapter.fingerprint(bare)).toMatch(/^[0-9a-f]{8}$/);
    expect(adapter.fingerprint(bare)).not.toBe(adapter.fingerprint(keyText(keyPair().publicKey)));
  });

  it("refuses a key that is not an ECDSA P-256 public key, without echoing it", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey;
    const candidates: Record<string, string> = {
      empty: "",
      "not base64": "this is not a key!",
      "base64 of no key": Buffer.from("definitely not DER").toString("base64"),
      "an RSA key": keyText(rsa),
      "a P-384 key": keyText(p384),
      "too long": "A".repeat(1_001),
    };
    for (const [what, candidate] of Object.entries(candidates)) {
      expect(() => adapter.parseCredential(candidate), what).toThrow();
      try {
        adapter.parseCredential(candidate);
      } catch (error) {
        if (candidate.length >= 8) expect((error as Error).message, what).not.toContain(candidate.slice(0, 8));
      }
    }
  });
});
