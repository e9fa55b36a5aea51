/** A workspace's mailbox-provider overrides through the API, applied to the sends counted after them, and only in that workspace. */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MailboxProvider } from "../../../gen/ngsreach/events/v1/mailbox_provider_pb.ts";
import { CampaignStatsService } from "../../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../../test/harness.ts";
import { publishMessage, workloadBase } from "../../../test/support/campaign-stats-workload.ts";
import { startService, type RunningService } from "../../shared/service-host.ts";
import { campaignStatsService, loadCampaignStatsSettings } from "../service.ts";

let service: RunningService;
beforeAll(async () => {
  const nats = await privateNats();
  service = await startService(campaignStatsService({ ...loadCampaignStatsSettings({}), port: 0 }), testBaseConfig({ natsUrl: nats.url }));
});
afterAll(async () => service?.stop());

const client = () => createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));

describe("mailbox-provider overrides", () => {
  it("are stored normalised, refused with the bad entry named, and count a company's domain (and its subdomains) as its provider's", async () => {
    const [ws, other] = [uniqueName("ws"), uniqueName("ws")];
    const stored = await client().setMailboxProviderOverrides({
      workspaceId: ws,
      overrides: [{ domain: "Acme.Test.", provider: MailboxProvider.GMAIL }, { domain: "contoso.test", provider: MailboxProvider.MICROSOFT }],
    });
    expect(stored.overrides.map((entry) => [entry.domain, entry.provider])).toEqual([["acme.test", MailboxProvider.GMAIL], ["contoso.test", MailboxProvider.MICROSOFT]]);
    expect((await client().getMailboxProviderOverrides({ workspaceId: ws })).overrides).toEqual(stored.overrides);
    expect((await client().getMailboxProviderOverrides({ workspaceId: other })).overrides).toEqual([]);

    const refused = async (overrides: { domain: string; provider: MailboxProvider }[]) => {
      const error = await client().setMailboxProviderOverrides({ workspaceId: ws, overrides }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      return (error as ConnectError).rawMessage;
    };
    expect(await refused([{ domain: "ok.test", provider: MailboxProvider.GMAIL }, { domain: "not a domain", provider: MailboxProvider.GMAIL }])).toMatch(/^overrides: override 1: .* is not a domain name/);
    expect(await refused([{ domain: "ok.test", provider: MailboxProvider.UNSPECIFIED }])).toMatch(/override 0: provider must be one of/);
    expect(await refused([{ domain: "ok.test", provider: MailboxProvider.GMAIL }, { domain: "OK.test", provider: MailboxProvider.APPLE }])).toMatch(/ok\.test is listed twice/);
    expect((await client().getMailboxProviderOverrides({ workspaceId: ws })).overrides).toEqual(stored.overrides); // nothing changed

    // The same sends in two workspaces: only the one with the overrides counts them as Gmail's and Microsoft's.
    for (const workspaceId of [ws, other]) {
      for (const [emailId, domain] of [["a", "eu.acme.test"], ["b", "contoso.test"], ["c", "notacme.test"]] as const) {
        await publishMessage(service.context.nats.js, workspaceId, { kind: "record", emailId, campaignId: "launch", sentAt: workloadBase, domain });
      }
    }
    const providers = async (workspaceId: string) => {
      const { stats } = await client().getCampaignStats({ workspaceId, campaignId: "launch" });
      return Object.fromEntries(stats!.byProvider.map((entry) => [entry.provider, Number(entry.sent)]));
    };
    await waitFor(async () => JSON.stringify(await providers(ws)) === JSON.stringify({ [MailboxProvider.GMAIL]: 1, [MailboxProvider.MICROSOFT]: 1, [MailboxProvider.OTHER]: 1 }), { what: "the overrides applied" });
    await waitFor(async () => JSON.stringify(await providers(other)) === JSON.stringify({ [MailboxProvider.OTHER]: 3 }), { what: "the other workspace untouched" });
  });
});
