/**
 * `ngsreach erase` and `ngsreach export-subscriber` as an operator runs them, against two stacks for the
 * file: every service running (erasures finish), and the suppression service alone (the other services
 * are "down": an erasure stays pending for them).
 * The lone suppression service reads sends from a stand-in of delivery status (below). Each test erases or
 * exports its own subscriber, so its results are its own.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService, SendStatus, SubscriberSendSchema, type SubscriberSend } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import {
  ErasureState,
  ExportSubscriberDataResponseSchema,
  GetErasureResponseSchema,
  GetSubscriberResponseSchema,
  SuppressionService,
} from "../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { startRpcServer, type RpcServer } from "../services/shared/rpc/server.ts";
import { testSecretsKey, uniqueName, waitFor } from "../test/harness.ts";
import { postSigned } from "../test/support/gateway-test-kit.ts";
import { followCli, startCliStack, type CliStack } from "./cli-test-kit.ts";
import { parseCommandLine } from "./command-line.ts";
import { eraseCommand } from "./erase-command.ts";
import { exportSubscriberCommand } from "./export-subscriber-command.ts";
import { sampleEmailEvent } from "./resend-samples.ts";
import { newWebhookSecret } from "./sign.ts";
import { UsageError } from "./usage-error.ts";

let stack: CliStack;
let alone: CliStack;
let sendsStandIn: RpcServer;
const ws = uniqueName("ws");
const secret = newWebhookSecret();
/** Addresses the stand-in of delivery status answers for (by local part): sends to stream, or a failure. */
const standInSends = new Map<string, SubscriberSend[] | "down">();

/**
 * Delivery status as the lone suppression service sees it: only ListSubscriberSends, answering from
 * `standInSends` — for what the real service cannot easily be made to hold (a send with more than 500
 * timeline entries, split over two messages) or do (fail half way through a stream).
 */
function startSendsStandIn(): Promise<RpcServer> {
  return startRpcServer({
    host: "127.0.0.1",
    port: 0,
    interceptors: [],
    fallback: (_req, res) => {
      res.writeHead(404);
      res.end();
    },
    routes: (router) =>
      router.service(DeliveryStatusService, {
        async *listSubscriberSends(request) {
          const sends = standInSends.get(String(request.subscriber.value).split("@")[0]!) ?? [];
          for (const send of sends === "down" ? [] : sends) yield { send };
          if (sends === "down") throw new ConnectError("delivery status is down", Code.Unavailable);
        },
      }),
  });
}

beforeAll(async () => {
  sendsStandIn = await startSendsStandIn();
  [stack, alone] = await Promise.all([
    startCliStack(undefined, { serviceEnv: { suppression: { SECRETS_KEY: testSecretsKey }, "delivery-status": { SECRETS_KEY: testSecretsKey } } }),
    startCliStack(["suppression"], { serviceEnv: { suppression: { SECRETS_KEY: testSecretsKey, DELIVERY_STATUS_URL: `http://127.0.0.1:${sendsStandIn.port}` } } }),
  ]);
  await stack.client(WorkspaceSettingsService, "webhook-gateway").setWebhookSecret({ workspaceId: ws, secret, actor: "test", note: "" });
}, 120_000);

afterAll(async () => {
  await Promise.all([stack?.stop(), alone?.stop()]);
  await sendsStandIn?.close();
});

/** A send of the stand-in with `events` timeline entries. */
const standInSend = (emailId: string, recipient: string, events: number, from = 0): SubscriberSend =>
  create(SubscriberSendSchema, {
    send: { workspaceId: ws, emailId, recipient, status: SendStatus.DELIVERED },
    events: Array.from({ length: events }, (_, i) => ({ svixId: `msg_${emailId}_${from + i}`, type: "email.delivered", eventTime: timestampFromMs(Date.UTC(2026, 11, 1) + from + i) })),
  });

interface Person {
  email: string;
  /** The address as stored (domain lower-cased), lower-cased again for a case-blind search. */
  needle: string;
  subscriberId: string;
  emailId: string;
  ip: string;
  userAgent: string;
}

function person(name: string): Person {
  const tag = randomUUID().slice(0, 8);
  const email = `${name}.${tag}@Example.COM`;
  return { email, needle: email.toLowerCase(), subscriberId: `sub-${name}-${tag}`, emailId: randomUUID(), ip: "203.0.113.77", userAgent: `${name}Browser/1.0 (${tag})` };
}

/** A send to `who` that was delivered, opened and clicked (IP address and user agent), and a manual suppression. */
async function seed(who: Person): Promise<void> {
  const delivery = stack.client(DeliveryStatusService, "delivery-status");
  await delivery.recordSend({ workspaceId: ws, emailId: who.emailId, campaignId: "camp-erase", subscriberId: who.subscriberId, recipient: who.email });
  for (const [minutes, type] of (["email.delivered", "email.opened", "email.clicked"] as const).entries()) {
    const createdAt = new Date(Date.UTC(2026, 11, 1, 10, minutes));
    const body = JSON.stringify(sampleEmailEvent(type, { emailId: who.emailId, to: [who.email], createdAt, click: { link: "https://shop.example/sale", ipAddress: who.ip, userAgent: who.userAgent } }));
    expect((await postSigned(stack.url("webhook-gateway"), ws, secret, body)).status).toBe(200);
  }
  await waitFor(async () => (await delivery.getSend({ workspaceId: ws, emailId: who.emailId })).send?.status === SendStatus.CLICKED, { what: "the events applied" });
  const added = await stack.cli(["suppressions", "add", who.email, "--workspace", ws, "--note", "asked by phone", "--actor", "support"]);
  expect(added.code, added.stderr).toBe(0);
}

const erasureIdOf = (stdout: string) => {
  const id = /^erasure (\S+) requested \(1 address\(es\)\)$/m.exec(stdout)?.[1];
  expect(id, stdout).toMatch(/^[0-9a-f-]{36}$/);
  return id!;
};

describe("ngsreach erase", () => {
  it("erases by address, shows each service's part until all are done, exits 0, and the address is gone from every read", async () => {
    const ann = person("ann");
    await seed(ann);
    expect((await stack.cli(["suppressions", "list", "--workspace", ws])).stdout.toLowerCase()).toContain(ann.needle);

    const { code, stdout, stderr } = await stack.cli(["erase", "--workspace", ws, "--email", ann.email, "--actor", "dpo", "--note", "ticket DPO-17", "--timeout", "45s"]);
    expect(code, `${stdout}${stderr}`).toBe(0);
    const erasureId = erasureIdOf(stdout);
    // Into a pipe: one line per change of the services' parts, the last with every part done.
    const progress = stdout.split("\n").filter((text) => text.startsWith("suppression "));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((text, i) => i === 0 || text !== progress[i - 1])).toBe(true);
    expect(progress.at(-1)).toMatch(/^suppression done \(\d+ document\(s\)\), delivery-status done \(\d+ document\(s\)\), webhook-gateway done \(\d+ document\(s\)\)$/);
    expect(stdout).toMatch(new RegExp(`^erasure ${erasureId} of workspace ${ws}: done at \\d{4}-\\d\\d-\\d\\dT\\S+Z \\(1 address\\(es\\)\\)\\n$`, "m"));
    const done = await stack.client(SuppressionService, "suppression").getErasure({ workspaceId: ws, erasureId });
    expect(done.erasure?.state).toBe(ErasureState.DONE);

    // Still suppressed, and the address can no longer be read back from anything the command line shows.
    const check = await stack.cli(["suppressions", "check", "--workspace", ws, ann.email]);
    expect(check.stdout.split("\n")[1]).toMatch(/\ssuppressed\s/);
    const reads = [
      await stack.cli(["suppressions", "list", "--workspace", ws]),
      await stack.cli(["suppressions", "list", "--workspace", ws, "--json"]),
      await stack.cli(["send", ann.emailId, "--workspace", ws, "--json"]),
      await stack.cli(["send", ann.emailId, "--workspace", ws]),
    ];
    expect(reads[0]!.stdout).toMatch(/^\(erased\)\s+manual\s/m); // the table says what is there instead
    for (const read of reads) {
      expect(read.code, read.stderr).toBe(0);
      for (const held of [ann.needle, ann.ip, ann.userAgent.toLowerCase()]) expect(read.stdout.toLowerCase()).not.toContain(held);
    }
    const { subscriber } = await stack.client(SuppressionService, "suppression").getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: ann.email } });
    expect(subscriber?.erased).toBe(true);
    expect(JSON.stringify(toJson(GetSubscriberResponseSchema, create(GetSubscriberResponseSchema, { subscriber }))).toLowerCase()).not.toContain(ann.needle);
  });

  it("--erasure-id follows an erasure already asked for to its end; with --json it prints GetErasure's answer", async () => {
    const bob = person("bob");
    await seed(bob);
    const suppression = stack.client(SuppressionService, "suppression");
    const { erasure } = await suppression.eraseSubscriber({ workspaceId: ws, subscriber: { case: "subscriberId", value: bob.subscriberId }, actor: "dpo", note: "ticket DPO-18" });
    const erasureId = erasure!.erasureId;

    const followed = await stack.cli(["erase", "--workspace", ws, "--erasure-id", erasureId, "--timeout", "45s"]);
    expect(followed.code, `${followed.stdout}${followed.stderr}`).toBe(0);
    expect(followed.stdout).not.toContain("requested");
    expect(followed.stdout).toContain(`erasure ${erasureId} of workspace ${ws}: done at `);

    const json = await stack.cli(["erase", "--workspace", ws, "--erasure-id", erasureId, "--json"]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(toJson(GetErasureResponseSchema, await suppression.getErasure({ workspaceId: ws, erasureId })));
    expect(JSON.parse(json.stdout).erasure.state).toBe("ERASURE_STATE_DONE");
  });

  it("--no-wait prints the erasure id and how to follow it, and exits 0 while services are still pending", async () => {
    const carol = `carol.${randomUUID().slice(0, 8)}@example.com`;
    const erased = await alone.cli(["erase", "--workspace", ws, "--email", carol, "--actor", "dpo", "--note", "ticket DPO-19", "--no-wait"]);
    expect(erased.code, erased.stderr).toBe(0);
    const erasureId = erasureIdOf(erased.stdout);
    expect(erased.stdout).toBe(`erasure ${erasureId} requested (1 address(es))\nfollow it with: ngsreach erase --workspace ${ws} --erasure-id ${erasureId}\n`);
    const { erasure } = await alone.client(SuppressionService, "suppression").getErasure({ workspaceId: ws, erasureId });
    expect(erasure?.state).toBe(ErasureState.PENDING);

    const json = await alone.cli(["erase", "--workspace", ws, "--email", carol, "--actor", "dpo", "--note", "ticket DPO-19", "--no-wait", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).erasure).toMatchObject({ workspaceId: ws, state: "ERASURE_STATE_PENDING", actor: "dpo", addresses: 1 });
  });

  it("exits 1 after --timeout naming the services still pending and how to look again, printing the unchanged parts once", async () => {
    const suppression = alone.client(SuppressionService, "suppression");
    const { erasure } = await suppression.eraseSubscriber({ workspaceId: ws, subscriber: { case: "email", value: `dan.${randomUUID().slice(0, 8)}@example.com` }, actor: "dpo", note: "ticket DPO-20" });
    const erasureId = erasure!.erasureId;
    await waitFor(async () => (await suppression.getErasure({ workspaceId: ws, erasureId })).erasure?.services.find((part) => part.service === "suppression")?.done, {
      what: "the suppression service's part done",
    });

    const { code, stdout, stderr } = await alone.cli(["erase", "--workspace", ws, "--erasure-id", erasureId, "--timeout", "3s"]);
    expect(code, stderr).toBe(1);
    expect(stdout).toMatch(/^suppression done \(\d+ document\(s\)\), delivery-status pending, webhook-gateway pending\n$/);
    expect(stderr).toBe(
      `ngsreach: erasure ${erasureId} is not done after 3 s: delivery-status, webhook-gateway still pending. ` +
        `A service that is down applies the request when it comes back; look again with: ngsreach erase --workspace ${ws} --erasure-id ${erasureId}\n`,
    );
  });

  it("on a terminal redraws the parts in place; Ctrl-C stops watching, says how to look again and exits 130", async () => {
    const suppression = alone.client(SuppressionService, "suppression");
    const { erasure } = await suppression.eraseSubscriber({ workspaceId: ws, subscriber: { case: "email", value: `eve.${randomUUID().slice(0, 8)}@example.com` }, actor: "dpo", note: "ticket DPO-21" });
    const erasureId = erasure!.erasureId;
    const shown = followCli(["erase", "--workspace", ws, "--erasure-id", erasureId], alone.env(), { terminal: true });
    try {
      await waitFor(() => /\r\u001b\[K.*delivery-status pending.*\(watching [1-9]\d* s; Ctrl-C stops watching, not the erasure\)/.test(shown.output()), {
        what: "the parts redrawn",
      }).catch((error: Error) => {
        throw new Error(`${error.message}; the command printed:\n${JSON.stringify(shown.output())}`);
      });
      shown.child.stdin!.write("\u0003");
      expect(await shown.exited, shown.output()).toBe(130);
      expect(shown.output()).toContain(`stopped watching erasure ${erasureId} (the erasure goes on); look again with: ngsreach erase --workspace ${ws} --erasure-id ${erasureId}`);
    } finally {
      shown.child.kill();
    }
    expect((await suppression.getErasure({ workspaceId: ws, erasureId })).erasure?.state).toBe(ErasureState.PENDING);
  });

  it("refuses a missing or ambiguous whom, a missing who or why, with exit 2 and the usage, asking nothing of the service", async () => {
    const target = ["--email", "frank@example.com"];
    const why = ["--actor", "dpo", "--note", "ticket"];
    // In this process (a command line each would take seconds); --no-wait, so a rule broken returns.
    const cases: [string[], string][] = [
      [why, "erase needs whom: --email ADDRESS or --subscriber-id S"],
      [[...target, "--subscriber-id", "sub-frank", ...why], "erase takes one subscriber"],
      [[...target, "--email", "gina@example.com", ...why], "erase takes one subscriber"],
      [["--email", " ", ...why], "--email must not be empty"],
      [[...target, "--note", "ticket"], "erase needs --actor WHO"],
      [[...target, "--actor", "dpo"], "erase needs --note WHY"],
      [[...target, ...why, "--timeout", "soon"], "--timeout must be a duration such as 90s, 10m or 1h"],
    ];
    for (const [args, message] of cases) {
      const run = eraseCommand(parseCommandLine(["erase", "--workspace", ws, ...args, "--no-wait"], alone.env()));
      await expect(run, args.join(" ")).rejects.toThrow(message);
      await expect(run).rejects.toBeInstanceOf(UsageError);
    }
    const mixed = eraseCommand(parseCommandLine(["erase", "--workspace", ws, "--erasure-id", randomUUID(), ...target], alone.env()));
    await expect(mixed).rejects.toThrow("--erasure-id follows an erasure already asked for");
    await expect(eraseCommand(parseCommandLine(["erase", ...target, ...why], alone.env()))).rejects.toThrow("--workspace is required");
    const { results } = await alone.client(SuppressionService, "suppression").checkSuppressions({ workspaceId: ws, emails: ["frank@example.com", "gina@example.com"] });
    expect(results.map((result) => result.suppressed)).toEqual([false, false]);

    const shown = await alone.cli(["erase", "--workspace", ws, ...target, "--actor", "dpo"]);
    expect(shown.code, shown.stderr).toBe(2);
    expect(shown.stderr).toContain("erase needs --note WHY");
    expect(shown.stderr).toContain("ngsreach erase         --workspace ID (--email ADDRESS | --subscriber-id S)");
    expect(shown.stdout).toBe("");
  });

  it("exits 1 with the service's answer for a subscriber id it does not know", async () => {
    const result = await alone.cli(["erase", "--workspace", ws, "--subscriber-id", "sub-nobody", "--actor", "dpo", "--note", "ticket", "--no-wait"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ngsreach: .*subscriber_id.*\[NotFound\]\n$/);
  });
});

describe("ngsreach export-subscriber", () => {
  it("prints the subscriber and each send with its timeline as one JSON object per line, by address or subscriber id, and nothing once erased", async () => {
    const gus = person("gus");
    await seed(gus);
    const { code, stdout, stderr } = await stack.cli(["export-subscriber", "--workspace", ws, "--email", gus.email]);
    expect(code, stderr).toBe(0);
    const lines = stdout.trimEnd().split("\n").map((text) => JSON.parse(text));
    const streamed = [];
    for await (const message of stack.client(SuppressionService, "suppression").exportSubscriberData({ workspaceId: ws, subscriber: { case: "email", value: gus.email } })) {
      streamed.push(toJson(ExportSubscriberDataResponseSchema, message));
    }
    expect(lines).toEqual(streamed);
    expect(lines[0].subscriber).toMatchObject({ workspaceId: ws, subscriberId: gus.subscriberId, status: "SUBSCRIBER_STATUS_SUPPRESSED" });
    expect(lines[0].subscriber.email.toLowerCase()).toBe(gus.needle);
    expect(lines.slice(1).every((line) => line.send)).toBe(true);
    const sends = lines.filter((line) => line.send);
    expect(sends.length).toBeGreaterThan(0);
    expect(sends.every((line) => line.send.send.emailId === gus.emailId)).toBe(true);
    const { events } = await stack.client(DeliveryStatusService, "delivery-status").listSendEvents({ workspaceId: ws, emailId: gus.emailId });
    const entries = sends.reduce((sum, line) => sum + (line.send.events?.length ?? 0), 0);
    expect(entries).toBe(events.length);
    expect(stderr).toBe(`exported 1 subscriber record(s), 1 send(s), ${events.length} timeline entries of workspace ${ws}\n`);

    const bySubscriberId = await stack.cli(["export-subscriber", "--workspace", ws, "--subscriber-id", gus.subscriberId]);
    expect(bySubscriberId.stdout).toBe(stdout);

    const erased = await stack.cli(["erase", "--workspace", ws, "--email", gus.email, "--actor", "dpo", "--note", "ticket DPO-22", "--timeout", "45s"]);
    expect(erased.code, `${erased.stdout}${erased.stderr}`).toBe(0);
    for (const which of [["--email", gus.email], ["--subscriber-id", gus.subscriberId]]) {
      const after = await stack.cli(["export-subscriber", "--workspace", ws, ...which]);
      expect(after.code, after.stderr).toBe(0);
      expect(after.stdout).toBe("");
      expect(after.stderr).toBe(`exported 0 subscriber record(s), 0 send(s), 0 timeline entries of workspace ${ws}\n`);
    }
  });

  it("counts a send that comes in several messages once, and writes --output FILE whole, readable by its owner only", async () => {
    const local = `ivy.${randomUUID().slice(0, 8)}`;
    const ivy = `${local}@example.com`;
    standInSends.set(local, [standInSend("em-ivy-1", ivy, 500), standInSend("em-ivy-1", ivy, 1, 500), standInSend("em-ivy-2", ivy, 2)]);
    expect((await alone.cli(["suppressions", "add", ivy, "--workspace", ws, "--note", "by phone"])).code).toBe(0);
    const { code, stdout, stderr } = await alone.cli(["export-subscriber", "--workspace", ws, "--email", ivy]);
    expect(code, stderr).toBe(0);
    const lines = stdout.trimEnd().split("\n").map((text) => JSON.parse(text));
    expect(lines.map((line) => Object.keys(line))).toEqual([["subscriber"], ["send"], ["send"], ["send"]]);
    expect(lines[0].subscriber.email).toBe(ivy);
    expect(lines.slice(1).map((line) => [line.send.send.emailId, line.send.events.length])).toEqual([["em-ivy-1", 500], ["em-ivy-1", 1], ["em-ivy-2", 2]]);
    expect(stderr).toBe(`exported 1 subscriber record(s), 2 send(s), 503 timeline entries of workspace ${ws}\n`);

    const dir = await mkdtemp(join(tmpdir(), "ngsreach-export-"));
    const file = join(dir, "ivy.jsonl");
    const written = await alone.cli(["export-subscriber", "--workspace", ws, "--email", ivy, "--output", file]);
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout).toBe("");
    expect(written.stderr).toBe(`exported 1 subscriber record(s), 2 send(s), 503 timeline entries of workspace ${ws} to ${file}\n`);
    expect(await readFile(file, "utf8")).toBe(stdout);
    expect(await readdir(dir)).toEqual(["ivy.jsonl"]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("leaves no file when the export fails part way (delivery status down), and exits 1", async () => {
    const local = `hal.${randomUUID().slice(0, 8)}`;
    const hal = `${local}@example.com`;
    standInSends.set(local, "down");
    expect((await alone.cli(["suppressions", "add", hal, "--workspace", ws, "--note", "by phone"])).code).toBe(0);
    // The subscriber line comes, then the failure: without --output it is what standard output got.
    const shown = await alone.cli(["export-subscriber", "--workspace", ws, "--email", hal]);
    expect(shown.code).toBe(1);
    expect(JSON.parse(shown.stdout).subscriber.email).toBe(hal);
    const dir = await mkdtemp(join(tmpdir(), "ngsreach-export-"));
    const result = await alone.cli(["export-subscriber", "--workspace", ws, "--email", hal, "--output", join(dir, "hal.jsonl")]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/\[Unavailable\]\n$/);
    expect(await readdir(dir)).toEqual([]);
    // An earlier export under the name stays as it was.
    await writeFile(join(dir, "hal.jsonl"), "earlier export\n");
    const again = await alone.cli(["export-subscriber", "--workspace", ws, "--email", hal, "--output", join(dir, "hal.jsonl")]);
    expect(again.stderr).toMatch(/\[Unavailable\]\n$/);
    expect(await readdir(dir)).toEqual(["hal.jsonl"]);
    expect(await readFile(join(dir, "hal.jsonl"), "utf8")).toBe("earlier export\n");
  });

  it("refuses a missing or ambiguous whom with exit 2 and the usage, creating no file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ngsreach-export-"));
    const output = ["--output", join(dir, "x.jsonl")];
    const cases: [string[], string][] = [
      [[], "export-subscriber needs whom"],
      [["--email", "a@example.com", "--subscriber-id", "s"], "export-subscriber takes one subscriber"],
      [["--email", "a@example.com", "--email", "b@example.com"], "export-subscriber takes one subscriber"],
    ];
    for (const [args, message] of cases) {
      const run = exportSubscriberCommand(parseCommandLine(["export-subscriber", "--workspace", ws, ...args, ...output], alone.env()));
      await expect(run, args.join(" ")).rejects.toThrow(message);
      await expect(run).rejects.toBeInstanceOf(UsageError);
    }
    const shown = await alone.cli(["export-subscriber", "--workspace", ws, ...output]);
    expect(shown.code, shown.stderr).toBe(2);
    expect(shown.stderr).toContain("ngsreach export-subscriber --workspace ID (--email ADDRESS | --subscriber-id S)");
    expect(await readdir(dir)).toEqual([]);
  });
});
