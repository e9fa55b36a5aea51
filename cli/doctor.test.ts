import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { freePort } from "../tools/local-servers.ts";
import { uniqueName, waitFor } from "../test/harness.ts";
import { postSigned } from "../test/support/gateway-test-kit.ts";
import { parseSecretKeys, sealSecret, secretFingerprint } from "../services/webhook-gateway/workspace/secret-box.ts";
import { startCliStack, type CliResult, type CliStack } from "./cli-test-kit.ts";
import { listDeadLetters } from "./dead-letters.ts";
import { sampleEmailEvent } from "./resend-samples.ts";
import { newWebhookSecret } from "./sign.ts";

/** The line of one check: its status and summary. */
function checkLine(result: CliResult, name: string): { status: string; summary: string } | undefined {
  const match = new RegExp(`^ {2}(ok|warn|fail) +${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} +(.*)$`, "m").exec(result.stdout);
  return match ? { status: match[1]!, summary: match[2]! } : undefined;
}

/** The lines printed under one check (details and fixes), up to the next check. */
function linesUnder(result: CliResult, name: string): string[] {
  const lines = result.stdout.split("\n");
  const start = lines.findIndex((line) => new RegExp(`^ {2}(ok|warn|fail) +${name} `).test(line));
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => /^ {2}(ok|warn|fail) /.test(line) || !line.startsWith(" "));
  return rest.slice(0, end).map((line) => line.trim());
}

const serviceChecks = ["service webhook-gateway", "service delivery-status", "service campaign-stats", "service suppression"];
const consumerChecks = ["delivery-status", "campaign-stats-events", "campaign-stats-sends", "suppression-events", "suppression-sends", "webhook-gateway-audit", "webhook-gateway-sends"].map(
  (name) => `consumer ${name}`,
);

describe("ngsreach doctor", () => {
  let stack: CliStack;
  const settings = () => stack.client(WorkspaceSettingsService, "webhook-gateway");
  const doctor = (workspaceId: string, ...more: string[]) => stack.cli(["doctor", "--workspace", workspaceId, ...more]);
  const post = (workspaceId: string, secret: string, type = "email.delivered", options: { timestamp?: number } = {}) =>
    postSigned(stack.url("webhook-gateway"), workspaceId, secret, JSON.stringify(sampleEmailEvent(type, { emailId: randomUUID() })), options);
  /** Runs the doctor until the health counts it reads include what the gateway has just recorded (flushed every 200 ms). */
  const doctorUntil = (workspaceId: string, done: (result: CliResult) => boolean) =>
    waitFor(async () => {
      const result = await doctor(workspaceId);
      return done(result) ? result : undefined;
    }, { what: "the doctor to see it" });

  beforeAll(async () => {
    stack = await startCliStack();
  });
  afterAll(async () => stack?.stop());

  it("a workspace without a credential: credentials fail with the secret set fix, and the doctor exits 1", async () => {
    const ws = uniqueName("ws");
    const unknown = await doctor(ws);
    expect(unknown.code).toBe(1);
    expect(checkLine(unknown, "credentials")).toEqual({ status: "fail", summary: `workspace ${ws} has no webhook settings: every webhook for it is answered 404` });
    expect(linesUnder(unknown, "credentials")).toEqual([
      expect.stringMatching(new RegExp(`^fix: set the credential of the provider that sends the events .*: ngsreach secret set --workspace ${ws} --provider P --secret -$`)),
      expect.stringContaining("; postmark: the webhook's basic-auth username:password;"),
      expect.stringContaining(`?workspaceId=${ws} (requests with a mistyped workspaceId are answered 400/404`),
    ]);
    for (const name of [...serviceChecks, "nats", ...consumerChecks, "dead letters"]) expect(checkLine(unknown, name)?.status, name).toBe("ok");
    expect(checkLine(unknown, "last event")?.status).toBe("warn");
    expect(unknown.stdout).toMatch(/\nsomething is wrong: 1 failed, 1 warning\(s\), 13 ok\n$/);

    await settings().setWebhookSecret({ workspaceId: ws, secret: newWebhookSecret(), actor: "test", note: "" });
    await settings().removeWebhookSecret({ workspaceId: ws, which: 2, actor: "test", note: "" }); // ALL
    const removed = await doctor(ws);
    expect(checkLine(removed, "credentials")).toEqual({ status: "fail", summary: "no active credential: every webhook for the workspace is answered 404" });
    expect(removed.code).toBe(1);
  });

  it("all fine: every check ok, the last event named, exit 0; --json carries the same checks", async () => {
    const ws = uniqueName("ws");
    const secret = newWebhookSecret();
    await settings().setWebhookSecret({ workspaceId: ws, secret, actor: "test", note: "" });
    await settings().setWebhookSecret({ workspaceId: ws, secret: "hooks:0123456789abcdefghij", provider: 4, actor: "test", note: "" }); // POSTMARK
    for (const type of ["email.sent", "email.delivered"]) expect((await post(ws, secret, type)).status).toBe(200);
    const fine = await doctorUntil(ws, (result) => result.code === 0);
    expect(fine.stderr).toBe("");
    for (const name of [...serviceChecks, "nats", "credentials", "last event", "rejections", ...consumerChecks, "dead letters"]) {
      expect(checkLine(fine, name)?.status, name).toBe("ok");
    }
    expect(checkLine(fine, "credentials")?.summary).toBe("configured for resend, postmark");
    expect(linesUnder(fine, "credentials")).toEqual([
      `resend: current ${secretFingerprint(secret)}`,
      expect.stringMatching(/^postmark: current [0-9a-f]{8}$/),
      "not configured (their webhooks are answered 404): ses, sendgrid, mailgun",
    ]);
    expect(checkLine(fine, "last event")?.summary).toMatch(/^email\.delivered from resend, stored \S+Z \(\d+ s ago\)$/);
    expect(checkLine(fine, "rejections")?.summary).toMatch(/^none since \S+Z \(2 request\(s\) accepted\)$/);
    expect(checkLine(fine, "service delivery-status")?.summary).toBe(`serving at ${stack.url("delivery-status")}`);
    expect(fine.stdout).toMatch(/\nnothing is wrong: 0 failed, 0 warning\(s\), 16 ok\n$/);

    const json = JSON.parse((await doctor(ws, "--json")).stdout);
    expect(json).toMatchObject({ workspaceId: ws, status: "ok" });
    expect(json.checks.map((c: { name: string }) => c.name)).toEqual([...serviceChecks, "nats", "credentials", "last event", "rejections", ...consumerChecks, "dead letters"]);
  });

  it("401s recorded: the rejections check fails with the fix for each reason", async () => {
    const ws = uniqueName("ws");
    const secret = newWebhookSecret();
    await settings().setWebhookSecret({ workspaceId: ws, secret, actor: "test", note: "" });
    const other = newWebhookSecret();
    for (let n = 0; n < 3; n++) expect((await post(ws, other)).status).toBe(401);
    expect((await post(ws, secret, "email.sent", { timestamp: Math.floor(Date.now() / 1000) - 3600 })).status).toBe(401);
    const result = await doctorUntil(ws, (r) => r.stdout.includes("401 bad signature: 3") && r.stdout.includes("401 expired timestamp: 1"));
    expect(result.code).toBe(1);
    expect(checkLine(result, "rejections")?.summary).toMatch(/^4 request\(s\) refused since \S+Z, 0 accepted: nothing got through$/);
    expect(linesUnder(result, "rejections")).toEqual([
      "401 bad signature: 3",
      "401 expired timestamp: 1",
      expect.stringMatching(new RegExp(`^fix: 401 bad signature: the signature matches no credential of the workspace: re-copy the signing secret from the provider's webhook settings .* ngsreach secret set --workspace ${ws} --provider P --secret -$`)),
      expect.stringMatching(/^fix: 401 expired timestamp: .*fix the gateway host's clock \(NTP\)/),
    ]);
    expect(checkLine(result, "credentials")?.status).toBe("ok");
    expect(checkLine(result, "last event")?.status).toBe("warn");
  });

  it("a secret the gateway cannot decrypt: credentials and rejections give the SECRETS_KEY fix", async () => {
    const ws = uniqueName("ws");
    const secret = newWebhookSecret();
    const sealed = sealSecret(parseSecretKeys(`gone:${Buffer.alloc(32, 5).toString("base64")}`), ws, secret);
    const fingerprint = secretFingerprint(secret);
    await stack.services["webhook-gateway"]!.context.mongo.db
      .collection("gateway_workspaces")
      .insertOne({ _id: ws, secrets: [{ sealed, fingerprint, role: "current", createdAt: new Date() }], version: 1, updatedAt: new Date() } as never);
    expect((await post(ws, secret)).status).toBe(503);
    const result = await doctorUntil(ws, (r) => r.stdout.includes("503 secret undecryptable: 1"));
    expect(result.code).toBe(1);
    expect(checkLine(result, "credentials")?.status).toBe("fail");
    expect(linesUnder(result, "credentials")).toEqual([
      `resend: current ${fingerprint} (CANNOT BE DECRYPTED)`,
      "not configured (their webhooks are answered 404): ses, sendgrid, postmark, mailgun",
      expect.stringMatching(/^fix: the secret was sealed with SECRETS_KEY key id "gone", .* then run "ngsreach secrets reencrypt"/),
    ]);
    expect(checkLine(result, "rejections")?.status).toBe("fail");
    expect(linesUnder(result, "rejections").at(-1)).toMatch(/^fix: 503 secret undecryptable: the secret was sealed with SECRETS_KEY key id "gone"/);
  });

  it("dead letters of the workspace are reported with the replay command; another workspace's are not", async () => {
    const [ws, other] = [uniqueName("ws"), uniqueName("ws")];
    const nats = stack.services["webhook-gateway"]!.context.nats;
    const garbage = new TextEncoder().encode("not an envelope");
    await nats.js.publish(`resend.events.${other}.email.delivered`, garbage);
    await nats.js.publish(`resend.events.${ws}.email.delivered`, garbage);
    const consumers = ["campaign-stats-events", "delivery-status", "suppression-events"];
    const letters = await waitFor(
      async () => {
        const all = await listDeadLetters(nats);
        const own = all.filter((letter) => letter.originalSubject.startsWith(`resend.events.${ws}.`));
        return all.filter((letter) => letter.originalSubject.includes(other)).length === 3 && own.length === 3 ? own : undefined;
      },
      { what: "three dead letters per workspace" },
    );
    const result = await doctor(ws);
    expect(result.code).toBe(1);
    expect(checkLine(result, "dead letters")).toEqual({ status: "fail", summary: "3 message(s) of this workspace were dead-lettered: their effects are missing" });
    const under = linesUnder(result, "dead letters");
    expect(under.filter((line) => line.startsWith("seq "))).toHaveLength(3);
    expect(under.join("\n")).not.toContain(other);
    for (const consumer of consumers) {
      const seq = letters.find((letter) => letter.consumer === consumer)!.seq;
      expect(under).toContain(`fix: after the fix: ngsreach dead-letters replay --consumer ${consumer} --seq ${seq}`);
    }
    expect(under.find((line) => line.startsWith("seq "))).toMatch(/^seq \d+ {2}\S+Z {2}\S+ {2}resend\.events\.\S+\.email\.delivered {2}1 attempt\(s\) {2}\S/);
  });

  it("NATS unreachable: the nats check fails naming NATS_URL", async () => {
    const natsUrl = `nats://127.0.0.1:${await freePort()}`;
    const result = await stack.cli(["doctor", "--workspace", uniqueName("ws")], { env: { NATS_URL: natsUrl } });
    expect(result.code).toBe(1);
    expect(checkLine(result, "nats")).toEqual({ status: "fail", summary: `cannot connect to NATS at ${natsUrl}` });
    expect(linesUnder(result, "nats")).toEqual(["fix: start NATS, or set NATS_URL to the servers the services use"]);
    expect(checkLine(result, "consumer delivery-status")).toBeUndefined();
  });

  it("a service down: its health check fails naming its URL variable, and its consumer is reported stuck", async () => {
    const ws = uniqueName("ws");
    const secret = newWebhookSecret();
    await settings().setWebhookSecret({ workspaceId: ws, secret, actor: "test", note: "" });
    const suppressionUrl = stack.url("suppression");
    await stack.services.suppression!.stop();
    delete stack.services.suppression;
    expect((await post(ws, secret, "email.bounced")).status).toBe(200);
    const { jsm } = stack.services["webhook-gateway"]!.context.nats;
    await waitFor(
      async () => {
        const running = await Promise.all(["delivery-status", "campaign-stats-events"].map((name) => jsm.consumers.info("RESEND_EVENTS", name)));
        return running.every((info) => info.num_pending + info.num_ack_pending === 0);
      },
      { what: "the running services to process the bounce" },
    );
    const result = await stack.cli(["doctor", "--workspace", ws], { env: { SUPPRESSION_URL: suppressionUrl } });
    expect(result.code).toBe(1);
    expect(checkLine(result, "service suppression")).toEqual({ status: "fail", summary: `nothing answers at ${suppressionUrl}` });
    expect(linesUnder(result, "service suppression")).toEqual(["fix: start it (npm start starts all four services), or set SUPPRESSION_URL to where it runs"]);
    expect(checkLine(result, "consumer suppression-events")).toEqual({ status: "fail", summary: "stuck: 1 message(s) waiting and none processed in 2 s" });
    expect(linesUnder(result, "consumer suppression-events")).toEqual([
      expect.stringMatching(/^\d not yet delivered, \d awaiting ack, \d redelivered$/),
      expect.stringMatching(/^this workspace's newest message \(stream seq \d+\) is not processed yet$/),
      expect.stringMatching(/^fix: check that suppression runs and is serving/),
    ]);
    for (const name of ["service webhook-gateway", "consumer delivery-status", "consumer suppression-sends"]) expect(checkLine(result, name)?.status, name).toBe("ok");

    const call = await stack.cli(["suppressions", "check", "--workspace", ws, "a@example.com"], { env: { SUPPRESSION_URL: suppressionUrl } });
    expect(call).toMatchObject({ code: 1, stderr: `ngsreach: cannot reach suppression at ${suppressionUrl} (is it running? SUPPRESSION_URL says where) [Unavailable]\n` });
  });
});
