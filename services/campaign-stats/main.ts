/** Entry point: `node services/campaign-stats/main.ts` (or `deno run -A`). */
import { loadBaseConfig } from "../shared/config.ts";
import { runMain } from "../shared/main.ts";
import { startService } from "../shared/service-host.ts";
import { campaignStatsService, loadCampaignStatsSettings } from "./service.ts";

await runMain("campaign-stats", () => startService(campaignStatsService(loadCampaignStatsSettings()), loadBaseConfig()));
