import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Provider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { kindsOf, postmarkRecord, sendgridEvent, sesMessage, type SampleKind } from "../../cli/provider-samples.ts";
import { mailgunRequest, postmarkRequest, sendgridRequest, sesRequest, signSnsEnvelope } from "../../cli/provider-sign.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import type { NatsHandles } from "../shared/nats.ts";
import { providerToApi } from "../shared/providers.ts";
import { privateNats, testBaseConfig, uniqueName } from "../../test/harness.ts";
import { natsReader, startGateway, storedEvents, type TestGateway } from "../../test/support/gateway-test-kit.ts";
import { postProvider, providerSenders, type OtherProvider, type ProviderSenders } from "../../test/support/provider-senders.ts";

const others: OtherProvider[] = ["ses", "sendgrid", "postmark", "mailgun"];
const expectedType = (kind: SampleKind) => `email.${kind === "hard_bounce" || kind === "soft_bounce" ? "bounced" : kind}`;
const audit = { actor: "test", note: "" };

describe("the webhook endpoints of SES, SendGrid, Postmark and Mailgun", () => {
  let gateway: TestGateway;
  let nats: NatsHandles;
  let kit: ProviderSenders;

  /** A workspace with every provider's credential set. */
  async function configuredWorkspace(): Promise<string> {
    const workspaceId = uniqueName("ws");
    for (const provider of others) {
      await gateway.settings.setWebhookSecret({ workspaceId, secret: kit.senders[provider].credential, provider: providerToApi(provider), ...audit });
    }
    return workspaceId;
  }

  beforeAll(async () => {
    kit = await providerSenders();
    const natsUrl = (await privateNats()).url;
    gateway = await startGateway(testBaseConfig({ natsUrl }), { SNS_EXTRA_CERT_URL_PREFIX: kit.certificates.prefix });
    nats = await natsReader(natsUrl);
  });
  afterAll(async () => {
    await nats?.nc.close();
    await gateway?.service.stop();
    await kit?.close();
  });

  it.each(others)("stores every event type of %s once, with its provider and namespaced ids", async (provider) => {
    const workspaceId = await configuredWorkspace();
    const sample = { messageId: `m-${uniqueName("id")}`, to: ["reader@example.com"] };
    for (const kind of kindsOf[provider]) {
      const request = kit.senders[provider].request(kind, sample);
      expect([kind, (await postProvider(gateway.url, provider, workspaceId, request)).status]).toEqual([kind, 200]);
      expect([kind, (await postProvider(gateway.url, provider, workspaceId, request)).body]).toEqual([kind, { status: "duplicate" }]); // a retry
    }
    const stored = await storedEvents(nats, workspaceId);
    expect(stored.map((event) => event.type)).toEqual(kindsOf[provider].map(expectedType));
    for (const event of stored) {
      expect(event.provider).toBe(providerToApi(provider));
      expect(event.svixId.startsWith(`${provider}:`)).toBe(true);
      expect(event.email?.emailId).toBe(`${provider}:${sample.messageId}`);
      expect(event.email?.providerType).not.toBe("");
    }
    const bounce = stored.find((event) => event.email?.detail.case === "bounce" && event.email.detail.value.type === "Permanent");
    expect(bounce?.email?.detail.value).toMatchObject({ smtpStatus: "5.1.1" });
  });

  it("answers 404 to a provider the workspace has no credential for, and to a workspace nobody configured", async () => {
    const workspaceId = uniqueName("ws");
    await gateway.settings.setWebhookSecret({ workspaceId, secret: newWebhookSecret(), ...audit }); // Resend only
    const request = kit.senders.sendgrid.request("delivered", { messageId: "m1", to: ["a@example.com"] });
    expect((await postProvider(gateway.url, "sendgrid", workspaceId, request)).status).toBe(404);
    expect((await postProvider(gateway.url, "sendgrid", uniqueName("nobody"), request)).status).toBe(404);
    expect((await fetch(`${gateway.url}/webhooks/sparkpost?workspaceId=${workspaceId}`, { method: "POST", body: "[]" })).status).toBe(404);
    expect(await storedEvents(nats, workspaceId)).toEqual([]);
  });

  it("answers 401 with no effect to a wrong signature, wrong credentials, a stale timestamp, a foreign topic and a reused Mailgun token", async () => {
    const workspaceId = await configuredWorkspace();
    const sample = { messageId: "m-forged", to: ["victim@example.com"] };
    const other = await providerSenders(kit.senders.ses.credential);
    try {
      const forgeries: [OtherProvider, ReturnType<typeof sendgridRequest>, string][] = [
        ["sendgrid", other.senders.sendgrid.request("hard_bounce", sample), "bad_signature"],
        ["sendgrid", sendgridRequest(kit.sendgridKey, [sendgridEvent("hard_bounce", sample)], Math.floor(Date.now() / 1000) - 600), "expired_timestamp"],
        ["postmark", other.senders.postmark.request("hard_bounce", sample), "bad_credentials"],
        ["mailgun", other.senders.mailgun.request("hard_bounce", sample), "bad_signature"],
        ["ses", sesRequest({ ...kit.sns, topicArn: "arn:aws:sns:eu-west-1:123456789012:someone-else" }, sesMessage("hard_bounce", sample)), "topic_not_allowed"],
        ["ses", sesRequest({ ...kit.sns, certificateUrl: "https://example.com/cert.pem" }, sesMessage("hard_bounce", sample)), "bad_certificate_url"],
        ["ses", other.senders.ses.request("hard_bounce", sample), "bad_certificate_url"], // a key of its own, served where no SNS host is
      ];
      for (const [provider, request, outcome] of forgeries) {
        expect([provider, await postProvider(gateway.url, provider, workspaceId, request)]).toEqual([provider, { status: 401, body: expect.objectContaining({ error: outcome }) }]);
      }
      // A captured Mailgun signature pasted onto another event: the token was bound to its first event.
      const genuine = JSON.parse(kit.senders.mailgun.request("delivered", sample).body) as { signature: unknown };
      const replay = JSON.parse(kit.senders.mailgun.request("hard_bounce", sample).body) as Record<string, unknown>;
      expect((await postProvider(gateway.url, "mailgun", workspaceId, { headers: { "content-type": "application/json" }, body: JSON.stringify(genuine) })).status).toBe(200);
      const reused = { headers: { "content-type": "application/json" }, body: JSON.stringify({ ...replay, signature: genuine.signature }) };
      expect(await postProvider(gateway.url, "mailgun", workspaceId, reused)).toMatchObject({ status: 401, body: { error: "token_reused" } });
      expect((await storedEvents(nats, workspaceId)).map((event) => event.type)).toEqual(["email.delivered"]);
    } finally {
      await other.close();
    }
  });

  it("refuses on another gateway instance a Mailgun token already bound to another event (the memory is shared)", async () => {
    const other = await startGateway(gateway.service.context.config, { SNS_EXTRA_CERT_URL_PREFIX: kit.certificates.prefix });
    try {
      const workspaceId = await configuredWorkspace();
      const sample = { messageId: "m-shared", to: ["a@example.com"] };
      const genuine = JSON.parse(kit.senders.mailgun.request("delivered", sample).body) as { signature: unknown };
      const forged = JSON.parse(kit.senders.mailgun.request("hard_bounce", sample).body) as Record<string, unknown>;
      const json = { "content-type": "application/json" };
      expect((await postProvider(gateway.url, "mailgun", workspaceId, { headers: json, body: JSON.stringify(genuine) })).status).toBe(200);
      const reused = { headers: json, body: JSON.stringify({ ...forged, signature: genuine.signature }) };
      expect(await postProvider(other.url, "mailgun", workspaceId, reused)).toMatchObject({ status: 401, body: { error: "token_reused" } });
      expect((await postProvider(other.url, "mailgun", workspaceId, { headers: json, body: JSON.stringify(genuine) })).body).toEqual({ status: "duplicate" });
    } finally {
      await other.service.stop();
    }
  });

  it("accepts Mailgun's own retry of an event with its original signature, however late, and a new token for the same event", async () => {
    const workspaceId = await configuredWorkspace();
    const late = mailgunRequest(kit.senders.mailgun.credential, { id: "evt-late", event: "delivered", timestamp: Date.now() / 1000, message: { headers: { "message-id": "m-late" } } }, { timestampSeconds: Math.floor(Date.now() / 1000) - 3 * 3600 });
    expect((await postProvider(gateway.url, "mailgun", workspaceId, late)).status).toBe(200);
    expect((await postProvider(gateway.url, "mailgun", workspaceId, late)).body).toEqual({ status: "duplicate" });
    expect((await storedEvents(nats, workspaceId)).map((event) => event.svixId)).toEqual(["mailgun:evt-late"]);
  });

  it("stores a SendGrid array of 100 events as 100 events once, also when the POST is retried, and takes a 2 MiB batch", async () => {
    const workspaceId = await configuredWorkspace();
    const kinds = kindsOf.sendgrid;
    const batch = Array.from({ length: 100 }, (_, i) => sendgridEvent(kinds[i % kinds.length]!, { messageId: `m${i % 10}`, to: [`r${i % 10}@example.com`] }));
    const request = sendgridRequest(kit.sendgridKey, batch);
    expect(await postProvider(gateway.url, "sendgrid", workspaceId, request)).toEqual({ status: 200, body: { status: "accepted" } });
    expect(await postProvider(gateway.url, "sendgrid", workspaceId, request)).toEqual({ status: 200, body: { status: "duplicate" } });
    const stored = await storedEvents(nats, workspaceId);
    expect(stored).toHaveLength(100);
    expect(new Set(stored.map((event) => event.svixId))).toEqual(new Set(batch.map((event) => `sendgrid:${event.sg_event_id as string}`)));
    // Each envelope keeps its own event's JSON, not the whole batch.
    expect(JSON.parse(Buffer.from(stored[0]!.rawBody).toString())).toEqual(batch.find((event) => `sendgrid:${event.sg_event_id as string}` === stored[0]!.svixId));

    const big = Array.from({ length: 4_000 }, (_, i) => ({ ...sendgridEvent("opened", { messageId: `big${i}`, to: ["b@example.com"] }), padding: "x".repeat(400) }));
    const bigRequest = sendgridRequest(kit.sendgridKey, big);
    expect(Buffer.byteLength(bigRequest.body)).toBeGreaterThan(2 * 1024 * 1024);
    expect((await postProvider(gateway.url, "sendgrid", workspaceId, bigRequest)).status).toBe(200);
  });

  it("stores an SES bounce of three of five recipients with exactly those three, named", async () => {
    const workspaceId = await configuredWorkspace();
    const message = sesMessage("hard_bounce", { messageId: "ses-multi", to: ["a@example.com", "b@example.com", "c@example.com"] });
    (message.mail as Record<string, unknown>).destination = ["a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"];
    expect((await postProvider(gateway.url, "ses", workspaceId, sesRequest(kit.sns, message, { version: "1" }))).status).toBe(200);
    const [stored] = await storedEvents(nats, workspaceId);
    expect(stored?.email).toMatchObject({ to: ["a@example.com", "b@example.com", "c@example.com"], recipientsNamed: true, emailId: "ses:ses-multi" });
  });

  it("takes a credential set through another instance at once, and answers 503 (not 401) while its credential cannot be decrypted", async () => {
    const other = await startGateway(gateway.service.context.config, { SNS_EXTRA_CERT_URL_PREFIX: kit.certificates.prefix });
    const locked = await startGateway(gateway.service.context.config, { SECRETS_KEY: `other:${Buffer.alloc(32, 7).toString("base64")}` });
    try {
      const workspaceId = await configuredWorkspace();
      const sample = { messageId: "m-rotated", to: ["a@example.com"] };
      const signedOld = kit.senders.postmark.request("delivered", sample);
      expect((await postProvider(gateway.url, "postmark", workspaceId, signedOld)).status).toBe(200); // cached now
      const rotated = `hooks:${"r".repeat(24)}`;
      await other.settings.rotateWebhookSecret({ workspaceId, newSecret: rotated, provider: Provider.POSTMARK, ...audit });
      const signedNew = postmarkRequest(rotated, postmarkRecord("opened", sample));
      expect((await postProvider(gateway.url, "postmark", workspaceId, signedNew)).status).toBe(200);
      expect(await postProvider(locked.url, "postmark", workspaceId, signedNew)).toMatchObject({ status: 503, body: { error: "secret_undecryptable" } });
    } finally {
      await other.service.stop();
      await locked.service.stop();
    }
  });

  it("confirms an SNS subscription by visiting its SubscribeURL, and counts confirmations and unsubscriptions in webhook health", async () => {
    const workspaceId = await configuredWorkspace();
    const topicArn = kit.senders.ses.credential;
    const base = (type: string) => JSON.parse(readFileSync(new URL(`../../test/fixtures/providers/ses/sns/${type}-confirmation.json`, import.meta.url), "utf8")) as Record<string, unknown>;
    const control = (type: "subscription" | "unsubscribe", subscribeUrl: string) => ({
      headers: { "content-type": "text/plain; charset=UTF-8" },
      body: JSON.stringify(signSnsEnvelope({ ...base(type), TopicArn: topicArn, SubscribeURL: subscribeUrl, SigningCertURL: kit.certificates.url("SimpleNotificationService-test.pem") }, kit.sns.privateKey)),
    });
    const confirmPath = `/certs/confirm-${uniqueName("t")}`;
    kit.certificates.answer = (path) => (path.endsWith(".pem") ? { status: 200, body: kit.sns.certificatePem } : path.startsWith(confirmPath) ? { status: 200, body: "<ConfirmSubscriptionResponse/>" } : { status: 404, body: "" });
    expect(await postProvider(gateway.url, "ses", workspaceId, control("subscription", `${kit.certificates.prefix.replace(/\/certs\/$/, "")}${confirmPath}?Token=1`))).toEqual({
      status: 200,
      body: { status: "subscription_confirmed" },
    });
    expect(kit.certificates.hits.get(`${confirmPath}?Token=1`)).toBe(1);
    // A confirmation SNS cannot answer is not lost: 503, and SNS sends it again.
    expect((await postProvider(gateway.url, "ses", workspaceId, control("subscription", `${kit.certificates.prefix}missing?Token=2`))).status).toBe(503);
    expect((await postProvider(gateway.url, "ses", workspaceId, control("unsubscribe", `${kit.certificates.prefix}x`))).body).toEqual({ status: "unsubscribe_confirmed" });
    expect(gateway.logs.join("\n")).not.toContain("Token=1");
    await expect.poll(async () => {
      const health = await gateway.settings.getWebhookHealth({ workspaceId });
      return [health.snsSubscriptionsConfirmed, health.snsUnsubscribed];
    }, { timeout: 5_000 }).toEqual([1n, 1n]);
    expect(await storedEvents(nats, workspaceId)).toEqual([]);
  });
});

