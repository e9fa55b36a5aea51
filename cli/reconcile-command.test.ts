/**
 * `ngsreach reconcile` as an operator runs it: its own process against the gateway and delivery-status as
 * processes (test/faults/stack.ts), delivery-status asking a loopback stand-in of Resend's API through a
 * gate the test can close (a run then waits at its first send for as long as the test needs). One stack
 * for the file; each test selects its own sends by campaign, so its counts are its own.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider } from "../gen/ngsreach/events/v1/provider_pb.ts";
import { Stack } from "../test/faults/stack.ts";
import { uniqueName, waitFor } from "../test/harness.ts";
import { startResendApiStandIn, type ResendApiStandIn } from "../test/support/resend-api-stand-in.ts";
import { followCli, runCli } from "./cli-test-kit.ts";

let stack: Stack;
let resend: ResendApiStandIn;
let gate: Gate;

beforeAll(async () => {
  resend = await startResendApiStandIn({ ratePerSecond: 100 });
  gate = await startGate(resend.baseUrl);
  stack = await Stack.start({
    cluster: false,
    instances: 1,
    services: ["webhook-gateway", "delivery-status"],
    serviceEnv: { "delivery-status": { RESEND_API_BASE_URL: gate.baseUrl, RESEND_API_RATE: "100", RECONCILE_POLL_SECONDS: "0.2" } },
  });
  await stack.settings().setProviderApiKey({ workspaceId: stack.workspaceId, provider: Provider.RESEND, apiKey: resend.apiKey, actor: "test", note: "reconcile command" });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await gate?.close();
  await resend?.close();
});

interface Gate {
  baseUrl: string;
  /** Holds every request from now on until `open`. */
  shut(): void;
  open(): void;
  close(): Promise<void>;
}

/** A loopback pass-through to `target` that holds requests while it is shut. */
async function startGate(target: string): Promise<Gate> {
  let opened: Promise<void> = Promise.resolve();
  let release = () => {};
  const server: Server = createServer((req, res) => {
    void opened
      .then(() => fetch(`${target}${req.url ?? "/"}`, { headers: { authorization: req.headers.authorization ?? "" } }))
      .then(async (answer) => {
        const retryAfter = answer.headers.get("retry-after");
        res.writeHead(answer.status, { "content-type": "application/json", ...(retryAfter ? { "retry-after": retryAfter } : {}) }).end(await answer.text());
      })
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    shut: () => void (opened = new Promise((resolve) => (release = resolve))),
    open: () => release(),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The environment `ngsreach` gets: this stack's services. */
const cliEnv = () => ({ ...(process.env as Record<string, string>), GATEWAY_URL: stack.url("webhook-gateway"), DELIVERY_STATUS_URL: stack.url("delivery-status") });

/** `ngsreach reconcile ARGS...` against the stack. */
const reconcile = (...args: string[]) => runCli(["reconcile", ...args], cliEnv());

/** Registers a send of `campaignId` whose webhooks never came and that Resend says reached `lastEvent`. */
async function lostSend(campaignId: string, lastEvent: string): Promise<string> {
  const emailId = randomUUID();
  const recipient = `r-${emailId.slice(0, 8)}@example.com`;
  const sentAtMs = Date.now();
  await stack.delivery().recordSend({
    workspaceId: stack.workspaceId,
    emailId,
    campaignId,
    subscriberId: emailId.slice(0, 8),
    recipient,
    sentTime: { $typeName: "google.protobuf.Timestamp", seconds: BigInt(Math.floor(sentAtMs / 1000)), nanos: 0 },
  });
  resend.emails = [{ id: emailId, to: [recipient], created_at: new Date(sentAtMs).toISOString(), last_event: lastEvent }, ...resend.emails];
  return emailId;
}

describe("ngsreach reconcile", () => {
  it("starts a run, shows its progress and its result, and exits 0 when it succeeded", async () => {
    const campaign = uniqueName("c");
    await lostSend(campaign, "delivered");
    await lostSend(campaign, "opened");
    await lostSend(campaign, "sent");

    const { code, stdout, stderr } = await reconcile("--workspace", stack.workspaceId, "--campaign", campaign);
    expect(code, stderr).toBe(0);
    const runId = /^reconciliation (\S+) started$/m.exec(stdout)?.[1];
    expect(runId, stdout).toBeDefined();
    expect(stdout).toContain(`[${"#".repeat(30)}] 3/3 checked, 2 changed, 0 failed\n`);
    expect(stdout).toContain(`reconciliation ${runId} of workspace ${stack.workspaceId} (manual): done\n`);
    expect(stdout).toContain("  checked    3 of 3 selected\n");
    // delivered: its delivery; opened: its delivery and its open.
    expect(stdout).toContain("  changed    2   (Resend knew more: 3 reconstructed event(s) published)\n");
    expect(stdout).toContain("  unchanged  1\n");
    expect(stdout).toContain("  failed     0\n");
    expect(stdout).toMatch(/^ {2}finished at \d{4}-\d\d-\d\dT/m);
    expect(stdout).not.toContain("stopped");
  });

  it("follows a run already started with --id until it ends", async () => {
    const campaign = uniqueName("c");
    await lostSend(campaign, "clicked");
    await lostSend(campaign, "delivered");
    // The run waits at its first send until the command has shown it running (opening the gate also lets a
    // failed test's command end on its own).
    gate.shut();
    try {
      const { reconciliationId } = await stack.delivery().reconcileSends({ workspaceId: stack.workspaceId, campaignId: campaign });
      const shown = followCli(["reconcile", "--workspace", stack.workspaceId, "--id", reconciliationId], cliEnv());
      await waitFor(() => /^\[\.{30}\] 0\/2 checked, 0 changed, 0 failed$/m.test(shown.output()), { what: "the run shown running" }).catch((error: Error) => {
        throw new Error(`${error.message}; the command printed:\n${shown.output()}`);
      });
      expect(shown.output()).not.toMatch(/: (done|stopped)$/m);
      gate.open();

      expect(await shown.exited, shown.output()).toBe(0);
      const output = shown.output();
      expect(output).not.toMatch(/started|already running/);
      expect(output).toContain(`reconciliation ${reconciliationId} of workspace ${stack.workspaceId} (manual): done\n`);
      expect(output).toContain("  checked    2 of 2 selected\n");
      expect(output).toContain("  changed    2   (Resend knew more: 4 reconstructed event(s) published)\n");

      // A finished run is shown as it ended, starting none.
      const again = await reconcile("--workspace", stack.workspaceId, "--id", reconciliationId);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).not.toMatch(/started|already running/);
      expect(again.stdout).toContain(`reconciliation ${reconciliationId} of workspace ${stack.workspaceId} (manual): done\n`);
      expect(again.stdout).toContain("  checked    2 of 2 selected\n");
    } finally {
      gate.open();
    }
  });

  it("exits 1 when --id names no run of the workspace", async () => {
    const { code, stderr } = await reconcile("--workspace", stack.workspaceId, "--id", "no-such-run");
    expect(code).toBe(1);
    expect(stderr).toContain("[NotFound]");
  });

  it("exits 1 with the reason when Resend refuses the workspace's API key", async () => {
    const campaign = uniqueName("c");
    await lostSend(campaign, "delivered");
    resend.revokeKey(true);
    try {
      const { code, stdout } = await reconcile("--workspace", stack.workspaceId, "--campaign", campaign);
      expect(code, stdout).toBe(1);
      expect(stdout).toMatch(/^reconciliation \S+ of workspace \S+ \(manual\): stopped$/m);
      expect(stdout).toContain("  checked    0 of 1 selected\n");
      expect(stdout).toMatch(/^ {2}stopped: Resend refused API key \S+ \(HTTP 403\): wrong or revoked key$/m);
      expect(stdout).not.toContain(resend.apiKey);
    } finally {
      resend.revokeKey(false);
    }
  });

  it("exits 1 saying how to set one when the workspace has no Resend API key", async () => {
    const { code, stdout, stderr } = await reconcile("--workspace", uniqueName("ws"));
    expect(code, stdout).toBe(1);
    expect(stderr).toContain("ngsreach: no Resend API key is set for the workspace: set one with SetProviderApiKey (ngsreach apikey set) [FailedPrecondition]");
  });

  it("exits 2 with the usage on a --since or --until that is not an RFC 3339 time", async () => {
    for (const args of [["--since", "yesterday"], ["--until", "2026-13-45T00:00:00Z"]]) {
      const { code, stderr } = await reconcile("--workspace", stack.workspaceId, ...args);
      expect(code, stderr).toBe(2);
      expect(stderr).toContain(`${args[0]} must be an RFC 3339 time such as 2026-12-01T00:00:00Z`);
      expect(stderr).toContain("ngsreach reconcile     --workspace ID");
    }
  });
});
