import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadProviderBodyError, ProviderUnavailableError, type ProviderAdapter } from "./provider-adapter.ts";
import { createSesAdapter, maxTopicArnsPerCredential, type SesCredential } from "./ses.ts";
import type { FetchFunction } from "./sns-certificates.ts";
import {
  createTestSigner,
  notificationEnvelope,
  signEnvelope,
  snsRequest,
  startCertificateServer,
  testTopicArn,
  type CertificateServer,
  type TestSigner,
} from "../../../test/support/sns-test-kit.ts";

const fixture = (path: string): Record<string, any> =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/providers/ses/${path}`, import.meta.url), "utf8"));

const otherTopicArn = "arn:aws:sns:eu-west-1:210987654321:ses-events";
const delivery = fixture("event/delivery.json");

let signer: TestSigner;
let server: CertificateServer;
let adapter: ProviderAdapter<SesCredential>;
let credentials: SesCredential[];

beforeAll(async () => {
  signer = createTestSigner();
  server = await startCertificateServer(signer.certificatePem);
  adapter = createSesAdapter({ extraUrlPrefix: server.prefix });
  credentials = [adapter.parseCredential(`${testTopicArn}\n${otherTopicArn}`)];
});
afterAll(() => server.close());

const signed = (overrides: Record<string, unknown> = {}, version: "1" | "2" = "1") =>
  signEnvelope(notificationEnvelope(delivery, server, overrides), signer.privateKey, version);
const verify = (envelope: Record<string, unknown>, nowMs?: number, using = adapter) => using.verify(snsRequest(envelope, nowMs), credentials);
const fetchCount = () => [...server.hits.values()].reduce((sum, n) => sum + n, 0);

/** An adapter whose certificate fetches are recorded and answered with the test certificate, never sent anywhere. */
function adapterWithFetchSpy(): { adapter: ProviderAdapter<SesCredential>; fetched: string[]; inits: Parameters<FetchFunction>[1][] } {
  const fetched: string[] = [];
  const inits: Parameters<FetchFunction>[1][] = [];
  const fetch: FetchFunction = async (url, init) => {
    fetched.push(url);
    inits.push(init);
    return new Response(signer.certificatePem);
  };
  return { adapter: createSesAdapter({ fetch }), fetched, inits };
}

describe("SES (SNS) signature verification", () => {
  it("accepts notifications signed with SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA), fetching the certificate once", async () => {
    const before = server.hits.get("/certs/SimpleNotificationService-test.pem") ?? 0;
    expect(await verify(signed({}, "1"))).toEqual({ ok: true });
    expect(await verify(signed({ MessageId: "second" }, "2"))).toEqual({ ok: true });
    expect(await verify(signEnvelope(notificationEnvelope(delivery, server, { Subject: undefined }), signer.privateKey))).toEqual({ ok: true });
    expect((server.hits.get("/certs/SimpleNotificationService-test.pem") ?? 0) - before).toBeLessThanOrEqual(1);
  });

  it("fetches a certificate on an SNS host through the injected fetch, following no redirect and with a deadline", async () => {
    const spy = adapterWithFetchSpy();
    const url = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem";
    expect(await verify(signed({ SigningCertURL: url }), undefined, spy.adapter)).toEqual({ ok: true });
    expect(spy.fetched).toEqual([url]);
    expect(spy.inits[0]).toMatchObject({ redirect: "error" });
    expect(spy.inits[0]!.signal).toBeInstanceOf(AbortSignal);
  });

  it("accepts a message hours past its Timestamp: SNS retries with the original signature, and replays are deduplicated by MessageId", async () => {
    const envelope = signed({ Timestamp: "2024-03-01T10:00:00.000Z" });
    expect(await verify(envelope, Date.parse("2024-03-01T10:00:00.000Z") + 3 * 3600_000)).toEqual({ ok: true });
    expect(await verify(envelope, Date.parse("2024-03-01T10:00:00.000Z") - 3600_000)).toEqual({ ok: true });
  });

  it("rejects a body edited after signing, whichever signed field changed", async () => {
    const envelope = signed();
    const edits: Record<string, unknown>[] = [
      { Message: (envelope.Message as string).replace("recipient@example.com", "someone@example.com") },
      { MessageId: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf325" },
      { Timestamp: "2012-05-02T00:54:06.656Z" },
      { TopicArn: otherTopicArn },
      { Subject: "Changed" },
      { Subject: undefined },
      { SignatureVersion: "2" },
    ];
    for (const edit of edits) expect(await verify({ ...envelope, ...edit }), JSON.stringify(Object.keys(edit))).toEqual({ ok: false, reason: "bad_signature" });
    const raw = snsRequest(envelope);
    raw.body = Buffer.from(raw.body.toString().replace('"Subject":"My First Message"', '"Subject":"My First Message "'));
    expect(await adapter.verify(raw, credentials)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects a message signed by another key, an unknown SignatureVersion and a garbled signature as bad_signature", async () => {
    const stranger = createTestSigner();
    expect(await verify(signEnvelope(notificationEnvelope(delivery, server), stranger.privateKey))).toEqual({ ok: false, reason: "bad_signature" });
    expect(await verify({ ...signed(), SignatureVersion: "3" })).toEqual({ ok: false, reason: "bad_signature" });
    expect(await verify({ ...signed(), Signature: "not base64 at all!" })).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects as missing_signature what carries no SNS signature: a missing field, a raw SES record (raw message delivery), not JSON, an unknown Type", async () => {
    for (const name of ["Signature", "SigningCertURL", "SignatureVersion", "MessageId", "Timestamp", "TopicArn", "Message"]) {
      expect(await verify({ ...signed(), [name]: undefined }), name).toEqual({ ok: false, reason: "missing_signature" });
    }
    expect(await verify(delivery)).toEqual({ ok: false, reason: "missing_signature" });
    expect(await adapter.verify({ headers: {}, body: Buffer.from("Type=Notification"), nowMs: Date.now() }, credentials)).toEqual({ ok: false, reason: "missing_signature" });
    expect(await verify({ ...signed(), Type: "Notice" })).toEqual({ ok: false, reason: "missing_signature" });
    expect(await verify({ ...signed(), MessageId: "m".repeat(257) })).toEqual({ ok: false, reason: "missing_signature" });
  });

  it("rejects a topic the workspace does not allow as topic_not_allowed, before fetching any certificate", async () => {
    const before = fetchCount();
    const foreign = signEnvelope(notificationEnvelope(delivery, server, { TopicArn: "arn:aws:sns:us-west-2:123456789012:SomeoneElsesTopic", SigningCertURL: server.url("unseen.pem") }), signer.privateKey);
    expect(await verify(foreign)).toEqual({ ok: false, reason: "topic_not_allowed" });
    expect(await adapter.verify(snsRequest(signed()), [])).toEqual({ ok: false, reason: "topic_not_allowed" });
    expect(fetchCount()).toBe(before);
  });

  it("accepts a topic from either of two stored credentials (rotation)", async () => {
    const both = [adapter.parseCredential(otherTopicArn), adapter.parseCredential(testTopicArn)];
    expect(await adapter.verify(snsRequest(signed()), both)).toEqual({ ok: true });
    expect(await adapter.verify(snsRequest(signed()), [both[0]!])).toEqual({ ok: false, reason: "topic_not_allowed" });
  });

  it("rejects a certificate URL off the SNS hosts as bad_certificate_url and never fetches it", async () => {
    const spy = adapterWithFetchSpy();
    for (const url of [
      "https://sns.us-west-2.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
      "http://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
      "https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
      "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.txt",
      server.url("SimpleNotificationService-test.pem"),
    ]) {
      expect(await verify(signed({ SigningCertURL: url }), undefined, spy.adapter), url).toEqual({ ok: false, reason: "bad_certificate_url" });
    }
    expect(spy.fetched).toEqual([]);
  });

  it("throws ProviderUnavailableError (503, SNS retries) when the certificate cannot be fetched, and verifies once it can", async () => {
    const url = server.url("flaky.pem");
    server.answer = (path) => (path === "/certs/flaky.pem" ? { status: 503, body: "" } : { status: 200, body: signer.certificatePem });
    await expect(verify(signed({ SigningCertURL: url }))).rejects.toBeInstanceOf(ProviderUnavailableError);
    server.answer = () => ({ status: 200, body: signer.certificatePem });
    expect(await verify(signed({ SigningCertURL: url }))).toEqual({ ok: true });
  });
});

describe("SNS subscription messages", () => {
  const confirmation = (type: "subscription" | "unsubscribe", overrides: Record<string, unknown> = {}) =>
    signEnvelope({ ...fixture(`sns/${type}-confirmation.json`), SigningCertURL: server.url("SimpleNotificationService-test.pem"), ...overrides }, signer.privateKey, "2");

  it("verifies a SubscriptionConfirmation over its SubscribeURL and Token, and hands the gateway the URL to visit", async () => {
    const envelope = confirmation("subscription");
    expect(await verify(envelope)).toEqual({ ok: true });
    expect(adapter.contents(snsRequest(envelope).body)).toEqual({
      kind: "subscription_confirmation",
      topicArn: testTopicArn,
      subscribeUrl: "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37...",
    });
    for (const edit of [{ SubscribeURL: "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=other" }, { Token: "2336412f38..." }]) {
      expect(await verify({ ...envelope, ...edit })).toEqual({ ok: false, reason: "bad_signature" });
    }
    expect(await verify({ ...envelope, Token: undefined })).toEqual({ ok: false, reason: "missing_signature" });
  });

  it("verifies an UnsubscribeConfirmation over the confirmation fields and reports it", async () => {
    const envelope = confirmation("unsubscribe");
    expect(await verify(envelope)).toEqual({ ok: true });
    expect(adapter.contents(snsRequest(envelope).body)).toEqual({ kind: "unsubscribe_confirmation", topicArn: testTopicArn });
    expect(await verify({ ...envelope, Token: "2336412f37fb7..." })).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("refuses to hand over a signed SubscribeURL off the SNS hosts, and accepts one under the test prefix", async () => {
    const elsewhere = confirmation("subscription", { SubscribeURL: "https://169.254.169.254/latest/meta-data/" });
    expect(await verify(elsewhere)).toEqual({ ok: true });
    expect(() => adapter.contents(snsRequest(elsewhere).body)).toThrow(BadProviderBodyError);
    const local = confirmation("subscription", { SubscribeURL: `${server.prefix}confirm?Token=1` });
    expect(adapter.contents(snsRequest(local).body)).toMatchObject({ subscribeUrl: `${server.prefix}confirm?Token=1` });
  });
});

describe("SES credentials", () => {
  it("accepts topic ARNs of the aws, aws-cn and aws-us-gov partitions, several at once, each once", () => {
    expect(adapter.parseCredential("arn:aws:sns:us-east-1:123456789012:ses-events").topicArns).toEqual(["arn:aws:sns:us-east-1:123456789012:ses-events"]);
    expect(adapter.parseCredential(" arn:aws-cn:sns:cn-north-1:123456789012:t1, arn:aws-us-gov:sns:us-gov-west-1:123456789012:t_2\narn:aws-cn:sns:cn-north-1:123456789012:t1 ").topicArns).toEqual([
      "arn:aws-cn:sns:cn-north-1:123456789012:t1",
      "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t_2",
    ]);
    expect(adapter.parseCredential(`arn:aws:sns:eu-central-1:123456789012:${"a".repeat(251)}.fifo`).topicArns).toHaveLength(1);
  });

  it("refuses what is not an SNS topic ARN with a message that does not echo it", () => {
    const secretLooking = "arn:aws:sqs:us-east-1:123456789012:queue-name-7f3a";
    const bad: [string, RegExp][] = [
      ["", /required/],
      [secretLooking, /not of the form/],
      ["arn:aws:sns:us-east-1:12345678901:t", /not of the form/],
      ["arn:aws:sns:us-east-1:123456789012:", /not of the form/],
      ["arn:aws:sns:us-east-1:123456789012:a.b", /not of the form/],
      [`arn:aws:sns:us-east-1:123456789012:${"a".repeat(257)}`, /not of the form/],
      ["arn:aws:sns:cn-north-1:123456789012:t", /region outside its partition/],
      ["arn:aws-cn:sns:us-east-1:123456789012:t", /region outside its partition/],
      ["arn:aws-us-gov:sns:us-east-1:123456789012:t", /region outside its partition/],
      [`arn:aws:sns:us-east-1:123456789012:ok ${secretLooking}`, /topic ARN 2 of 2/],
      [Array.from({ length: maxTopicArnsPerCredential + 1 }, (_, i) => `arn:aws:sns:us-east-1:123456789012:t${i}`).join(","), /at most 10/],
      ["x".repeat(5000), /at most 4096 characters/],
    ];
    for (const [text, problem] of bad) {
      expect(() => adapter.parseCredential(text), text.slice(0, 60)).toThrow(problem);
      try {
        adapter.parseCredential(text);
      } catch (error) {
        expect((error as Error).message).not.toContain("queue-name-7f3a");
      }
    }
  });

  it("fingerprints a list the same whatever its order or separators, differently for another list, and never shows an ARN", () => {
    const a = adapter.fingerprint(`${testTopicArn},${otherTopicArn}`);
    expect(adapter.fingerprint(`${otherTopicArn}\n${testTopicArn}\n${testTopicArn}`)).toBe(a);
    expect(adapter.fingerprint(testTopicArn)).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{8}$/);
  });

  it("refuses an extra URL prefix that is plain http off loopback when the adapter is built", () => {
    expect(() => createSesAdapter({ extraUrlPrefix: "http://certs.example/" })).toThrow(/extraUrlPrefix must be https, or http on a loopback host/);
  });
});
