/**
 * Several instances of every service starting at the same moment, as a deployment with replicas does:
 * each creates the streams, its durable consumers and its indexes, and none may fail because another
 * is doing the same (FerretDB v1 dropped the connection of the instance that lost an index race).
 */
import { describe, expect, it } from "vitest";
import { campaignStatsService, loadCampaignStatsSettings } from "../services/campaign-stats/service.ts";
import { deliveryStatusService, loadDeliveryStatusSettings } from "../services/delivery-status/service.ts";
import { startService, type RunningService, type ServiceDefinition } from "../services/shared/service-host.ts";
import { loadSuppressionSettings, suppressionService } from "../services/suppression/service.ts";
import { gatewayService, loadGatewaySettings } from "../services/webhook-gateway/service.ts";
import { privateNatsCluster, testBaseConfig, testSecretsKey } from "./harness.ts";

const port = "0";
const definitions = (): ServiceDefinition[] => [
  gatewayService(loadGatewaySettings({ GATEWAY_PORT: port, SECRETS_KEY: testSecretsKey })),
  deliveryStatusService(loadDeliveryStatusSettings({ DELIVERY_STATUS_PORT: port })),
  campaignStatsService(loadCampaignStatsSettings({ CAMPAIGN_STATS_PORT: port })),
  suppressionService(loadSuppressionSettings({ SUPPRESSION_PORT: port })),
];

describe("instances starting together", () => {
  it("start four instances of every service at once on a fresh database and a fresh three-node cluster, all serving", async () => {
    const cluster = await privateNatsCluster(3);
    const config = testBaseConfig({ natsUrl: cluster.url, eventsReplicas: 3 });
    const starts = await Promise.allSettled(definitions().flatMap((definition) => [1, 2, 3, 4].map(() => startService(definition, config))));
    const running = starts.flatMap((start) => (start.status === "fulfilled" ? [start.value] : []));
    try {
      const outcomes = starts.map((start) => (start.status === "fulfilled" ? "ok" : String(start.reason)));
      expect(outcomes).toEqual(Array(16).fill("ok"));
      const health = await Promise.all(running.map((service: RunningService) => fetch(`http://127.0.0.1:${service.port}/healthz`)));
      expect(health.map((response) => response.status)).toEqual(Array(16).fill(200));
    } finally {
      await Promise.all(running.map((service) => service.stop()));
    }
  });
});
