/**
 * ConnectRPC handlers of CampaignStatsService: validate, call a use case, map to proto.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  CampaignStatsSchema,
  CampaignStatsService,
  DeliverabilityDaySchema,
  LinkClicksSchema,
  MailboxProviderOverrideSchema,
  ProviderDeliverabilitySchema,
  ProviderStatsSchema,
  TimeSeriesPointSchema,
  type CampaignStats,
} from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { InvalidArgumentError } from "../shared/errors.ts";
import { decodePageToken, encodePageToken, pageSize } from "../shared/paging.ts";
import { requireText, requireWorkspaceId } from "../shared/validation.ts";
import { countFields, type CountField, type Counts } from "./counts.ts";
import { protoMailboxProvider } from "./deliverability/limit-alert-event.ts";
import type { ProviderOverride, ProviderOverrides } from "./deliverability/provider-overrides.ts";
import type { StatsRepository } from "./stats-repository.ts";
import {
  batchGetCampaignStats,
  getCampaignStats,
  getCampaignTimeSeries,
  listLinkClicks,
  type CampaignStatsView,
} from "./use-cases/queries.ts";
import { getWorkspaceDeliverability } from "./use-cases/deliverability.ts";
import { watchCampaigns, watchInterval } from "./watch.ts";

const maxCampaignIds = 100;

const big = <Field extends CountField>(counts: Partial<Counts>, fields: readonly Field[]) =>
  Object.fromEntries(fields.map((field) => [field, BigInt(counts[field] ?? 0)])) as Record<Field, bigint>;

/** Proto form of a campaign's statistics. */
export function toProtoStats(view: CampaignStatsView): CampaignStats {
  return create(CampaignStatsSchema, {
    workspaceId: view.workspaceId,
    campaignId: view.campaignId,
    ...big(view.counts, countFields),
    rates: view.rates,
    updatedTime: view.updatedAt === null ? undefined : timestampFromMs(view.updatedAt),
    byProvider: view.byProvider.map(({ provider, counts, rates }) =>
      create(ProviderStatsSchema, { provider: protoMailboxProvider[provider], ...big(counts, countFields), rates }),
    ),
  });
}


const toProtoOverride = (entry: ProviderOverride) => create(MailboxProviderOverrideSchema, { domain: entry.domain, provider: protoMailboxProvider[entry.provider] });

/** The provider's name of a proto value; "unspecified" (refused by the override checks) for UNSPECIFIED or unknown. */
function mailboxProviderOfProto(value: number): string {
  return (Object.entries(protoMailboxProvider).find(([, proto]) => proto === value)?.[0]) ?? "unspecified";
}

function campaignIdList(ids: string[]): string[] {
  if (ids.length === 0) throw new InvalidArgumentError("campaign_ids", "required (1 to 100 ids)");
  if (ids.length > maxCampaignIds) throw new InvalidArgumentError("campaign_ids", `at most ${maxCampaignIds}`);
  ids.forEach((id, index) => {
    if (id === "") throw new InvalidArgumentError("campaign_ids", `empty id at index ${index}`);
    requireText(id, "campaign_ids");
  });
  return ids;
}

/** Registers CampaignStatsService on the router. */
export function registerCampaignStatsRoutes(router: ConnectRouter, repo: StatsRepository, nc: NatsConnection, overrides: ProviderOverrides): void {
  router.service(CampaignStatsService, {
    async getCampaignStats(req) {
      const workspaceId = requireWorkspaceId(req.workspaceId);
      const campaignId = requireText(req.campaignId, "campaign_id");
      return { stats: toProtoStats(await getCampaignStats(repo, workspaceId, campaignId)) };
    },

    async batchGetCampaignStats(req) {
      const workspaceId = requireWorkspaceId(req.workspaceId);
      const views = await batchGetCampaignStats(repo, workspaceId, campaignIdList(req.campaignIds));
      return { stats: views.map(toProtoStats) };
    },

    async listLinkClicks(req) {
      const workspaceId = requireWorkspaceId(req.workspaceId);
      const campaignId = requireText(req.campaignId, "campaign_id");
      const size = pageSize(req.pageSize);
      const scope = `links\u0000${workspaceId}\u0000${campaignId}`;
      const cursor = decodePageToken<{ after: string }>(req.pageToken, scope);
      if (cursor !== undefined && typeof cursor.after !== "string") throw new InvalidArgumentError("page_token", "invalid page token");
      const page = await listLinkClicks(repo, workspaceId, campaignId, cursor?.after, size);
      return {
        links: page.links.map((link) =>
          create(LinkClicksSchema, {
            link: link.link,
            clicks: BigInt(link.clicks),
            uniqueClicks: BigInt(link.uniqueClicks),
            scannerClicks: BigInt(link.scannerClicks),
            firstClickTime: link.firstClickAt === null ? undefined : timestampFromMs(link.firstClickAt),
            lastClickTime: link.lastClickAt === null ? undefined : timestampFromMs(link.lastClickAt),
          }),
        ),
        nextPageToken: page.nextAfter === undefined ? "" : encodePageToken(scope, { after: page.nextAfter }),
      };
    },

    async getCampaignTimeSeries(req) {
      const workspaceId = requireWorkspaceId(req.workspaceId);
      const campaignId = requireText(req.campaignId, "campaign_id");
      if (!req.startTime) throw new InvalidArgumentError("start_time", "required");
      if (!req.endTime) throw new InvalidArgumentError("end_time", "required");
      const points = await getCampaignTimeSeries(repo, workspaceId, campaignId, timestampMs(req.startTime), timestampMs(req.endTime));
      return {
        points: points.map((point) => create(TimeSeriesPointSchema, { bucketStartTime: timestampFromMs(point.hour), ...big(point.counts, countFields) })),
      };
    },

    async getWorkspaceDeliverability(req) {
      const workspaceId = requireWorkspaceId(req.workspaceId);
      if (!req.startTime) throw new InvalidArgumentError("start_time", "required");
      if (!req.endTime) throw new InvalidArgumentError("end_time", "required");
      const days = await getWorkspaceDeliverability(repo, workspaceId, timestampMs(req.startTime), timestampMs(req.endTime));
      return {
        days: days.map(({ day, providers }) =>
          create(DeliverabilityDaySchema, {
            dayStartTime: timestampFromMs(day),
            providers: providers.map(({ provider, counts, complaintRate, bounceRate }) =>
              create(ProviderDeliverabilitySchema, {
                provider: protoMailboxProvider[provider],
                ...big(counts, ["sent", "delivered", "hardBounced", "softBounced", "complained"]),
                complaintRate,
                bounceRate,
              }),
            ),
          }),
        ),
      };
    },

    async setMailboxProviderOverrides(req) {
      const workspaceId = requireWorkspaceId(req.workspaceId);
      const entries = req.overrides.map((entry) => ({ domain: entry.domain, provider: mailboxProviderOfProto(entry.provider) }));
      return { overrides: (await overrides.set(workspaceId, entries)).map(toProtoOverride) };
    },

    async getMailboxProviderOverrides(req) {
      const workspaceId = requireWorkspaceId(req.workspaceId);
      return { overrides: (await overrides.get(workspaceId)).map(toProtoOverride) };
    },

    async *watchCampaignStats(req, context) {
      const workspaceId = requireWorkspaceId(req.workspaceId);
      const campaignIds = [...new Set(campaignIdList(req.campaignIds))];
      const interval = watchInterval(req.minIntervalMs);
      for await (const campaignId of watchCampaigns(nc, workspaceId, campaignIds, interval, context.signal)) {
        yield { stats: toProtoStats(await getCampaignStats(repo, workspaceId, campaignId)) };
      }
    },
  });
}
