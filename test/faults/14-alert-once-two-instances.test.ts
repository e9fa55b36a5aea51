import { fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CampaignAlertKind, CampaignAlertSchema, type CampaignAlert } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { DOMAIN_EVENTS_STREAM } from "../../services/shared/nats.ts";
import { waitFor } from "../harness.ts";
import { check, expectedFrom } from "./checker.ts";
import { drive } from "./driver.ts";
import { Ledger } from "./ledger.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { Stack } from "./stack.ts";
import { checkerConnection, readStream } from "./stream-reader.ts";
import { buildWorkload, type PlannedDelivery } from "./workload.ts";

/**
 * At most one hard bounce in 30 sends: the short form's two campaigns of 30 then always hold a crossing one
 * (the workload forces a hard bounce among its first sends; at 5 % a CI run once had no campaign over it).
 */
const threshold = 0.03;

describe("fault scenario 14 (cluster, two campaign-stats instances): campaigns crossing their hard-bounce threshold", () => {
  it("publish exactly one alert per crossing", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({
      cluster: true,
      // Only hard-bounce alerts are counted: that rate this load moves one way (complaint alerts may come and go).
      serviceEnv: { "campaign-stats": { STATS_ALERT_BOUNCE_RATE: String(threshold), STATS_ALERT_MIN_DELIVERED: "1" } },
    });
    const nats = await checkerConnection(stack.natsUrl);
    try {
      const workload = buildWorkload({ workspaceId: stack.workspaceId, sends: pick(60, 1500) });
      // A Resend load: one event per request.
      const hard = (delivery: PlannedDelivery) => delivery.events.every((event) => event.type === "email.bounced" && event.bounceType === "Permanent");
      const ledger = new Ledger();
      const target = () => stack.url("webhook-gateway");
      const secret = (workspaceId: string) => stack.secrets.get(workspaceId)!;
      // Every other event first, applied everywhere; then only hard bounces: each campaign's rate only rises,
      // so it crosses once (or never), whichever instance applies which bounce.
      await drive(ledger, workload.deliveries.filter((event) => !hard(event)), { target, secret });
      const before = expectedFrom(ledger);
      await waitFor(
        async () => {
          for (const [campaignId, want] of before.campaigns) {
            const { stats } = await stack.stats().getCampaignStats({ workspaceId: stack.workspaceId, campaignId });
            if (Number(stats?.sent) !== want.sent || Number(stats?.delivered) !== want.delivered) return false;
          }
          return true;
        },
        { timeoutMs: 120_000, intervalMs: 250, what: "the first phase to be applied" },
      );
      await drive(ledger, workload.deliveries.filter(hard), { target, secret });
      const verdict = await check(stack, ledger, { scenario: "14-alert-once-two-instances" });
      expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });

      const expected = expectedFrom(ledger);
      const crossing = [...expected.campaigns].filter(([, counts]) => counts.sent! > 0 && counts.hardBounced! / counts.sent! >= threshold).map(([id]) => id);
      const alerts = await waitFor(
        async () => {
          const found: CampaignAlert[] = [];
          await readStream(nats, DOMAIN_EVENTS_STREAM, (msg) => void found.push(fromBinary(CampaignAlertSchema, msg.data)), `campaign.${stack.workspaceId}.alert`);
          const hardBounceAlerts = found.filter((alert) => alert.kind === CampaignAlertKind.HARD_BOUNCE_RATE);
          return hardBounceAlerts.length >= crossing.length && hardBounceAlerts;
        },
        { timeoutMs: 60_000, intervalMs: 500, what: "the alerts" },
      );
      console.log(`[faults] 14 alerts: ${alerts.map((alert) => `${alert.campaignId} ${(alert.rate * 100).toFixed(1)} %`).join(", ")} (campaigns over ${threshold * 100} %: ${crossing.length})`);
      expect(crossing.length).toBeGreaterThan(0);
      expect(alerts.map((alert) => alert.campaignId).sort()).toEqual(crossing.sort());
    } finally {
      await nats.nc.close();
    }
  });
});
