/**
 * `ngsreach sends --workspace W --campaign C [--status S] [--subscriber ID]`:
 * a campaign's sends (ListSends), page after page up to --limit, in email id
 * order. --json prints ListSendsResponse's shape: `sends` and the
 * `nextPageToken` that --page-token continues from.
 */
import { create } from "@bufbuild/protobuf";
import { DeliveryStatusService, ListSendsResponseSchema, SendStatus } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { limitOf, requireFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";
import { providerName } from "./names.ts";
import { jsonOf, printJson, table, time } from "./output.ts";
import { readPages } from "./pages.ts";
import { sendStatuses } from "./send-command.ts";

export async function sendsCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  const campaignId = requireFlag(line, "campaign");
  const status = line.flags.status === undefined ? SendStatus.UNSPECIFIED : sendStatuses.parse(line.flags.status, "--status");
  const subscriberId = line.flags.subscriber ?? "";
  const client = serviceClient(DeliveryStatusService, "delivery-status", line.env);
  const { items: sends, nextPageToken } = await readPages(limitOf(line), line.flags["page-token"] ?? "", async (pageSize, pageToken) => {
    const page = await client.listSends({ workspaceId, campaignId, status, subscriberId, pageSize, pageToken });
    return { items: page.sends, nextPageToken: page.nextPageToken };
  });
  if (line.flags.json) {
    printJson(jsonOf(ListSendsResponseSchema, create(ListSendsResponseSchema, { sends, nextPageToken })));
    return;
  }
  const filters = [line.flags.status && `status ${line.flags.status}`, subscriberId && `subscriber ${subscriberId}`].filter(Boolean).join(", ");
  if (sends.length === 0) {
    console.log(`no sends of campaign ${campaignId} in workspace ${workspaceId}${filters ? ` with ${filters}` : ""}`);
    return;
  }
  const rows = sends.map((send) => [
    send.emailId,
    sendStatuses.name(send.status),
    providerName(send.provider),
    send.subscriberId || "-",
    send.recipient || "-",
    time(send.lastEventTime ?? send.sentTime),
  ]);
  console.log(table(["EMAIL ID", "STATUS", "PROVIDER", "SUBSCRIBER", "RECIPIENT", "LAST EVENT"], rows));
  const more = nextPageToken ? `; more after these: --page-token ${nextPageToken} (or a larger --limit)` : "";
  console.log(`${sends.length} send(s) of campaign ${campaignId}${filters ? ` with ${filters}` : ""}${more}`);
}
