/**
 * `ngsreach send EMAIL_ID --workspace W [--provider P]`: what happened to one
 * email — GetSend's state and ListSendEvents' timeline. --json prints both
 * answers as one object: GetSendResponse's `send` and the timeline's `events`.
 */
import { DeliveryStatusService, SendEventSchema, SendSchema, SendStatus, type Send, type SendEvent } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import type { Bounce } from "../gen/ngsreach/events/v1/resend_event_pb.ts";
import { requireFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";
import { apiProvider, enumWords, parseProvider, providerName } from "./names.ts";
import { readPages } from "./pages.ts";
import { fields, jsonOf, printJson, table, time } from "./output.ts";
import { UsageError } from "./usage-error.ts";

export const sendStatuses = enumWords(SendStatus);

const bounceText = (bounce: Bounce) =>
  [`${bounce.type}/${bounce.subType}`, bounce.smtpStatus, bounce.providerType && `(${bounce.providerType})`, bounce.diagnosticCode || bounce.message]
    .filter(Boolean)
    .join(" ");

/** The timeline entry's details in a few words. */
function detailOf(event: SendEvent): string {
  const { detail } = event;
  if (detail.case === "bounce") return bounceText(detail.value);
  if (detail.case === "click") return detail.value.link;
  if (detail.case === "failed") return detail.value.reason;
  if (detail.case === "suppressed") return `${detail.value.type} ${detail.value.message}`.trim();
  return "";
}

/** The send's state as label/value lines: only what is known. */
function stateLines(send: Send): [string, string][] {
  const at = (label: string, ts: Send["sentTime"], extra = ""): [string, string][] => (ts ? [[label, `${time(ts)}${extra}`]] : []);
  return [
    ["status", sendStatuses.name(send.status)],
    ["provider", providerName(send.provider)],
    ["campaign", send.campaignId || "-"],
    ["subscriber", send.subscriberId || "-"],
    ["recipient", send.recipient || "-"],
    ["attributed", send.attributed ? `yes, recorded ${time(send.recordedTime)}` : "no (known from events only; RecordSend not seen yet)"],
    ...at("sent", send.sentTime),
    ...at("delayed", send.deliveryDelayedTime),
    ...at("delivered", send.deliveredTime),
    ...at("first opened", send.firstOpenedTime, `  (${send.openCount} open(s))`),
    ...at("first clicked", send.firstClickedTime, `  (${send.clickCount} click(s))`),
    ...at("bounced", send.bouncedTime, send.bounce ? `  ${bounceText(send.bounce)}` : ""),
    ...at("soft bounced", send.lastSoftBounceTime, `  (${send.softBounceCount}, last ${send.lastSoftBounce ? bounceText(send.lastSoftBounce) : "-"})`),
    ...at("complained", send.complainedTime),
    ...at("failed", send.failedTime, `  ${send.failureReason}`),
    ...at("suppressed", send.suppressedTime, send.suppression ? `  ${send.suppression.type}` : ""),
    ...at("unsubscribed", send.unsubscribedTime),
    ...at("last event", send.lastEventTime),
  ];
}

export async function sendCommand(line: CommandLine): Promise<void> {
  const emailId = line.positionals[1];
  if (!emailId) throw new UsageError("send needs the email id: ngsreach send EMAIL_ID --workspace ID [--provider P]");
  const workspaceId = requireFlag(line, "workspace");
  // Unset unless given: the prefixed form a table shows ("sendgrid:...") then names its provider itself.
  const provider = line.flags.provider === undefined ? undefined : apiProvider(parseProvider(line.flags.provider));
  const client = serviceClient(DeliveryStatusService, "delivery-status", line.env);
  const { send } = await client.getSend({ workspaceId, emailId, provider });
  if (!send) throw new Error("GetSend answered without a send");
  const timeline = await readPages(10_000, "", async (pageSize, pageToken) => {
    const page = await client.listSendEvents({ workspaceId, emailId: send.emailId, pageSize, pageToken });
    return { items: page.events, nextPageToken: page.nextPageToken };
  });
  if (line.flags.json) {
    printJson({ send: jsonOf(SendSchema, send), events: timeline.items.map((event) => jsonOf(SendEventSchema, event)) });
    return;
  }
  console.log(`send ${send.emailId} of workspace ${workspaceId}`);
  console.log(fields(stateLines(send)));
  console.log(`\ntimeline (${timeline.items.length} event(s), in event-time order)`);
  const rows = timeline.items.map((event) => [time(event.eventTime), event.type, event.providerType || "-", time(event.receivedTime), detailOf(event)]);
  if (rows.length) console.log(table(["EVENT TIME", "TYPE", "PROVIDER TYPE", "RECEIVED", "DETAIL"], rows));
}
