import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider } from "../gen/ngsreach/events/v1/provider_pb.ts";
import type { NatsHandles } from "../services/shared/nats.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../test/harness.ts";
import { natsReader, startGateway, storedEvents, type TestGateway } from "../test/support/gateway-test-kit.ts";
import { freePort, repoRoot } from "../tools/local-servers.ts";
import { kindsOf, type SampleKind } from "./provider-samples.ts";

const run = promisify(execFile);
type Simulated = keyof typeof kindsOf;
const providerEnum: Record<Simulated, Provider> = { ses: Provider.SES, sendgrid: Provider.SENDGRID, postmark: Provider.POSTMARK, mailgun: Provider.MAILGUN };
const envelopeType = (kind: SampleKind) => `email.${kind === "hard_bounce" || kind === "soft_bounce" ? "bounced" : kind}`;

describe("ngsreach simulate --provider", () => {
  let gateway: TestGateway;
  let nats: NatsHandles;
  /** Where the gateway accepts SNS certificates from, and where simulate serves its own (a free port, not npm start's 8099). */
  let snsPrefix: string;
  const keyDir = mkdtempSync(join(tmpdir(), "simulate-test-"));

  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [join(repoRoot, "cli", "ngsreach.ts"), ...args], {
        env: { ...process.env, GATEWAY_URL: gateway.url, INTERNAL_TOKEN: "", SNS_EXTRA_CERT_URL_PREFIX: snsPrefix, NGSREACH_WEBHOOK_SECRET: "" },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };
  const answerLines = (stdout: string) => stdout.split("\n").filter((line) => /^ {2}\S+\s+\d{3} /.test(line));
  const emailIdIn = (stdout: string) => /for email (\S+) to /.exec(stdout)?.[1];

  beforeAll(async () => {
    snsPrefix = `http://127.0.0.1:${await freePort()}/`;
    const natsUrl = (await privateNats()).url;
    gateway = await startGateway(testBaseConfig({ natsUrl }), { SNS_EXTRA_CERT_URL_PREFIX: snsPrefix });
    nats = await natsReader(natsUrl);
  });
  afterAll(async () => {
    await nats?.nc.close();
    await gateway?.service.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it.each(Object.keys(kindsOf) as Simulated[])(
    "with --setup sets a test credential, sends every event type of %s for one email, each answered 200, and each is on the stream once",
    async (provider) => {
      const workspaceId = uniqueName("ws");
      const result = await cli("simulate", "--provider", provider, "--workspace", workspaceId, "--setup");
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`test credential set for workspace ${workspaceId} \\(${provider}\\)\\n\\s+current\\s+fingerprint [0-9a-f]{8}\\s+${provider}\\n`));
      const events = answerLines(result.stdout).filter((line) => !line.includes("SubscriptionConfirmation"));
      expect(events).toEqual(kindsOf[provider].map((kind) => expect.stringMatching(new RegExp(`^ {2}${kind}\\s+200 \\{"status":"accepted"\\}$`))));

      const emailId = emailIdIn(result.stdout);
      expect(emailId?.startsWith(`${provider}:`)).toBe(true);
      const stored = await waitFor(async () => {
        const found = await storedEvents(nats, workspaceId);
        return found.length >= kindsOf[provider].length ? found : undefined;
      });
      expect(stored.map((event) => event.type)).toEqual(kindsOf[provider].map(envelopeType));
      for (const event of stored) {
        expect([event.provider, event.email?.emailId, event.email?.tags.campaign_id]).toEqual([providerEnum[provider], emailId, "simulated-campaign"]);
      }
    },
  );

  it("confirms the SES subscription first: the gateway visits the SubscribeURL simulate serves", async () => {
    const result = await cli("simulate", "--provider", "ses", "--workspace", uniqueName("ws"), "--setup");
    expect(result.stdout).toMatch(/\n {2}SubscriptionConfirmation\s+200 \{"status":"subscription_confirmed"\} {2}\(the gateway visited the SubscribeURL\)\n/);
  });

  it.each([
    ["sendgrid", "bad_signature"],
    ["mailgun", "bad_signature"],
    ["postmark", "bad_credentials"],
    ["ses", "topic_not_allowed"],
  ] as [Simulated, string][])("without --setup signs %s events with the credential given, which the workspace must hold: otherwise 401 %s and exit 1", async (provider, reason) => {
    const workspaceId = uniqueName("ws");
    const sendgridKey = () => {
      const file = join(keyDir, `${uniqueName("key")}.pem`);
      const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      writeFileSync(file, pair.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
      return { credential: pair.publicKey.export({ format: "der", type: "spki" }).toString("base64"), flags: ["--key-file", file] };
    };
    const secret = (credential: string) => ({ credential, flags: ["--secret", credential] });
    const fresh: Record<Simulated, () => { credential: string; flags: string[] }> = {
      sendgrid: sendgridKey,
      mailgun: () => secret(randomBytes(16).toString("hex")),
      postmark: () => secret(`hooks:${randomBytes(12).toString("hex")}`),
      ses: () => secret(`arn:aws:sns:eu-west-1:123456789012:${uniqueName("topic")}`),
    };
    const held = fresh[provider]();
    expect((await cli("secret", "set", "--workspace", workspaceId, "--provider", provider, "--secret", held.credential)).code).toBe(0);
    const accepted = await cli("simulate", "--provider", provider, "--workspace", workspaceId, ...held.flags);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).not.toContain("test credential set");
    expect(answerLines(accepted.stdout).every((line) => / 200 /.test(line))).toBe(true);

    const refused = await cli("simulate", "--provider", provider, "--workspace", workspaceId, ...fresh[provider]().flags);
    expect(refused.code).toBe(1);
    const lines = answerLines(refused.stdout);
    expect(lines).toHaveLength(kindsOf[provider].length + (provider === "ses" ? 1 : 0));
    expect(lines.every((line) => line.includes(` 401 {"error":"${reason}"`))).toBe(true);
    expect(refused.stderr).toContain(`401 ${reason} = `);
    expect(await storedEvents(nats, workspaceId)).toHaveLength(kindsOf[provider].length);
  });

  it("with --setup and no provider sets a fresh Resend secret and sends every Resend type", async () => {
    const result = await cli("simulate", "--workspace", uniqueName("ws"), "--setup");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/test credential set for workspace \S+ \(resend\)/);
    expect(answerLines(result.stdout)).toHaveLength(9);
    expect(answerLines(result.stdout).every((line) => / 200 /.test(line))).toBe(true);
  });

  it("says what is missing: a credential or --setup, and --key-file only for SendGrid", async () => {
    const workspaceId = uniqueName("ws");
    const none = await cli("simulate", "--provider", "sendgrid", "--workspace", workspaceId);
    expect(none).toMatchObject({ code: 2, stderr: expect.stringContaining("--key-file FILE (the P-256 private key whose public key the workspace holds), or --setup") });
    const misplaced = await cli("simulate", "--provider", "mailgun", "--workspace", workspaceId, "--key-file", "x.pem");
    expect(misplaced).toMatchObject({ code: 2, stderr: expect.stringContaining("--key-file is for --provider sendgrid") });
    const secretForSendgrid = await cli("simulate", "--provider", "sendgrid", "--workspace", workspaceId, "--secret", "abc");
    expect(secretForSendgrid).toMatchObject({ code: 2, stderr: expect.stringContaining("give it with --key-file") });
    expect(await storedEvents(nats, workspaceId)).toEqual([]);
  });
});
