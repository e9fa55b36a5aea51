import { request } from "node:http";
import { connect } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhookSecretRole, WebhookSecretSelector } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret, signedHeaders, signWebhook } from "../../cli/sign.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import type { NatsHandles } from "../shared/nats.ts";
import { natsReader, postSigned, postWebhook, startGateway, storedEvents, type TestGateway } from "../../test/support/gateway-test-kit.ts";

describe("the webhook endpoint", () => {
  let gateway: TestGateway;
  let nats: NatsHandles;
  const workspace = uniqueName("ws");
  const secret = newWebhookSecret();
  const body = JSON.stringify(sampleEmailEvent("email.delivered", { emailId: "e-1", tags: { campaign_id: "c1" } }));

  beforeAll(async () => {
    const server = await privateNats();
    gateway = await startGateway(testBaseConfig({ natsUrl: server.url }), { WEBHOOK_MAX_BODY_BYTES: "4096" });
    nats = await natsReader(server.url);
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "setup" });
  });
  afterAll(async () => {
    await nats?.nc.close();
    await gateway?.service.stop();
  });

  it("stores a verified event once and answers 200 only after JetStream acknowledged it", async () => {
    const response = await postSigned(gateway.url, workspace, secret, body, { id: "msg_first" });
    expect(response).toEqual({ status: 200, body: { status: "accepted" } });
    const [event, ...rest] = await storedEvents(nats, workspace);
    expect(rest).toEqual([]);
    expect(event!.svixId).toBe("msg_first");
    expect(event!.type).toBe("email.delivered");
    expect(event!.email?.emailId).toBe("e-1");
    expect(event!.email?.tags).toEqual({ campaign_id: "c1" });
    expect(Buffer.from(event!.rawBody).toString()).toBe(body);
  });

  it("answers 200 to the same svix-id again and stores nothing new", async () => {
    const again = await postSigned(gateway.url, workspace, secret, body, { id: "msg_first" });
    expect(again).toEqual({ status: 200, body: { status: "duplicate" } });
    expect((await storedEvents(nats, workspace)).filter((event) => event.svixId === "msg_first")).toHaveLength(1);
  });

  it("stores event types no service acts on, so Resend never disables the endpoint", async () => {
    for (const type of ["contact.created", "domain.updated", "email.scheduled", "email.something_new!"]) {
      const response = await postSigned(gateway.url, workspace, secret, JSON.stringify({ type, created_at: new Date().toISOString(), data: {} }));
      expect(response.status).toBe(200);
    }
    const types = (await storedEvents(nats, workspace)).map((event) => event.type);
    expect(types).toEqual(expect.arrayContaining(["contact.created", "domain.updated", "email.scheduled", "email.something_new!"]));
  });

  it("accepts webhook-* headers and a signature header with several entries, any of which matches", async () => {
    const other = newWebhookSecret();
    const now = Math.floor(Date.now() / 1000);
    const response = await postWebhook(gateway.url, workspace, body, {
      "webhook-id": "msg_std",
      "webhook-timestamp": String(now),
      "webhook-signature": `${signWebhook(other, "msg_std", now, body)} ${signWebhook(secret, "msg_std", now, body)}`,
    });
    expect(response.status).toBe(200);
  });

  it("reads tags in both of Resend's forms and timestamps with Z or +00:00", async () => {
    const asArray = sampleEmailEvent("email.opened", { emailId: "e-tags", tags: { campaign_id: "c9", subscriber_id: "s9" }, tagsAsArray: true });
    (asArray.data as Record<string, unknown>).created_at = "2026-11-26T10:00:00.123456+00:00";
    asArray.created_at = "2026-11-26T10:00:01.5Z";
    await postSigned(gateway.url, workspace, secret, JSON.stringify(asArray), { id: "msg_tags" });
    const event = (await storedEvents(nats, workspace)).find((stored) => stored.svixId === "msg_tags")!;
    expect(event.email?.tags).toEqual({ campaign_id: "c9", subscriber_id: "s9" });
    expect(event.email?.createdAt?.nanos).toBe(123_456_000);
    expect(Number(event.eventTime?.seconds) * 1000 + event.eventTime!.nanos / 1e6).toBe(Date.parse("2026-11-26T10:00:01.5Z"));
  });

  describe("rejects, with no effect", () => {
    const countBefore = async () => (await storedEvents(nats, workspace)).length;

    it("any method but POST with 405", async () => {
      const before = await countBefore();
      const response = await fetch(`${gateway.url}/webhooks/resend?workspaceId=${workspace}`);
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
      expect(await countBefore()).toBe(before);
    });

    it("a missing, empty or malformed workspaceId with 400", async () => {
      for (const id of [null, "", "has space", "dots.not.allowed", "x".repeat(65), "a>b"]) {
        const response = await postWebhook(gateway.url, id, body, signedHeaders(secret, body));
        expect(response.status, String(id)).toBe(400);
        expect(response.body.error).toBe("bad_workspace_id");
      }
    });

    it("a body over the limit with 413, declared or chunked, without reading past the limit", async () => {
      const before = await countBefore();
      const big = JSON.stringify({ type: "email.sent", pad: "x".repeat(5000) });
      expect((await postSigned(gateway.url, workspace, secret, big)).status).toBe(413);
      const chunked = await new Promise<number>((resolve, reject) => {
        const req = request(`${gateway.url}/webhooks/resend?workspaceId=${workspace}`, {
          method: "POST",
          headers: { "transfer-encoding": "chunked", ...signedHeaders(secret, big) },
        });
        req.on("response", (res) => resolve(res.statusCode!));
        req.on("error", reject);
        for (let i = 0; i < 10; i++) req.write(big.slice(i * 500, (i + 1) * 500));
      });
      expect(chunked).toBe(413);
      expect(await countBefore()).toBe(before);
    });

    it("a client still uploading an oversized chunked body reads the 413 instead of a connection reset", async () => {
      // The gateway drains (and discards) a bounded overflow before it closes: closing with unread bytes
      // resets the connection, and a client still writing then loses the answer (seen in fault scenario 9).
      const before = await countBefore();
      const big = JSON.stringify({ type: "email.sent", pad: "x".repeat(900_000) }); // past the kernel buffers, within the drain
      const answers = [];
      for (let attempt = 0; attempt < 10; attempt++) answers.push(await uploadChunkedOnRawSocket(gateway.url, workspace, signedHeaders(secret, big), big));
      expect(answers).toEqual(Array(10).fill({ status: 413, reset: false }));
      expect(await countBefore()).toBe(before);
    });

    it("an unknown workspace, or one without a secret, with 404", async () => {
      expect((await postSigned(gateway.url, uniqueName("nobody"), secret, body)).status).toBe(404);
      const emptied = uniqueName("ws");
      await gateway.settings.setWebhookSecret({ workspaceId: emptied, secret, actor: "test", note: "" });
      await gateway.settings.removeWebhookSecret({ workspaceId: emptied, which: WebhookSecretSelector.ALL, actor: "test", note: "" });
      const response = await postSigned(gateway.url, emptied, secret, body);
      expect(response).toMatchObject({ status: 404, body: { error: "unknown_workspace" } });
      expect(await storedEvents(nats, emptied)).toEqual([]);
    });

    it("missing headers, a wrong signature, or a timestamp more than five minutes off with 401", async () => {
      const before = await countBefore();
      const now = Math.floor(Date.now() / 1000);
      const cases: Record<string, string>[] = [
        {},
        { "svix-id": "msg_x", "svix-timestamp": String(now) },
        signedHeaders(newWebhookSecret(), body),
        signedHeaders(secret, body + " "),
        signedHeaders(secret, body, { timestamp: now - 301 }),
        signedHeaders(secret, body, { timestamp: now + 310 }),
      ];
      const reasons = [];
      for (const headers of cases) {
        const response = await postWebhook(gateway.url, workspace, body, headers);
        expect(response.status).toBe(401);
        reasons.push(response.body.error);
      }
      expect(reasons).toEqual(["missing_headers", "missing_headers", "bad_signature", "bad_signature", "expired_timestamp", "expired_timestamp"]);
      expect(await countBefore()).toBe(before);
    });

    it("a signature made with workspace A's secret on workspace B's URL with 401", async () => {
      const other = uniqueName("wsB");
      await gateway.settings.setWebhookSecret({ workspaceId: other, secret: newWebhookSecret(), actor: "test", note: "" });
      expect((await postSigned(gateway.url, other, secret, body)).status).toBe(401);
      expect(await storedEvents(nats, other)).toEqual([]);
    });

    it("a signed body that is not JSON, or has no string type, with 400", async () => {
      const before = await countBefore();
      for (const bad of ["not json", "[]", '{"data":{}}', '{"type":42}', '{"type":""}']) {
        const response = await postSigned(gateway.url, workspace, secret, bad);
        expect(response).toMatchObject({ status: 400, body: { error: "bad_body" } });
      }
      expect(await countBefore()).toBe(before);
    });
  });

  it("reports webhook health per workspace: last accepted time and counts by outcome", async () => {
    const fresh = uniqueName("ws");
    await gateway.settings.setWebhookSecret({ workspaceId: fresh, secret, actor: "test", note: "" });
    await postSigned(gateway.url, fresh, secret, body, { id: "msg_h1" });
    await postSigned(gateway.url, fresh, secret, body, { id: "msg_h1" });
    await postSigned(gateway.url, fresh, newWebhookSecret(), body);
    await postSigned(gateway.url, fresh, secret, body, { timestamp: Math.floor(Date.now() / 1000) - 1000 });
    await postSigned(gateway.url, fresh, secret, "nope");
    await postSigned(gateway.url, fresh, secret, JSON.stringify({ type: "x", pad: "y".repeat(5000) }));
    const health = await waitFor(async () => {
      const current = await gateway.settings.getWebhookHealth({ workspaceId: fresh });
      return current.accepted === 1n ? current : undefined;
    });
    expect(health.duplicate).toBe(1n);
    expect(health.rejected).toMatchObject({ badSignature: 1n, expiredTimestamp: 1n, badBody: 1n, tooLarge: 1n });
    expect(health.lastAcceptedTime).toBeDefined();
    expect(health.activeSecretCount).toBe(1);
    expect(JSON.stringify(health.secrets, (_, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(secret.slice(6));
  });

  it("counts requests by status and outcome in /metrics, never by workspace id", async () => {
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/ngsreach_webhook_requests_total\{status="200",outcome="accepted",provider="resend"\} \d+/);
    expect(metrics).toMatch(/ngsreach_webhook_verify_duration_seconds_bucket\{le="[\d.]+",provider="resend"\} \d+/);
    expect(metrics).toMatch(/ngsreach_webhook_publish_duration_seconds_count [1-9]\d*/);
    expect(metrics).not.toContain(workspace);
  });

  it("never writes the secret or the body into the logs", () => {
    const logs = gateway.logs.join("\n");
    expect(logs).not.toContain(secret.slice(6));
    expect(logs).not.toContain('"email_id"');
  });
});

describe("workspace webhook secrets", () => {
  let gateway: TestGateway;
  let second: TestGateway;
  /** An instance on the same database that never hears the announcements (another NATS). */
  let deaf: TestGateway;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    const [server, elsewhere] = await Promise.all([privateNats(), privateNats()]);
    const config = testBaseConfig({ natsUrl: server.url });
    gateway = await startGateway(config, { WEBHOOK_SECRET_CACHE_SECONDS: "3600" });
    second = await startGateway(config, { WEBHOOK_SECRET_CACHE_SECONDS: "3600" });
    deaf = await startGateway({ ...config, natsUrl: elsewhere.url }, { WEBHOOK_SECRET_CACHE_SECONDS: "3600" });
  });
  afterAll(async () => {
    await gateway?.service.stop();
    await second?.service.stop();
    await deaf?.service.stop();
  });

  it("keeps the old secret valid during a rotation until it is removed", async () => {
    const workspace = uniqueName("ws");
    const [oldSecret, newSecret] = [newWebhookSecret(), newWebhookSecret()];
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret: oldSecret, actor: "test", note: "" });
    const rotated = await gateway.settings.rotateWebhookSecret({ workspaceId: workspace, newSecret, actor: "ops", note: "rotation" });
    expect(rotated.secrets.map((info) => info.role)).toEqual([WebhookSecretRole.CURRENT, WebhookSecretRole.PREVIOUS]);
    const expiresIn = Number(rotated.secrets[1]!.expireTime!.seconds) - now();
    expect(expiresIn).toBeGreaterThan(86_000);
    const body = JSON.stringify(sampleEmailEvent("email.sent"));
    expect((await postSigned(gateway.url, workspace, oldSecret, body)).status).toBe(200);
    expect((await postSigned(gateway.url, workspace, newSecret, body)).status).toBe(200);
    const removed = await gateway.settings.removeWebhookSecret({ workspaceId: workspace, actor: "ops", note: "done" });
    expect(removed.removedCount).toBe(1);
    expect((await postSigned(gateway.url, workspace, oldSecret, body)).status).toBe(401);
    expect((await postSigned(gateway.url, workspace, newSecret, body)).status).toBe(200);
  });

  it("stops accepting the old secret once its expiry passes", async () => {
    const workspace = uniqueName("ws");
    const [oldSecret, newSecret] = [newWebhookSecret(), newWebhookSecret()];
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret: oldSecret, actor: "test", note: "" });
    await gateway.settings.rotateWebhookSecret({ workspaceId: workspace, newSecret, oldSecretTtlSeconds: 1, actor: "t", note: "" });
    const body = JSON.stringify(sampleEmailEvent("email.sent"));
    await waitFor(async () => (await postSigned(gateway.url, workspace, oldSecret, body)).status === 401, { what: "expiry" });
    expect((await postSigned(gateway.url, workspace, newSecret, body)).status).toBe(200);
  });

  it("applies a rotation at once on every gateway instance, despite long cache lifetimes", async () => {
    const workspace = uniqueName("ws");
    const [oldSecret, newSecret] = [newWebhookSecret(), newWebhookSecret()];
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret: oldSecret, actor: "test", note: "" });
    const body = JSON.stringify(sampleEmailEvent("email.sent"));
    expect((await postSigned(second.url, workspace, oldSecret, body)).status).toBe(200); // cached on the second instance
    await gateway.settings.rotateWebhookSecret({ workspaceId: workspace, newSecret, oldSecretTtlSeconds: 0, actor: "t", note: "" });
    const status = await waitFor(async () => (await postSigned(second.url, workspace, newSecret, body)).status === 200 || undefined, {
      timeoutMs: 2000,
      what: "the second instance to accept the new secret",
    });
    expect(status).toBe(true);
    expect((await postSigned(second.url, workspace, oldSecret, body)).status).toBe(401);
  });

  it("verifies a secret rotated on another instance whose announcement never arrived, by reading its keys again", async () => {
    const workspace = uniqueName("ws");
    const [oldSecret, newSecret] = [newWebhookSecret(), newWebhookSecret()];
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret: oldSecret, actor: "test", note: "" });
    const body = JSON.stringify(sampleEmailEvent("email.sent"));
    expect((await postSigned(deaf.url, workspace, oldSecret, body)).status).toBe(200); // cached there for an hour
    await gateway.settings.rotateWebhookSecret({ workspaceId: workspace, newSecret, actor: "t", note: "" });
    // The first requests may come within the refresh bound (250 ms) of that load; then the keys are read again.
    const accepted = await waitFor(async () => (await postSigned(deaf.url, workspace, newSecret, body)).status === 200 || undefined, {
      timeoutMs: 5000,
      what: "the deaf instance to accept the new secret",
    });
    expect(accepted).toBe(true);
    expect((await postSigned(deaf.url, workspace, oldSecret, body)).status).toBe(200); // the old one stays valid meanwhile
  });

  it("rejects malformed secrets with InvalidArgument naming the field, without echoing them", async () => {
    const workspace = uniqueName("ws");
    for (const secret of ["", "whsec", "not_whsec_abc", "whsec_!!!!", "whsec_AAAA"]) {
      const error = await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "t", note: "" }).catch((e) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      expect((error as ConnectError).rawMessage).toMatch(/^secret: /);
      if (secret.length > 6) expect((error as ConnectError).rawMessage).not.toContain(secret.slice(6));
    }
    const badWorkspace = await gateway.settings.setWebhookSecret({ workspaceId: "a b", secret: newWebhookSecret(), actor: "", note: "" }).catch((e) => e);
    expect((badWorkspace as ConnectError).rawMessage).toMatch(/^workspace_id: /);
    const rotateMissing = await gateway.settings.rotateWebhookSecret({ workspaceId: uniqueName("none"), newSecret: newWebhookSecret(), actor: "", note: "" }).catch((e) => e);
    expect((rotateMissing as ConnectError).code).toBe(Code.NotFound);
  });

  it("stores secrets only encrypted, bound to their workspace", async () => {
    const workspace = uniqueName("ws");
    const secret = newWebhookSecret();
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" });
    const doc = await gateway.service.context.mongo.db.collection("gateway_workspaces").findOne({ _id: workspace as never });
    const stored = JSON.stringify(doc);
    expect(stored).not.toContain(secret.slice(6));
    expect(stored).toContain('"sealed":"v1.test.');
    // The ciphertext copied onto another workspace does not decrypt there: that workspace verifies nothing.
    const thief = uniqueName("ws");
    await gateway.settings.setWebhookSecret({ workspaceId: thief, secret: newWebhookSecret(), actor: "t", note: "" });
    const db = gateway.service.context.mongo.db.collection("gateway_workspaces");
    await db.updateOne({ _id: thief as never }, { $set: { secrets: (doc as unknown as { secrets: unknown[] }).secrets } });
    const response = await postSigned(second.url, thief, secret, JSON.stringify(sampleEmailEvent("email.sent")));
    expect(response.status).toBe(503);
  });
});

/**
 * Writes a whole chunked request on a raw socket at once; resolves with the status line's code (or
 * "no-answer") and whether the connection ended in a reset rather than a clean close.
 */
function uploadChunkedOnRawSocket(baseUrl: string, workspaceId: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number | "no-answer"; reset: boolean }>((resolve) => {
    const url = new URL(baseUrl);
    let received = "";
    let reset = false;
    const socket = connect(Number(url.port), url.hostname, () => {
      const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      socket.write(`POST /webhooks/resend?workspaceId=${workspaceId} HTTP/1.1\r\nHost: x\r\n${head}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
      const bytes = Buffer.from(body);
      for (let i = 0; i < bytes.length; i += 16 * 1024) {
        const chunk = bytes.subarray(i, i + 16 * 1024);
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write("\r\n");
      }
      socket.write("0\r\n\r\n");
    });
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on("data", (chunk) => (received += chunk.toString("latin1")));
    socket.on("error", (error: NodeJS.ErrnoException) => (reset ||= error.code === "ECONNRESET" || error.code === "EPIPE"));
    socket.on("close", () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
      resolve({ status: status ? Number(status) : "no-answer", reset });
    });
  });
}
