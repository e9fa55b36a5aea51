/**
 * The campaign-stats service: what it builds from the shared context.
 */
import { defaultPorts, envReader, type Env } from "../shared/config.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";

/** Settings of this service beyond the shared ones. */
export interface CampaignStatsSettings {
  readonly port: number;
}

/** Reads this service's variables; errors name the variable. */
export function loadCampaignStatsSettings(env: Env = process.env): CampaignStatsSettings {
  const read = envReader(env);
  return Object.freeze({ port: read.port("CAMPAIGN_STATS_PORT", defaultPorts.campaignStats) });
}

/** The service definition the host starts. */
export function campaignStatsService(settings: CampaignStatsSettings): ServiceDefinition {
  return {
    name: "campaign-stats",
    port: settings.port,
    build: async () => ({ rpcServiceNames: [], routes: () => {} }),
  };
}
