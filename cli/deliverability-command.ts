/**
 * `ngsreach deliverability --workspace W [--days N] [--until TIME] [--json]`: the workspace's last N UTC days
 * (7 unless given, at most 90; the last is today's, or --until's) per mailbox provider — sent, delivered, bounces, complaints and the
 * complaint rate the bulk-sender rules judge, marked where it reaches their limits
 * (GetWorkspaceDeliverability). --json prints the RPC's JSON.
 */
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { CampaignStatsService, GetWorkspaceDeliverabilityResponseSchema, type DeliverabilityDay } from "../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { defaultBulkSenderLimits } from "../services/campaign-stats/deliverability/bulk-sender-limits.ts";
import { requireFlag, timeFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";
import { mailboxProviderWords } from "./names.ts";
import { jsonOf, percent, printJson } from "./output.ts";
import { UsageError } from "./usage-error.ts";

/** Gmail's and Yahoo's limits on the daily complaint rate: the service's. */
const { warning: warningRate, critical: criticalRate } = defaultBulkSenderLimits;
const dayMs = 86_400_000;


/** The mark of a complaint rate against the limits. */
export function limitMark(rate: number): string {
  if (rate >= criticalRate) return "CRITICAL (>= 0.3 %)";
  if (rate >= warningRate) return "warning (>= 0.1 %)";
  return "";
}

/** The days as a table, one row per day and provider; a day without sends is one row saying so. */
export function deliverabilityTable(workspaceId: string, days: readonly DeliverabilityDay[]): string[] {
  const header = ["day", "provider", "sent", "delivered", "hard bounced", "soft bounced", "complained", "complaint rate", "bounce rate", ""];
  const rows: string[][] = [];
  for (const day of days) {
    const date = new Date(Number(day.dayStartTime!.seconds) * 1000).toISOString().slice(0, 10);
    if (day.providers.length === 0) rows.push([date, "-", "0", "0", "0", "0", "0", "", "", ""]);
    for (const entry of day.providers) {
      rows.push([
        date,
        mailboxProviderWords.name(entry.provider),
        ...[entry.sent, entry.delivered, entry.hardBounced, entry.softBounced, entry.complained].map(String),
        percent(entry.complaintRate),
        percent(entry.bounceRate),
        limitMark(entry.complaintRate),
      ]);
    }
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  ").trimEnd();
  return [
    `workspace ${workspaceId}, per UTC day and mailbox provider; limits on the daily complaint rate: 0.1 % warning, 0.3 % critical (Gmail, Yahoo)`,
    line(header),
    ...rows.map(line),
  ];
}

export async function deliverabilityCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  const days = line.flags.days === undefined ? 7 : Number(line.flags.days);
  if (!Number.isInteger(days) || days < 1 || days > 90) throw new UsageError(`--days must be a whole number from 1 to 90, got "${line.flags.days}"`);
  const until = timeFlag(line, "until");
  const today = Math.floor((until ? timestampMs(until) : Date.now()) / dayMs) * dayMs;
  const response = await serviceClient(CampaignStatsService, "campaign-stats", line.env).getWorkspaceDeliverability({
    workspaceId,
    startTime: timestampFromMs(today - (days - 1) * dayMs),
    endTime: timestampFromMs(today + dayMs),
  });
  if (line.flags.json) printJson(jsonOf(GetWorkspaceDeliverabilityResponseSchema, response));
  else console.log(deliverabilityTable(workspaceId, response.days).join("\n"));
}
