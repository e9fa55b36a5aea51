/**
 * Entry point of a deliberately broken campaign-stats build: every campaign,
 * hour, link and send write goes without its version guard, so two instances
 * overwrite each other's updates from their cached copies (what the scale-out
 * issue measured before the guard held everywhere). Never used outside the
 * fault suite, whose checker must fail it.
 */
import { campaignStatsService, loadCampaignStatsSettings } from "../../services/campaign-stats/service.ts";
import { loadBaseConfig } from "../../services/shared/config.ts";
import { runMain } from "../../services/shared/main.ts";
import { startService } from "../../services/shared/service-host.ts";

await runMain("campaign-stats (unguarded build)", () =>
  startService(campaignStatsService({ ...loadCampaignStatsSettings(), versionGuard: false }), loadBaseConfig()),
);
