import type { CommandStartedEvent } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newWebhookSecret, signedHeaders } from "../../../cli/sign.ts";
import { sampleEmailEvent } from "../../../cli/resend-samples.ts";
import { privateNats, shared, testBaseConfig, uniqueName, waitFor } from "../../../test/harness.ts";
import { postSigned, postWebhook, startGateway, type TestGateway } from "../../../test/support/gateway-test-kit.ts";

/** The run's database, with command monitoring on, so a test can count what the gateway asks of it. */
function monitoredMongoUri(): string {
  const url = new URL(shared.mongoUri);
  url.searchParams.set("monitorCommands", "true");
  return url.toString();
}

describe("a flood of bad webhook requests", () => {
  let gateway: TestGateway;
  const commands: CommandStartedEvent[] = [];
  const body = JSON.stringify(sampleEmailEvent("email.delivered", { emailId: "e-flood" }));

  /** Reads of one workspace's settings document, and writes of webhook health, from now on. */
  const countFrom = (from: number) => ({
    keyReads: (workspaceId: string) =>
      commands.slice(from).filter((c) => c.commandName === "find" && c.command.find === "gateway_workspaces" && c.command.filter?._id === workspaceId).length,
    healthWrites: () => commands.slice(from).filter((c) => c.commandName === "update" && c.command.update === "gateway_webhook_health").length,
  });

  /** Sends `make()` from `parallel` loops until at least `ms` passed and `atLeast` were sent; returns the statuses. */
  async function flood(make: (n: number) => Promise<{ status: number }>, { ms, atLeast, parallel = 8 }: { ms: number; atLeast: number; parallel?: number }) {
    const statuses: number[] = [];
    const until = Date.now() + ms;
    let n = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (Date.now() < until || statuses.length < atLeast) statuses.push((await make(n++)).status);
      }),
    );
    return statuses;
  }

  /** Log lines since `from`, less the retention sweeper's one start-up line: its start is randomised, so it may fall in any window. */
  const logsSince = (from: number) => gateway.logs.slice(from).filter((line) => !line.includes('"msg":"retention: '));

  beforeAll(async () => {
    const server = await privateNats();
    gateway = await startGateway(testBaseConfig({ natsUrl: server.url, mongoUri: monitoredMongoUri() }), { WEBHOOK_SOURCE_FAILURE_BURST: "20" });
    gateway.service.context.mongo.client.on("commandStarted", (event) => commands.push(event));
  });
  afterAll(async () => gateway?.service.stop());

  it("costs no database read past the cached keys, no log line per request, and health counts instead of documents", async () => {
    const workspace = uniqueName("ws");
    const secret = newWebhookSecret();
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" });
    expect((await postSigned(gateway.url, workspace, secret, body)).status).toBe(200); // keys cached
    // Past the burst, the source is known to keep failing for the workspace: from then on its failures are 429s.
    const warmup = await flood(() => postSigned(gateway.url, workspace, newWebhookSecret(), body), { ms: 0, atLeast: 25, parallel: 1 });
    expect(warmup.at(-1)).toBe(429);
    await waitFor(async () => (await gateway.settings.getWebhookHealth({ workspaceId: workspace })).rateLimited > 0n, { what: "counts flushed" });

    const from = commands.length;
    const logsBefore = gateway.logs.length;
    const now = Math.floor(Date.now() / 1000);
    const kinds = [
      () => postWebhook(gateway.url, workspace, body), // unsigned
      () => postWebhook(gateway.url, workspace, body, signedHeaders(newWebhookSecret(), body)), // someone else's secret
      () => postWebhook(gateway.url, workspace, body, { ...signedHeaders(secret, body), "svix-signature": "v1,AAAA" }), // garbage signature
      () => postWebhook(gateway.url, workspace, body, signedHeaders(secret, body, { timestamp: now - 3600 })), // replayed an hour later
    ];
    // Over a second: without the limiter, a bad signature re-reads the keys every 250 ms.
    const statuses = await flood((n) => kinds[n % kinds.length]!(), { ms: 1200, atLeast: 200 });
    const counted = countFrom(from);
    expect(statuses.filter((status) => status !== 429 && status !== 401)).toEqual([]);
    expect(counted.keyReads(workspace)).toBe(0);
    expect(logsSince(logsBefore)).toEqual([]); // nothing per request
    // Health work is a few batched counter updates per flush interval (200 ms here), not one per request.
    expect(counted.healthWrites()).toBeLessThan(20);

    const health = await waitFor(async () => {
      const current = await gateway.settings.getWebhookHealth({ workspaceId: workspace });
      return current.rejected!.badSignature + current.rejected!.expiredTimestamp === BigInt(warmup.length + statuses.length) ? current : undefined;
    }, { what: "every rejection counted in webhook health" });
    expect(health.rateLimited).toBe(BigInt([...warmup, ...statuses].filter((status) => status === 429).length));
  });

  it("reads an unknown workspace once for a whole flood, and logs nothing per request", async () => {
    const nobody = uniqueName("nobody");
    const from = commands.length;
    const logsBefore = gateway.logs.length;
    const statuses = await flood(() => postSigned(gateway.url, nobody, newWebhookSecret(), body), { ms: 0, atLeast: 200 });
    expect(new Set(statuses)).toEqual(new Set([404]));
    expect(countFrom(from).keyReads(nobody)).toBe(1);
    expect(logsSince(logsBefore)).toEqual([]);
  });

  it("reads made-up workspace ids at most 20 times a second, however many distinct ones come, and still serves a configured workspace", async () => {
    const workspace = uniqueName("ws");
    const secret = newWebhookSecret();
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" }); // known, not cached
    const prefix = uniqueName("madeup");
    const from = commands.length;
    const started = Date.now();
    const [statuses, served] = await Promise.all([
      flood((n) => postSigned(gateway.url, `${prefix}_${n}`, newWebhookSecret(), body), { ms: 0, atLeast: 300 }),
      postSigned(gateway.url, workspace, secret, body),
    ]);
    const seconds = (Date.now() - started) / 1000;
    expect(new Set(statuses)).toEqual(new Set([404]));
    expect(served.status).toBe(200);
    const reads = commands.slice(from).filter((c) => c.commandName === "find" && String(c.command.filter?._id).startsWith(prefix)).length;
    expect(reads).toBeLessThanOrEqual(20 + Math.ceil(seconds * 20));
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/ngsreach_webhook_unknown_lookups_skipped_total [1-9]\d*/);
  });

  it("still accepts a request that verifies from a source it answers 429, and then answers that source 401 again", async () => {
    const workspace = uniqueName("ws");
    const secret = newWebhookSecret();
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" });
    const failed = await flood(() => postSigned(gateway.url, workspace, newWebhookSecret(), body), { ms: 0, atLeast: 25, parallel: 1 });
    // Up to the burst (20 failures; they drain by one a second) 401, then 429.
    expect(failed.slice(0, 19)).toEqual(Array(19).fill(401));
    expect(failed.at(-1)).toBe(429);
    const limited = await postSigned(gateway.url, workspace, newWebhookSecret(), body);
    expect(limited).toMatchObject({ status: 429, body: { error: "rate_limited" } });

    expect(await postSigned(gateway.url, workspace, secret, body)).toMatchObject({ status: 200, body: { status: "accepted" } });
    expect((await postSigned(gateway.url, workspace, newWebhookSecret(), body)).status).toBe(401);
  });
});
