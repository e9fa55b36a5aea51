import { randomUUID } from "node:crypto";
import { toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService, SendEventSchema, SendSchema } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { Provider } from "../gen/ngsreach/events/v1/provider_pb.ts";
import { CampaignStatsService, GetCampaignStatsResponseSchema, GetWorkspaceDeliverabilityResponseSchema } from "../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { uniqueName, waitFor } from "../test/harness.ts";
import { postSigned } from "../test/support/gateway-test-kit.ts";
import { publishEmailEvent } from "../test/support/provider-envelopes.ts";
import { followCli, startCliStack, type CliStack } from "./cli-test-kit.ts";
import { sampleEmailEvent, type EmailEventType } from "./resend-samples.ts";
import { newWebhookSecret } from "./sign.ts";

describe("ngsreach send, sends and stats", () => {
  let stack: CliStack;
  const ws = uniqueName("ws");
  const campaign = uniqueName("camp");
  const secret = newWebhookSecret();
  const opened = randomUUID();
  const bounced = randomUUID();
  const sendgridMessage = `sg-${randomUUID()}`;
  const delivery = () => stack.client(DeliveryStatusService, "delivery-status");
  const stats = () => stack.client(CampaignStatsService, "campaign-stats");
  const recordSend = (emailId: string, subscriber: string, provider: Provider = Provider.RESEND) =>
    delivery().recordSend({ workspaceId: ws, emailId, campaignId: campaign, subscriberId: subscriber, recipient: `${subscriber}@example.com`, provider });
  const post = async (emailId: string, type: EmailEventType, minutes: number) => {
    const body = JSON.stringify(sampleEmailEvent(type, { emailId, createdAt: new Date(Date.UTC(2026, 11, 1, 10, minutes)), bounce: { type: "Permanent", subType: "NoEmail" } }));
    expect((await postSigned(stack.url("webhook-gateway"), ws, secret, body)).status).toBe(200);
  };
  const sentCount = async () => (await stats().getCampaignStats({ workspaceId: ws, campaignId: campaign })).stats?.sent;

  beforeAll(async () => {
    stack = await startCliStack();
    await stack.client(WorkspaceSettingsService, "webhook-gateway").setWebhookSecret({ workspaceId: ws, secret, actor: "test", note: "" });
    await recordSend(opened, "sub-a");
    await recordSend(bounced, "sub-b");
    await recordSend(sendgridMessage, "sub-c", Provider.SENDGRID);
    for (const [minutes, type] of (["email.sent", "email.delivered", "email.opened", "email.clicked"] as const).entries()) await post(opened, type, minutes);
    await post(bounced, "email.sent", 0);
    await post(bounced, "email.bounced", 1);
    const js = stack.services["webhook-gateway"]!.context.nats.js;
    await publishEmailEvent(js, ws, "sendgrid", "email.delivered", { messageId: sendgridMessage, to: ["sub-c@example.com"] });
    await waitFor(
      async () => {
        const { stats: now } = await stats().getCampaignStats({ workspaceId: ws, campaignId: campaign });
        const send = (await delivery().getSend({ workspaceId: ws, emailId: opened })).send;
        return now?.sent === 3n && now.delivered === 2n && now.hardBounced === 1n && now.uniqueClicks === 1n && send?.clickCount === 1;
      },
      { what: "the events applied" },
    );
  });
  afterAll(async () => stack?.stop());

  it("send prints a send's state and its timeline in event order", async () => {
    const result = await stack.cli(["send", opened, "--workspace", ws]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toContain(`send ${opened} of workspace ${ws}\n`);
    expect(result.stdout).toMatch(/\n {2}status\s+clicked\n {2}provider\s+resend\n {2}campaign\s+camp_\w+\n {2}subscriber\s+sub-a\n {2}recipient\s+sub-a@example\.com\n/);
    expect(result.stdout).toMatch(/ {2}first clicked\s+2026-12-01T10:03:00\.000Z {2}\(1 click\(s\)\)/);
    const timeline = result.stdout.slice(result.stdout.indexOf("timeline (4 event(s)"));
    const types = timeline.split("\n").slice(2, -1).map((row) => row.split(/\s+/)[1]);
    expect(types).toEqual(["email.sent", "email.delivered", "email.opened", "email.clicked"]);
    expect(timeline).toMatch(/2026-12-01T10:03:00\.000Z\s+email\.clicked\s+-\s+\S+Z\s+https:\/\/resend\.com\n$/);
  });

  it("send --json prints GetSend's send and ListSendEvents' events as the RPCs' JSON", async () => {
    const result = await stack.cli(["send", bounced, "--workspace", ws, "--json"]);
    expect(result.code).toBe(0);
    const { send } = await delivery().getSend({ workspaceId: ws, emailId: bounced });
    const { events } = await delivery().listSendEvents({ workspaceId: ws, emailId: bounced });
    expect(JSON.parse(result.stdout)).toEqual({ send: toJson(SendSchema, send!), events: events.map((event) => toJson(SendEventSchema, event)) });
    expect(JSON.parse(result.stdout).send.status).toBe("SEND_STATUS_BOUNCED");
  });

  it("send finds another provider's send by its own message id with --provider, or by the prefixed id", async () => {
    const byOwnId = await stack.cli(["send", sendgridMessage, "--workspace", ws, "--provider", "sendgrid"]);
    expect(byOwnId.code).toBe(0);
    expect(byOwnId.stdout).toContain(`send sendgrid:${sendgridMessage} of workspace ${ws}`);
    expect(byOwnId.stdout).toMatch(/ {2}status\s+delivered\n {2}provider\s+sendgrid\n/);
    expect(byOwnId.stdout).toMatch(/\s+email\.delivered\s+delivered\s+/); // the provider's own type
    const byPrefixed = await stack.cli(["send", `sendgrid:${sendgridMessage}`, "--workspace", ws]);
    expect(byPrefixed.stdout).toBe(byOwnId.stdout);
    const missing = await stack.cli(["send", randomUUID(), "--workspace", ws]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ngsreach: .*\[NotFound\]\n$/);
    expect((await stack.cli(["send", "--workspace", ws])).code).toBe(2);
  });

  it("sends lists a campaign's sends as a table, filtered by status or subscriber", async () => {
    const all = await stack.cli(["sends", "--workspace", ws, "--campaign", campaign]);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^EMAIL ID\s+STATUS\s+PROVIDER\s+SUBSCRIBER\s+RECIPIENT\s+LAST EVENT$/);
    const rows = lines.slice(1, -1).map((row) => row.split(/\s+/).slice(0, 5));
    expect(rows).toEqual(
      [
        [opened, "clicked", "resend", "sub-a", "sub-a@example.com"],
        [bounced, "bounced", "resend", "sub-b", "sub-b@example.com"],
        [`sendgrid:${sendgridMessage}`, "delivered", "sendgrid", "sub-c", "sub-c@example.com"],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    expect(lines.at(-1)).toBe(`3 send(s) of campaign ${campaign}`);

    const hard = await stack.cli(["sends", "--workspace", ws, "--campaign", campaign, "--status", "bounced"]);
    expect(hard.stdout.trim().split("\n").slice(1, -1).map((row) => row.split(/\s+/)[0])).toEqual([bounced]);
    const ofA = await stack.cli(["sends", "--workspace", ws, "--campaign", campaign, "--subscriber", "sub-a"]);
    expect(ofA.stdout).toContain(`1 send(s) of campaign ${campaign} with subscriber sub-a`);
    const none = await stack.cli(["sends", "--workspace", ws, "--campaign", campaign, "--status", "complained"]);
    expect(none.stdout).toBe(`no sends of campaign ${campaign} in workspace ${ws} with status complained\n`);
    const typo = await stack.cli(["sends", "--workspace", ws, "--campaign", campaign, "--status", "bounce"]);
    expect(typo).toMatchObject({ code: 2, stderr: expect.stringContaining("--status must be one of sent, delivery_delayed, delivered, opened, clicked, bounced") });
  });

  it("sends pages: --limit stops early and names the --page-token that continues; --json is ListSendsResponse", async () => {
    const first = await stack.cli(["sends", "--workspace", ws, "--campaign", campaign, "--limit", "2", "--json"]);
    const page = JSON.parse(first.stdout) as { sends: { emailId: string }[]; nextPageToken: string };
    expect(page.sends).toHaveLength(2);
    expect(page.nextPageToken).toBeTruthy();
    const table = await stack.cli(["sends", "--workspace", ws, "--campaign", campaign, "--limit", "2"]);
    expect(table.stdout).toContain(`2 send(s) of campaign ${campaign}; more after these: --page-token ${page.nextPageToken}`);
    const rest = JSON.parse((await stack.cli(["sends", "--workspace", ws, "--campaign", campaign, "--page-token", page.nextPageToken, "--json"])).stdout);
    expect(rest.nextPageToken).toBeUndefined();
    const ids = [...page.sends, ...rest.sends].map((send: { emailId: string }) => send.emailId);
    expect(ids.sort()).toEqual([opened, bounced, `sendgrid:${sendgridMessage}`].sort());
  });

  it("stats prints the counts with their rates; --json is GetCampaignStats' JSON", async () => {
    const result = await stack.cli(["stats", "--workspace", ws, "--campaign", campaign]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^campaign ${campaign} of workspace ${ws}, updated \\S+Z\\n`));
    expect(result.stdout).toMatch(/\n {2}sent\s+3\n/);
    expect(result.stdout).toMatch(/\n {2}delivered\s+2 {2}66\.7 % of sent \(delivery rate\)\n/);
    expect(result.stdout).toMatch(/\n {2}hard bounced\s+1 {2}33\.3 % of sent \(bounce rate\)\n/);
    expect(result.stdout).toMatch(/\n {2}unique clicks\s+1 {2}50\.0 % of delivered, 100\.0 % of unique opens\n/);
    expect(result.stdout).toMatch(/\n {2}human clicks\s+1 {2}50\.0 % of delivered \(sends clicked by more than link scanners\)\n/);
    const json = await stack.cli(["stats", "--workspace", ws, "--campaign", campaign, "--json"]);
    const answer = await stats().getCampaignStats({ workspaceId: ws, campaignId: campaign });
    expect(JSON.parse(json.stdout)).toEqual(toJson(GetCampaignStatsResponseSchema, answer));
  });

  it("stats shows the counts by mailbox provider; deliverability prints each day per provider, --json is the RPC's", async () => {
    const result = await stack.cli(["stats", "--workspace", ws, "--campaign", campaign]);
    // Every recipient here is at example.com: "other".
    expect(result.stdout).toMatch(/\n {2}by mailbox provider:\n {4}other\s+sent 3, delivered 2, hard bounced 1 \(33\.3 %\), complained 0 \(0\.0 %\)\n/);
    const until = "2026-12-01T12:00:00Z"; // the events' day (their times are fixed; the sends were recorded today)
    const table = await stack.cli(["deliverability", "--workspace", ws, "--days", "2", "--until", until]);
    expect(table).toMatchObject({ code: 0, stderr: "" });
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[1]).toMatch(/^day\s+provider\s+sent\s+delivered\s+hard bounced\s+soft bounced\s+complained\s+complaint rate\s+bounce rate$/);
    expect(lines[2]).toMatch(/^2026-11-30\s+-\s+0\s+0\s+0\s+0\s+0$/);
    expect(lines[3]).toMatch(/^2026-12-01\s+other\s+0\s+[12]\s+1\s+0\s+0\s+0\.0 %\s+0\.0 %$/);
    const json = await stack.cli(["deliverability", "--workspace", ws, "--days", "2", "--until", until, "--json"]);
    const answer = await stats().getWorkspaceDeliverability({ workspaceId: ws, startTime: timestampFromDate(new Date("2026-11-30T00:00:00Z")), endTime: timestampFromDate(new Date("2026-12-02T00:00:00Z")) });
    expect(JSON.parse(json.stdout)).toEqual(toJson(GetWorkspaceDeliverabilityResponseSchema, answer));
    expect((await stack.cli(["deliverability", "--workspace", ws, "--days", "91"])).stderr).toContain("--days must be a whole number from 1 to 90");
  });

  it("stats --watch into a pipe prints one line per update until Ctrl-C, which exits 0", async () => {
    const before = await sentCount();
    const watch = followCli(["stats", "--workspace", ws, "--campaign", campaign, "--watch"], stack.env());
    try {
      await waitFor(() => watch.output().includes(`  ${campaign}  sent=${before} `), { what: "the first update" });
      await recordSend(randomUUID(), "sub-d");
      await waitFor(() => watch.output().includes(`  ${campaign}  sent=${before! + 1n} `), { what: "the update after RecordSend" });
    } finally {
      watch.child.kill("SIGINT");
    }
    expect(await watch.exited).toBe(0);
    const lines = watch.output().trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toMatch(new RegExp(`^\\S+Z {2}${campaign} {2}sent=\\d+ delivered=2 .* bounce_rate=\\S+% complaint_rate=0\\.0% `));
  });

  it("stats --watch on a terminal redraws the block in place", async () => {
    const watch = followCli(["stats", "--workspace", ws, "--campaign", campaign, "--watch"], stack.env(), { terminal: true });
    try {
      await waitFor(() => watch.output().includes("watching (1 update(s)"), { what: "the first drawing" });
      await recordSend(randomUUID(), "sub-e");
      await waitFor(() => watch.output().includes("watching (2 update(s)"), { what: "the redrawing" });
    } finally {
      watch.child.stdin!.write("\u0003");
    }
    expect(await watch.exited).toBe(0);
    const output = watch.output();
    const blockLines = 18; // the heading, 14 counts, "by mailbox provider:" and its one provider, the "watching" line
    expect(output.split(`\u001b[${blockLines}A\r\u001b[J`)).toHaveLength(2);
    expect(output.match(/\n {2}sent\s+\d+\r?\n/g)).toHaveLength(2);
  });
});
