/**
 * `ngsreach stats --workspace W --campaign C [--watch]`: a campaign's counts
 * and rates (GetCampaignStats). --watch follows WatchCampaignStats until
 * Ctrl-C: on a terminal the block is redrawn in place; into a pipe or a file
 * each update is one line, so the output can be followed with `tail -f` or
 * grepped. --json prints the RPC's JSON (with --watch one object per line).
 */
import { CampaignStatsService, CampaignStatsSchema, type CampaignStats } from "../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { requireFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";
import { mailboxProviderWords } from "./names.ts";
import { jsonOf, percent, printJson, time } from "./output.ts";

/** The counts with what each rate is of, as the proto defines the rates. */
export function statsBlock(stats: CampaignStats): string[] {
  const rates = stats.rates;
  const rows: [string, bigint, string][] = [
    ["sent", stats.sent, ""],
    ["delivered", stats.delivered, `${percent(rates?.deliveryRate ?? 0)} of sent (delivery rate)`],
    ["delivery delayed", stats.deliveryDelayed, ""],
    ["hard bounced", stats.hardBounced, `${percent(rates?.bounceRate ?? 0)} of sent (bounce rate)`],
    ["soft bounced", stats.softBounced, `${percent(rates?.softBounceRate ?? 0)} of sent`],
    ["complained", stats.complained, `${percent(rates?.complaintRate ?? 0)} of delivered (complaint rate)`],
    ["failed", stats.failed, ""],
    ["suppressed", stats.suppressed, ""],
    ["unsubscribed", stats.unsubscribed, `${percent(rates?.unsubscribeRate ?? 0)} of delivered`],
    ["opens", stats.opens, `(${stats.machineOpens} machine opens: within seconds of delivery, included)`],
    ["unique opens", stats.uniqueOpens, `${percent(rates?.openRate ?? 0)} of delivered (open rate)`],
    ["clicks", stats.clicks, `(${stats.scannerClicks} by link scanners, included)`],
    ["unique clicks", stats.uniqueClicks, `${percent(rates?.clickRate ?? 0)} of delivered, ${percent(rates?.clickToOpenRate ?? 0)} of unique opens`],
    ["human clicks", stats.humanUniqueClicks, `${percent(rates?.humanClickRate ?? 0)} of delivered (sends clicked by more than link scanners)`],
  ];
  const width = Math.max(...rows.map(([, count]) => String(count).length));
  const updated = stats.updatedTime ? `updated ${time(stats.updatedTime)}` : "no sends seen yet";
  return [
    `campaign ${stats.campaignId} of workspace ${stats.workspaceId}, ${updated}`,
    ...rows.map(([label, count, note]) => `  ${label.padEnd(16)}  ${String(count).padStart(width)}  ${note}`.trimEnd()),
    ...providerLines(stats),
  ];
}

/** The by-provider breakdown: the numbers a mailbox provider judges a sender by, one line each. */
function providerLines(stats: CampaignStats): string[] {
  if (stats.byProvider.length === 0) return [];
  return [
    "  by mailbox provider:",
    ...stats.byProvider.map((entry) => {
      const name = mailboxProviderWords.name(entry.provider);
      return `    ${name.padEnd(10)}  sent ${entry.sent}, delivered ${entry.delivered}, hard bounced ${entry.hardBounced} (${percent(entry.rates?.bounceRate ?? 0)}), complained ${entry.complained} (${percent(entry.rates?.complaintRate ?? 0)})`;
    }),
  ];
}

/** One update as one line of name=value pairs (the proto's field names), for logs and grep. */
export function statsLine(stats: CampaignStats): string {
  const rates = stats.rates;
  const pairs: [string, string | bigint][] = [
    ["sent", stats.sent],
    ["delivered", stats.delivered],
    ["delivery_delayed", stats.deliveryDelayed],
    ["hard_bounced", stats.hardBounced],
    ["soft_bounced", stats.softBounced],
    ["complained", stats.complained],
    ["failed", stats.failed],
    ["suppressed", stats.suppressed],
    ["unsubscribed", stats.unsubscribed],
    ["opens", stats.opens],
    ["machine_opens", stats.machineOpens],
    ["unique_opens", stats.uniqueOpens],
    ["clicks", stats.clicks],
    ["unique_clicks", stats.uniqueClicks],
    ["human_unique_clicks", stats.humanUniqueClicks],
    ["delivery_rate", percent(rates?.deliveryRate ?? 0).replace(" ", "")],
    ["bounce_rate", percent(rates?.bounceRate ?? 0).replace(" ", "")],
    ["complaint_rate", percent(rates?.complaintRate ?? 0).replace(" ", "")],
    ["open_rate", percent(rates?.openRate ?? 0).replace(" ", "")],
    ["click_rate", percent(rates?.clickRate ?? 0).replace(" ", "")],
  ];
  return `${time(stats.updatedTime)}  ${stats.campaignId}  ${pairs.map(([name, value]) => `${name}=${value}`).join(" ")}`;
}

/** Draws each update: redrawn in place on a terminal, appended as one line otherwise. */
function updatePrinter(json: boolean, terminal: boolean): (stats: CampaignStats) => void {
  if (json) return (stats) => console.log(JSON.stringify({ stats: jsonOf(CampaignStatsSchema, stats) }));
  if (!terminal) return (stats) => console.log(statsLine(stats));
  let drawn = 0;
  let updates = 0;
  return (stats) => {
    updates++;
    const lines = [...statsBlock(stats), `watching (${updates} update(s), last at ${new Date().toISOString()}); Ctrl-C to stop`];
    // Cursor up over the previous block, then clear to the end of the screen, then draw the new one.
    const rewind = drawn > 0 ? `\u001b[${drawn}A\r\u001b[J` : "";
    process.stdout.write(`${rewind}${lines.join("\n")}\n`);
    drawn = lines.length;
  };
}

/** Follows the campaign until Ctrl-C (exit 0) or until the server ends the stream (exit 1: nothing more will come). */
async function watch(line: CommandLine, workspaceId: string, campaignId: string): Promise<void> {
  const client = serviceClient(CampaignStatsService, "campaign-stats", line.env);
  const print = updatePrinter(line.flags.json!, process.stdout.isTTY === true);
  const stopped = new AbortController();
  const stop = () => stopped.abort();
  // Kept until the process exits (not `once`, not removed): a second Ctrl-C while the stream is closing
  // must not kill the command with 130 (CI saw one exit so after a single Ctrl-C on a loaded machine).
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    for await (const update of client.watchCampaignStats({ workspaceId, campaignIds: [campaignId] }, { signal: stopped.signal })) {
      if (update.stats) print(update.stats);
    }
  } catch (error) {
    if (stopped.signal.aborted) return;
    throw error;
  }
  if (stopped.signal.aborted) return;
  console.error("ngsreach: campaign-stats ended the stream (it shut down or restarted); run the command again to go on watching");
  process.exitCode = 1;
}

export async function statsCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  const campaignId = requireFlag(line, "campaign");
  if (line.flags.watch) return await watch(line, workspaceId, campaignId);
  const { stats } = await serviceClient(CampaignStatsService, "campaign-stats", line.env).getCampaignStats({ workspaceId, campaignId });
  if (!stats) throw new Error("GetCampaignStats answered without stats");
  if (line.flags.json) printJson({ stats: jsonOf(CampaignStatsSchema, stats) });
  else console.log(statsBlock(stats).join("\n"));
}
