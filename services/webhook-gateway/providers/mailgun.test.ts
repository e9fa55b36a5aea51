import { createHmac, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createMailgunAdapter, defaultLateDeliveryHorizonSeconds } from "./mailgun.ts";
import { createInMemoryTokenMemory, type MailgunTokenMemory } from "./mailgun-tokens.ts";
import { BadProviderBodyError, ProviderUnavailableError, type ProviderEvent } from "./provider-adapter.ts";
import { expectRefusedNamingNoAddress } from "../../../test/support/provider-bodies.ts";

const fixtures = new URL("../../../test/fixtures/providers/mailgun/", import.meta.url);
type Body = { signature: Record<string, unknown>; "event-data": Record<string, unknown> };
const fixture = (name: string): Body => JSON.parse(readFileSync(new URL(name, fixtures), "utf8"));

const nowMs = Date.UTC(2026, 10, 27, 12, 0, 0);
const nowSeconds = nowMs / 1000;
const signingKey = `key-${randomBytes(16).toString("hex")}`;

const adapterWith = (tokens: MailgunTokenMemory = createInMemoryTokenMemory()) => createMailgunAdapter({ tokens });
const newToken = () => randomBytes(25).toString("hex");

/** What Mailgun does: hex HMAC-SHA256 of timestamp + token under the signing key, beside the event. */
function signed(body: Body, options: { key?: string; timestamp?: number; token?: string; parentKey?: string } = {}): Buffer {
  const timestamp = String(options.timestamp ?? nowSeconds);
  const token = options.token ?? newToken();
  const hmac = (key: string) => createHmac("sha256", key).update(timestamp + token).digest("hex");
  const signature: Record<string, string> = { timestamp, token, signature: hmac(options.key ?? signingKey) };
  if (options.parentKey) signature["parent-signature"] = hmac(options.parentKey);
  return Buffer.from(JSON.stringify({ ...body, signature }));
}

const events = (adapter: ReturnType<typeof adapterWith>, body: Buffer): ProviderEvent[] => {
  const contents = adapter.contents(body);
  if (contents.kind !== "events") throw new Error(`expected events, got ${contents.kind}`);
  return contents.events;
};

const withEvent = (body: Body, changes: Record<string, unknown>): Body => ({ ...body, "event-data": { ...body["event-data"], ...changes } });

const documented: Record<string, Partial<ProviderEvent>> = {
  "accepted.json": { kind: "sent", providerType: "accepted", eventId: "jxVuhYlhReaK3QsggHfFRA", messageId: "20180622182958.1.48906CB188F1A454@exmple.org", recipients: ["team@example.org"], subject: "Test Subject" },
  "delivered.json": { kind: "delivered", eventId: "hK7mQVt1QtqRiOfQXta4sw", recipients: ["john@example.com"], from: "sender@exmple.org" },
  "failed-permanent-delayed-bounce.json": {
    kind: "bounced",
    messageId: "20221019211537.93011d31ea99c5a8@test.com",
    bounce: {
      severity: "hard",
      type: "Permanent",
      subType: "General",
      providerType: "permanent/generic",
      diagnosticCode: "550 smtp; 550-5.1.1 The email account that you tried to reach does not exist.",
      smtpStatus: "5.1.1",
      message: "smtp; 550-5.1.1 The email account that you tried to reach does not exist.",
    },
  },
  "failed-temporary.json": {
    kind: "bounced",
    bounce: {
      severity: "soft",
      type: "Transient",
      subType: "General",
      providerType: "temporary/generic",
      diagnosticCode: "451 4.7.652 The mail server [xxx.xxx.xxx.xxx] has exceeded the maximum number of connections.",
      smtpStatus: "4.7.652",
      message: "4.7.652 The mail server [xxx.xxx.xxx.xxx] has exceeded the maximum number of connections.",
    },
  },
  "failed-permanent-suppress-bounce.json": { kind: "suppressed", reason: "suppress-bounce: Not delivering to previously bounced address", recipients: ["slava@mailgun.com"] },
  "opened.json": {
    kind: "opened",
    messageId: "20130821005614.19826.35976@samples.mailgun.org",
    open: { ipAddress: "111.111.111.111", userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 6_1 like Mac OS X) AppleWebKit/536.26 (KHTML, like Gecko) Mobile/10B143" },
  },
  "clicked.json": {
    kind: "clicked",
    click: {
      link: "http://example.com/signup",
      ipAddress: "123.123.123.321",
      userAgent: "Mozilla/5.0 (X11; Linux i686) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/28.0.1500.71 Chrome/28.0.1500.71 Safari/537.36",
    },
  },
  "unsubscribed.json": { kind: "unsubscribed", eventId: "W3X4JOhFT-OZidZGKKr9iA" },
  "complained.json": { kind: "complained", recipients: ["foo@example.com"], from: "John Doe <sender@example.com>" },
  "rejected.json": { kind: "failed", reason: "Sandbox subdomains are for test purposes only. Please add your own domain or add the address to authorized recipients in Account Settings." },
  "stored.json": { kind: undefined, providerType: "stored", recipients: [] },
};

describe("Mailgun adapter", () => {
  it("maps every documented event to its kind, keeping Mailgun's own detail", () => {
    const adapter = adapterWith();
    expect(readdirSync(fixtures).filter((name) => name.endsWith(".json")).sort()).toEqual(Object.keys(documented).sort());
    for (const [file, expected] of Object.entries(documented)) {
      const [event] = events(adapter, signed(fixture(file)));
      expect(event, file).toMatchObject({ provider: "mailgun", ...expected });
    }
  });

  it("reads the event's time, tags and user variables, and strips angle brackets from the message id", () => {
    const body = withEvent(fixture("delivered.json"), {
      tags: ["newsletter", "november"],
      "user-variables": { campaign_id: "c-1", subscriber_id: 42, nested: { no: "objects" } },
      message: { headers: { "message-id": "<20180622182958.1.48906CB188F1A454@exmple.org>" } },
    });
    const [event] = events(adapterWith(), signed(body));
    expect(event!.eventTime).toEqual(new Date(1529692199626));
    expect(event!.tags).toEqual({ campaign_id: "c-1", subscriber_id: "42", tags: "newsletter,november" });
    expect(event!.messageId).toBe("20180622182958.1.48906CB188F1A454@exmple.org");
  });

  it("counts a permanent failure after retries ran out as soft, and one for a suppression list as suppressed", () => {
    const adapter = adapterWith();
    const permanent = fixture("failed-permanent-delayed-bounce.json");
    expect(events(adapter, signed(withEvent(permanent, { reason: "bounce" })))[0]!.bounce?.severity).toBe("hard");
    expect(events(adapter, signed(withEvent(permanent, { reason: "old" })))[0]!.bounce).toMatchObject({ severity: "soft", providerType: "permanent/old" });
    for (const reason of ["suppress-bounce", "suppress-unsubscribe", "suppress-complaint"]) {
      expect(events(adapter, signed(withEvent(permanent, { reason })))[0]!.kind, reason).toBe("suppressed");
    }
    // Only a permanent failure names a list Mailgun skipped: a temporary one is a soft bounce whatever its reason.
    expect(events(adapter, signed(withEvent(permanent, { severity: "temporary", reason: "suppress-bounce" })))[0]!.bounce?.severity).toBe("soft");
  });

  it("verifies a body signed with the workspace's key, with either of two keys during a rotation, and by the parent account's signature", async () => {
    const adapter = adapterWith();
    const body = signed(fixture("delivered.json"));
    expect(await adapter.verify({ headers: {}, body, nowMs }, [adapter.parseCredential(signingKey)])).toEqual({ ok: true });
    const otherKey = `key-${randomBytes(16).toString("hex")}`;
    const both = [adapter.parseCredential(otherKey), adapter.parseCredential(signingKey)];
    expect(await adapter.verify({ headers: {}, body: signed(fixture("opened.json"), { key: otherKey }), nowMs }, both)).toEqual({ ok: true });
    const parentKey = `key-${randomBytes(16).toString("hex")}`;
    const subaccount = signed(fixture("clicked.json"), { key: `key-${randomBytes(16).toString("hex")}`, parentKey });
    expect(await adapter.verify({ headers: {}, body: subaccount, nowMs }, [adapter.parseCredential(parentKey)])).toEqual({ ok: true });
  });

  it("rejects a signature made with another key, or over another timestamp or token, as bad_signature", async () => {
    const adapter = adapterWith();
    const credentials = [adapter.parseCredential(signingKey)];
    const wrongKey = signed(fixture("delivered.json"), { key: `key-${randomBytes(16).toString("hex")}` });
    expect(await adapter.verify({ headers: {}, body: wrongKey, nowMs }, credentials)).toEqual({ ok: false, reason: "bad_signature" });
    const good = JSON.parse(signed(fixture("delivered.json")).toString()) as Body;
    for (const change of [{ timestamp: String(nowSeconds - 1) }, { token: newToken() }, { signature: "0".repeat(64) }, { signature: "not hex" }]) {
      const edited = Buffer.from(JSON.stringify({ ...good, signature: { ...good.signature, ...change } }));
      expect(await adapter.verify({ headers: {}, body: edited, nowMs }, credentials), JSON.stringify(change)).toEqual({ ok: false, reason: "bad_signature" });
    }
  });

  it("rejects a request without the signature block or any of its fields as missing_signature", async () => {
    const adapter = adapterWith();
    const credentials = [adapter.parseCredential(signingKey)];
    const good = JSON.parse(signed(fixture("delivered.json")).toString()) as Body;
    const bodies = [
      "timestamp=1&token=x&signature=y",
      JSON.stringify({ "event-data": good["event-data"] }),
      JSON.stringify([good]),
      ...["timestamp", "token", "signature"].map((field) => JSON.stringify({ ...good, signature: { ...good.signature, [field]: undefined } })),
      JSON.stringify({ ...good, signature: { ...good.signature, timestamp: "yesterday" } }),
      JSON.stringify({ ...good, signature: { ...good.signature, token: "t".repeat(257) } }),
    ];
    for (const body of bodies) {
      expect(await adapter.verify({ headers: {}, body: Buffer.from(body), nowMs }, credentials), body.slice(0, 60)).toEqual({ ok: false, reason: "missing_signature" });
    }
  });

  it("takes the same token with the same event again as Mailgun's retry, and with another event as token_reused", async () => {
    const tokens = createInMemoryTokenMemory();
    const adapter = adapterWith(tokens);
    const credentials = [adapter.parseCredential(signingKey)];
    const token = newToken();
    const original = signed(fixture("delivered.json"), { token });
    expect(await adapter.verify({ headers: {}, body: original, nowMs }, credentials)).toEqual({ ok: true });
    expect(await adapter.verify({ headers: {}, body: original, nowMs: nowMs + 60_000 }, credentials)).toEqual({ ok: true });
    // The signature does not cover the event: the captured block pasted onto another event verifies, and is caught here.
    const forged = signed(withEvent(fixture("delivered.json"), { id: "forged-event-id", recipient: "victim@example.com" }), { token });
    expect(await adapter.verify({ headers: {}, body: forged, nowMs }, credentials)).toEqual({ ok: false, reason: "token_reused" });
    expect(tokens.size()).toBe(1);
  });

  it("accepts a signature older than five minutes as a late retry, up to the horizon, and nothing older or from the future", async () => {
    const adapter = adapterWith();
    const credentials = [adapter.parseCredential(signingKey)];
    const at = (offsetSeconds: number) => adapter.verify({ headers: {}, body: signed(fixture("delivered.json"), { timestamp: nowSeconds + offsetSeconds }), nowMs }, credentials);
    // Mailgun's last retry comes 8 h 5 min after the first attempt (10+10+15+30+60+120+240 minutes).
    for (const lateSeconds of [301, 10 * 60, (8 * 60 + 5) * 60, defaultLateDeliveryHorizonSeconds]) expect(await at(-lateSeconds), `${lateSeconds}s late`).toEqual({ ok: true });
    expect(await at(-defaultLateDeliveryHorizonSeconds - 1)).toEqual({ ok: false, reason: "expired_timestamp" });
    expect(await at(300)).toEqual({ ok: true });
    expect(await at(301)).toEqual({ ok: false, reason: "expired_timestamp" });
  });

  it("lets a retry that arrives hours later with the original signature land, while the token still refuses another event", async () => {
    const adapter = adapterWith();
    const credentials = [adapter.parseCredential(signingKey)];
    const token = newToken();
    const firstAttemptSeconds = nowSeconds - 4 * 60 * 60;
    // The first attempt never reached the gateway (an outage); the retry four hours later carries its signature.
    const retry = signed(fixture("failed-temporary.json"), { token, timestamp: firstAttemptSeconds });
    expect(await adapter.verify({ headers: {}, body: retry, nowMs }, credentials)).toEqual({ ok: true });
    const forged = signed(withEvent(fixture("failed-temporary.json"), { id: "another" }), { token, timestamp: firstAttemptSeconds });
    expect(await adapter.verify({ headers: {}, body: forged, nowMs: nowMs + 60 * 60 * 1000 }, credentials)).toEqual({ ok: false, reason: "token_reused" });
  });

  it("keeps each signing key's tokens apart, so one workspace's traffic cannot bind another's token", async () => {
    const adapter = adapterWith();
    const otherKey = `key-${randomBytes(16).toString("hex")}`;
    const token = newToken();
    const mine = signed(fixture("delivered.json"), { token });
    const theirs = signed(withEvent(fixture("delivered.json"), { id: "their-event" }), { token, key: otherKey });
    expect(await adapter.verify({ headers: {}, body: theirs, nowMs }, [adapter.parseCredential(otherKey)])).toEqual({ ok: true });
    expect(await adapter.verify({ headers: {}, body: mine, nowMs }, [adapter.parseCredential(signingKey)])).toEqual({ ok: true });
  });

  it("binds no token for a request that fails verification", async () => {
    const tokens = createInMemoryTokenMemory();
    const adapter = adapterWith(tokens);
    const bad = signed(fixture("delivered.json"), { key: `key-${randomBytes(16).toString("hex")}` });
    expect((await adapter.verify({ headers: {}, body: bad, nowMs }, [adapter.parseCredential(signingKey)])).ok).toBe(false);
    const stale = signed(fixture("delivered.json"), { timestamp: nowSeconds - defaultLateDeliveryHorizonSeconds - 60 });
    expect((await adapter.verify({ headers: {}, body: stale, nowMs }, [adapter.parseCredential(signingKey)])).ok).toBe(false);
    expect(tokens.size()).toBe(0);
  });

  it("answers 503 (ProviderUnavailableError) when the token memory cannot be reached, so Mailgun retries", async () => {
    const down: MailgunTokenMemory = { bind: async () => Promise.reject(new Error("connection refused")) };
    const adapter = adapterWith(down);
    const body = signed(fixture("delivered.json"));
    await expect(adapter.verify({ headers: {}, body, nowMs }, [adapter.parseCredential(signingKey)])).rejects.toThrow(ProviderUnavailableError);
  });

  it("throws BadProviderBodyError for verified bodies that are not a v3 event, naming no address", async () => {
    const adapter = adapterWith();
    const delivered = fixture("delivered.json");
    const bodies: Record<string, Body | Record<string, unknown>> = {
      "no event-data": { signature: delivered.signature },
      "event-data that is a string": { ...delivered, "event-data": "example@test.com" },
      "no event id": withEvent(delivered, { id: undefined }),
      "an event id of 257 characters": withEvent(delivered, { id: "i".repeat(257) }),
      "no event type": withEvent(delivered, { event: undefined }),
      "a message id of 257 characters": withEvent(delivered, { message: { headers: { "message-id": `${"m".repeat(250)}@example.com` } } }),
    };
    expectRefusedNamingNoAddress(adapter, bodies);
    expect(() => adapter.contents(Buffer.from("{"))).toThrow(/not JSON/);
    // A signed body without a usable event id verifies (nothing can be stored from it) and is then refused.
    const noId = signed(withEvent(delivered, { id: undefined }));
    expect(await adapter.verify({ headers: {}, body: noId, nowMs }, [adapter.parseCredential(signingKey)])).toEqual({ ok: true });
    expect(() => adapter.contents(noId)).toThrow(BadProviderBodyError);
  });

  it("parses the signing key as Mailgun shows it and refuses others without echoing them", () => {
    const adapter = adapterWith();
    expect(adapter.parseCredential(`  ${signingKey}\n`).key.toString()).toBe(signingKey);
    expect(adapter.fingerprint(` ${signingKey} `)).toBe(adapter.fingerprint(signingKey));
    for (const candidate of ["", "   ", "short-key", `${signingKey} with spaces`, "k".repeat(257)]) {
      expect(() => adapter.parseCredential(candidate), JSON.stringify(candidate.slice(0, 20))).toThrow();
      try {
        adapter.parseCredential(candidate);
      } catch (error) {
        if (candidate.trim().length >= 8) expect((error as Error).message).not.toContain(candidate.trim().slice(0, 8));
      }
    }
  });

  it("refuses a horizon shorter than the five-minute window", () => {
    expect(() => createMailgunAdapter({ tokens: createInMemoryTokenMemory(), lateDeliveryHorizonSeconds: 299 })).toThrow(/at least 300/);
  });
});
