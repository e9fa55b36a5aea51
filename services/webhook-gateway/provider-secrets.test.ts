import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { WebhookSecretRole, WebhookSecretSelector, WebhookState } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateNats, testBaseConfig, testSecretsKey, uniqueName } from "../../test/harness.ts";
import { postSigned, startGateway, type TestGateway } from "../../test/support/gateway-test-kit.ts";
import { parseSecretKeys, sealSecret, secretFingerprint } from "./workspace/secret-box.ts";
import { credentialOf } from "../../test/support/provider-credentials.ts";

const body = JSON.stringify(sampleEmailEvent("email.sent"));

describe("webhook secrets of several providers through WorkspaceSettingsService", () => {
  let gateway: TestGateway;
  const workspaces = () => gateway.service.context.mongo.db.collection("gateway_workspaces");
  const audit = { actor: "test", note: "" };

  beforeAll(async () => {
    gateway = await startGateway(testBaseConfig({ natsUrl: (await privateNats()).url }));
  });
  afterAll(async () => gateway?.service.stop());

  it("sets, rotates and removes one provider's secrets, names the provider in every listing, and leaves Resend verifying", async () => {
    const workspaceId = uniqueName("ws");
    const resend = newWebhookSecret();
    await gateway.settings.setWebhookSecret({ workspaceId, secret: resend, ...audit }); // provider unset: Resend
    const set = await gateway.settings.setWebhookSecret({ workspaceId, secret: credentialOf.postmark(), provider: Provider.POSTMARK, ...audit });
    expect(set.secrets.map((secret) => [secret.provider, secret.role])).toEqual([[Provider.POSTMARK, WebhookSecretRole.CURRENT]]);
    const rotated = await gateway.settings.rotateWebhookSecret({ workspaceId, newSecret: credentialOf.postmark(), provider: Provider.POSTMARK, ...audit });
    expect(rotated.secrets.map((secret) => secret.provider)).toEqual([Provider.POSTMARK, Provider.POSTMARK]);

    const health = await gateway.settings.getWebhookHealth({ workspaceId });
    expect(health.secrets.map((secret) => [secret.provider, secret.role]).sort()).toEqual(
      [
        [Provider.RESEND, WebhookSecretRole.CURRENT],
        [Provider.POSTMARK, WebhookSecretRole.CURRENT],
        [Provider.POSTMARK, WebhookSecretRole.PREVIOUS],
      ].sort(),
    );
    expect([health.activeSecretCount, health.previousSecretExpireTime]).toEqual([1, undefined]); // Resend's, as before
    expect((await postSigned(gateway.url, workspaceId, resend, body)).status).toBe(200);

    const removed = await gateway.settings.removeWebhookSecret({ workspaceId, which: WebhookSecretSelector.ALL, provider: Provider.POSTMARK, ...audit });
    expect(removed).toMatchObject({ removedCount: 2, secrets: [] });
    const left = await gateway.settings.getWebhookHealth({ workspaceId });
    expect(left.secrets.map((secret) => [secret.provider, secret.fingerprint])).toEqual([[Provider.RESEND, secretFingerprint(resend)]]);
    expect((await postSigned(gateway.url, workspaceId, resend, body)).status).toBe(200);
  });

  it("refuses a malformed credential or an unknown provider with InvalidArgument naming the field, without echoing it", async () => {
    const workspaceId = uniqueName("ws");
    const whsec = newWebhookSecret();
    const notPostmark = await gateway.settings.setWebhookSecret({ workspaceId, secret: whsec, provider: Provider.POSTMARK, ...audit }).catch((e) => e);
    expect(notPostmark).toBeInstanceOf(ConnectError);
    expect(notPostmark).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^secret: must be username:password/) });
    expect((notPostmark as ConnectError).rawMessage).not.toContain(whsec.slice(6));
    const unknown = await gateway.settings.setWebhookSecret({ workspaceId, secret: whsec, provider: 99 as Provider, ...audit }).catch((e) => e);
    expect(unknown).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^provider: /) });
    expect(await workspaces().findOne({ _id: workspaceId as never })).toBeNull();
  });

  it("verifies Resend webhooks with a secret stored before providers existed, and manages it as Resend's", async () => {
    const workspaceId = uniqueName("ws");
    const legacy = newWebhookSecret();
    const sealed = sealSecret(parseSecretKeys(testSecretsKey), workspaceId, legacy);
    const stored = { sealed, fingerprint: secretFingerprint(legacy), role: "current", createdAt: new Date() };
    await workspaces().insertOne({ _id: workspaceId, secrets: [stored], version: 1, updatedAt: new Date() } as never);
    expect((await postSigned(gateway.url, workspaceId, legacy, body)).status).toBe(200);

    const health = await gateway.settings.getWebhookHealth({ workspaceId });
    expect(health.secrets.map((secret) => secret.provider)).toEqual([Provider.RESEND]);
    const next = newWebhookSecret();
    const rotated = await gateway.settings.rotateWebhookSecret({ workspaceId, newSecret: next, ...audit });
    expect(rotated.secrets.map((secret) => [secret.provider, secret.fingerprint])).toEqual([
      [Provider.RESEND, secretFingerprint(next)],
      [Provider.RESEND, secretFingerprint(legacy)],
    ]);
    expect((await postSigned(gateway.url, workspaceId, legacy, body)).status).toBe(200); // still valid as the previous one
    expect((await postSigned(gateway.url, workspaceId, next, body)).status).toBe(200);
  });

  it("never verifies a Resend webhook with another provider's credential, even one shaped like a Svix secret", async () => {
    const workspaceId = uniqueName("ws");
    const mailgunKey = newWebhookSecret(); // printable, long enough: a valid Mailgun signing key
    await gateway.settings.setWebhookSecret({ workspaceId, secret: mailgunKey, provider: Provider.MAILGUN, ...audit });
    expect((await postSigned(gateway.url, workspaceId, mailgunKey, body)).status).toBe(404); // no Resend secret at all
    // /webhooks/mailgun works with it, so health says OK.
    expect((await gateway.settings.getWebhookHealth({ workspaceId })).state).toBe(WebhookState.OK);
    const resend = newWebhookSecret();
    await gateway.settings.setWebhookSecret({ workspaceId, secret: resend, provider: Provider.RESEND, ...audit });
    expect((await postSigned(gateway.url, workspaceId, mailgunKey, body)).status).toBe(401);
    expect((await postSigned(gateway.url, workspaceId, resend, body)).status).toBe(200);
    expect((await gateway.settings.getWebhookHealth({ workspaceId })).state).toBe(WebhookState.OK);
  });
});
