import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createPostmarkAdapter } from "./postmark.ts";
import { BadProviderBodyError, type ProviderEvent } from "./provider-adapter.ts";
import { expectRefusedNamingNoAddress } from "../../../test/support/provider-bodies.ts";

const fixtures = new URL("../../../test/fixtures/providers/postmark/", import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, fixtures));
const record = (name: string) => JSON.parse(fixture(name).toString()) as Record<string, unknown>;

const adapter = createPostmarkAdapter();
const nowMs = Date.UTC(2026, 10, 27, 12, 0, 0);
const userPass = `postmark-hooks:${randomBytes(18).toString("base64url")}`;
const credential = adapter.parseCredential(userPass);
const basic = (value: string) => ({ authorization: `Basic ${Buffer.from(value).toString("base64")}` });

const events = (body: Buffer): ProviderEvent[] => {
  const contents = adapter.contents(body);
  if (contents.kind !== "events") throw new Error(`expected events, got ${contents.kind}`);
  return contents.events;
};
const only = (body: Buffer | Record<string, unknown>) => events(Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)))[0]!;

const bounce = (severity: "hard" | "soft", providerType: string, subType: string, message: string): Partial<ProviderEvent> => ({
  kind: "bounced",
  providerType: "Bounce",
  recipients: ["john@example.com"],
  bounce: { severity, type: severity === "hard" ? "Permanent" : "Transient", subType, providerType, diagnosticCode: "Test bounce details", smtpStatus: "", message },
});

const documented: Record<string, Partial<ProviderEvent>> = {
  "bounce-hard.json": bounce("hard", "HardBounce", "General", "The server was unable to deliver your message (ex: unknown user, mailbox not found)."),
  "bounce-bad-email-address.json": bounce("hard", "BadEmailAddress", "NoEmail", "The address is not a valid email address."),
  "bounce-manually-deactivated.json": bounce("hard", "ManuallyDeactivated", "Suppressed", "The email was manually deactivated."),
  "bounce-soft.json": bounce("soft", "SoftBounce", "General", "Unable to temporarily deliver this email."),
  "bounce-transient.json": bounce("soft", "Transient", "General", "The server could not temporarily deliver your message (ex: Message is delayed due to network troubles)."),
  "bounce-dns-error.json": bounce("soft", "DnsError", "General", "A temporary DNS error."),
  "bounce-spam-complaint.json": { kind: "complained", providerType: "Bounce" },
  "bounce-spam-notification.json": { kind: undefined, providerType: "Bounce", reason: "SpamNotification: Test bounce details" },
  "bounce-auto-responder.json": { kind: undefined, providerType: "Bounce", reason: "AutoResponder: Test bounce details" },
  "delivery.json": { kind: "delivered", providerType: "Delivery", messageId: "00000000-0000-0000-0000-000000000000", recipients: ["john@example.com"] },
  "spam-complaint.json": { kind: "complained", providerType: "SpamComplaint", recipients: ["john@example.com"], from: "sender@example.com", subject: "Test subject" },
  "open.json": {
    kind: "opened",
    open: { ipAddress: "188.2.95.4", userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/35.0.1916.153 Safari/537.36" },
  },
  "click.json": {
    kind: "clicked",
    click: { link: "https://example.com", ipAddress: "188.2.95.4", userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.110 Safari/537.36" },
  },
  "subscription-change-unsubscribe.json": { kind: "unsubscribed", providerType: "SubscriptionChange", recipients: ["unsubscribed-address@wildbit.com"], reason: "ManualSuppression" },
  "subscription-change-hard-bounce.json": { kind: undefined, providerType: "SubscriptionChange", reason: "suppressed by Postmark after HardBounce" },
  "subscription-change-reactivation.json": { kind: undefined, providerType: "SubscriptionChange", messageId: "", reason: "reactivated" },
};

describe("Postmark adapter", () => {
  it("maps every documented record and bounce type to its kind, keeping Postmark's own detail", () => {
    expect(readdirSync(fixtures).filter((name) => name.endsWith(".json")).sort()).toEqual(Object.keys(documented).sort());
    for (const [file, expected] of Object.entries(documented)) expect(only(fixture(file)), file).toMatchObject({ provider: "postmark", ...expected });
  });

  it("reads the message id, the time of each record type, the sender, the subject and the metadata as tags", () => {
    expect(only(fixture("bounce-hard.json"))).toMatchObject({
      messageId: "883953f4-6105-42a2-a16a-77a8eac79483",
      eventTime: new Date("2019-11-05T16:33:54.907Z"),
      from: "sender@example.com",
      subject: "Test subject",
      tags: { a_key: "a_value", b_key: "b_value", tag: "Test" },
    });
    expect(only(fixture("subscription-change-unsubscribe.json")).eventTime).toEqual(new Date("2020-02-01T10:53:34.416Z"));
    expect(only(fixture("open.json")).eventTime).toEqual(new Date("2019-11-05T16:33:54.907Z"));
    expect(only({ ...record("bounce-soft.json"), Details: "smtp;452 4.2.2 The email account that you tried to reach is over quota." }).bounce?.smtpStatus).toBe("4.2.2");
  });

  it("derives the event id from record type, message id, event time, bounce id, recipient and link, exactly", () => {
    const delivery = record("delivery.json");
    const expected = createHash("sha256")
      .update(JSON.stringify(["Delivery", "00000000-0000-0000-0000-000000000000", "2019-11-05T16:33:54.9070259Z", "", "john@example.com", ""]))
      .digest("hex");
    expect(only(delivery).eventId).toBe(`pm_${expected}`);
    const hard = createHash("sha256")
      .update(JSON.stringify(["Bounce", "883953f4-6105-42a2-a16a-77a8eac79483", "2019-11-05T16:33:54.9070259Z", "4323372036854775807", "john@example.com", ""]))
      .digest("hex");
    expect(only(fixture("bounce-hard.json")).eventId).toBe(`pm_${hard}`);
  });

  it("gives a retried or replayed record the same event id, and every documented record its own", () => {
    const ids = Object.keys(documented).map((file) => only(fixture(file)).eventId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const file of Object.keys(documented)) expect(only(fixture(file)).eventId, file).toBe(only(fixture(file)).eventId);
    // Fields outside the identity (a re-rendered Details, say) do not change it.
    const rerendered = fixture("bounce-hard.json").toString().replace('"Details": "Test bounce details"', '"Details": "other"');
    expect(rerendered).toContain('"Details": "other"');
    expect(only(Buffer.from(rerendered)).eventId).toBe(only(fixture("bounce-hard.json")).eventId);
  });

  it("keeps bounces whose 64-bit IDs differ only past 2^53 apart", () => {
    const base = fixture("bounce-hard.json").toString();
    const next = base.replace('"ID": 4323372036854775807', '"ID": 4323372036854775806');
    expect(next).not.toBe(base);
    expect(only(Buffer.from(next)).eventId).not.toBe(only(Buffer.from(base)).eventId);
  });

  it("gives two recipients of one message delivered at the same moment different event ids", () => {
    const delivery = record("delivery.json");
    expect(only({ ...delivery, Recipient: "jane@example.com" }).eventId).not.toBe(only(delivery).eventId);
  });

  it("gives clicks on two links at the same moment different event ids", () => {
    const click = record("click.json");
    expect(only({ ...click, OriginalLink: "https://example.com/pricing" }).eventId).not.toBe(only(click).eventId);
  });

  it("returns a record type it does not know with kind undefined and Postmark's name for it", () => {
    expect(only({ RecordType: "Inbound", MessageID: "m-1", Recipient: "a@example.com" })).toMatchObject({ kind: undefined, providerType: "Inbound", messageId: "m-1" });
    expect(only({ ...record("bounce-hard.json"), Type: "SomethingNew" })).toMatchObject({ kind: undefined, reason: "SomethingNew: Test bounce details" });
  });

  it("accepts the workspace's Basic credentials, and either of two during a rotation", async () => {
    const body = fixture("delivery.json");
    expect(await adapter.verify({ headers: basic(userPass), body, nowMs }, [credential])).toEqual({ ok: true });
    const next = `postmark-hooks:${randomBytes(18).toString("base64url")}`;
    const both = [adapter.parseCredential(next), credential];
    expect(await adapter.verify({ headers: basic(userPass), body, nowMs }, both)).toEqual({ ok: true });
    expect(await adapter.verify({ headers: basic(next), body, nowMs }, both)).toEqual({ ok: true });
    expect(await adapter.verify({ headers: { authorization: `basic   ${Buffer.from(userPass).toString("base64")}` }, body, nowMs }, [credential])).toEqual({ ok: true });
  });

  it("rejects wrong, partial, absent or malformed credentials as bad_credentials", async () => {
    const body = fixture("delivery.json");
    const [username, password] = [userPass.slice(0, userPass.indexOf(":")), userPass.slice(userPass.indexOf(":") + 1)];
    const cases: Record<string, Record<string, string>> = {
      "no header": {},
      "wrong password": basic(`${username}:${password}x`),
      "password only": basic(password),
      "wrong username": basic(`other:${password}`),
      "a prefix of the credentials": basic(userPass.slice(0, -1)),
      "a bearer token": { authorization: `Bearer ${password}` },
      "not base64": { authorization: "Basic !!!" },
      "an absurdly long header": { authorization: `Basic ${"A".repeat(4_096)}` },
    };
    for (const [what, headers] of Object.entries(cases)) {
      expect(await adapter.verify({ headers, body, nowMs }, [credential]), what).toEqual({ ok: false, reason: "bad_credentials" });
    }
    expect(await adapter.verify({ headers: basic(userPass), body, nowMs }, [])).toEqual({ ok: false, reason: "bad_credentials" });
  });

  it("requires a non-empty username and a password of at least 16 characters, without echoing either", () => {
    expect(() => adapter.parseCredential("hooks:0123456789abcdef")).not.toThrow();
    expect(adapter.parseCredential("hooks:pass:with:colons!").userPass.toString()).toBe("hooks:pass:with:colons!");
    const candidates: Record<string, string> = {
      empty: "",
      "no colon": "hooks0123456789abcdef",
      "no username": ":0123456789abcdefgh",
      "a 15-character password": "hooks:0123456789abcde",
      "a control character": "hooks:0123456789abcdef\n",
      "too long": `hooks:${"p".repeat(257)}`,
    };
    for (const [what, candidate] of Object.entries(candidates)) {
      expect(() => adapter.parseCredential(candidate), what).toThrow();
      try {
        adapter.parseCredential(candidate);
      } catch (error) {
        expect((error as Error).message, what).not.toContain("0123456789");
      }
    }
    expect(adapter.fingerprint(userPass)).toMatch(/^[0-9a-f]{8}$/);
    expect(adapter.fingerprint(userPass)).not.toContain(userPass.slice(0, 4));
  });

  it("throws BadProviderBodyError for verified bodies that are not a Postmark record, naming no address", () => {
    const delivery = record("delivery.json");
    const bodies: Record<string, unknown> = {
      "an array": [delivery],
      "no RecordType": { ...delivery, RecordType: undefined },
      "a RecordType that is a number": { ...delivery, RecordType: 3 },
      "a MessageID of 257 characters": { ...delivery, MessageID: `${"m".repeat(250)}@example.com` },
    };
    expectRefusedNamingNoAddress(adapter, bodies);
    expect(() => adapter.contents(Buffer.from("RecordType=Delivery"))).toThrow(/not JSON/);
  });

  it("bounds what it keeps: metadata tags at 50 of 256 characters, texts at 2,000", () => {
    const metadata = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`k${i}`, "v".repeat(300)]));
    const event = only({ ...record("bounce-hard.json"), Metadata: metadata, Details: "d".repeat(5_000) });
    expect(Object.keys(event.tags)).toHaveLength(50);
    expect(Object.values(event.tags).every((value) => value.length === 256)).toBe(true);
    expect(event.bounce?.diagnosticCode).toHaveLength(2_000);
  });
});
