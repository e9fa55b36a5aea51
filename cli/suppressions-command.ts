/**
 * `ngsreach suppressions check|list|add|remove`: the workspace's suppression
 * list through SuppressionService. add and remove are audited by the service:
 * --note (why) is required, the actor is --actor or $USER.
 */
import { create } from "@bufbuild/protobuf";
import { SuppressionReason, SuppressionSource } from "../gen/ngsreach/events/v1/domain_events_pb.ts";
import {
  AddSuppressionResponseSchema,
  CheckSuppressionsResponseSchema,
  ListSuppressionsResponseSchema,
  RemoveSuppressionResponseSchema,
  SuppressionService,
  type Suppression,
} from "../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { argumentsAfter, limitOf, requireFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";
import { enumWords } from "./names.ts";
import { jsonOf, printJson, table, time } from "./output.ts";
import { readPages } from "./pages.ts";
import { UsageError } from "./usage-error.ts";

const reasons = enumWords(SuppressionReason);
/** What AddSuppression accepts (the others are the services' own findings). */
const addableReasons = enumWords(SuppressionReason, ["manual", "bounced", "complained"]);
const sources = enumWords(SuppressionSource);

/** An erased subscriber's suppression has no address any more (only its keyed hash is kept). */
const addressOf = (suppression: { email: string; erased: boolean }) => (suppression.erased ? "(erased)" : suppression.email);

const client = (line: CommandLine) => serviceClient(SuppressionService, "suppression", line.env);

/** Why, in the audit history: the service refuses a change without one, so ask before calling. */
function noteOf(line: CommandLine, action: string): string {
  if (!line.flags.note?.trim()) throw new UsageError(`suppressions ${action} needs --note WHY (kept in the address's audit history)`);
  return line.flags.note;
}

function oneAddress(line: CommandLine, action: string): string {
  const addresses = argumentsAfter(line, 2);
  if (addresses.length !== 1) throw new UsageError(`suppressions ${action} takes one address: ngsreach suppressions ${action} ADDRESS --workspace ID --note WHY`);
  return addresses[0]!;
}

const describe = (s: Suppression) => `${reasons.name(s.reason)} since ${time(s.suppressedTime)}${s.actor ? ` (by ${s.actor})` : ""}`;

async function check(line: CommandLine, workspaceId: string): Promise<void> {
  const emails = [...argumentsAfter(line, 2)];
  if (emails.length === 0) throw new UsageError("suppressions check needs one or more addresses: ngsreach suppressions check --workspace ID ADDRESS...");
  const answer = await client(line).checkSuppressions({ workspaceId, emails });
  if (line.flags.json) return printJson(jsonOf(CheckSuppressionsResponseSchema, answer));
  const rows = answer.results.map((result) => [
    result.normalizedEmail,
    result.suppressed ? "suppressed" : "ok to send",
    result.suppressed ? reasons.name(result.reason) : "-",
    time(result.suppressedTime),
  ]);
  console.log(table(["ADDRESS", "STATE", "REASON", "SINCE"], rows));
}

async function list(line: CommandLine, workspaceId: string): Promise<void> {
  const reason = line.flags.reason === undefined ? SuppressionReason.UNSPECIFIED : reasons.parse(line.flags.reason, "--reason");
  const service = client(line);
  const { items: suppressions, nextPageToken } = await readPages(limitOf(line), line.flags["page-token"] ?? "", async (pageSize, pageToken) => {
    const page = await service.listSuppressions({ workspaceId, reason, pageSize, pageToken });
    return { items: page.suppressions, nextPageToken: page.nextPageToken };
  });
  if (line.flags.json) return printJson(jsonOf(ListSuppressionsResponseSchema, create(ListSuppressionsResponseSchema, { suppressions, nextPageToken })));
  const which = line.flags.reason ? ` with reason ${line.flags.reason}` : "";
  if (suppressions.length === 0) return console.log(`no suppressed addresses in workspace ${workspaceId}${which}`);
  const rows = suppressions.map((s) => [
    addressOf(s),
    reasons.name(s.reason),
    sources.name(s.source),
    time(s.suppressedTime),
    s.subscriberId || "-",
    s.campaignId || "-",
    [s.detail, s.actor && `by ${s.actor}`, s.note && `"${s.note}"`].filter(Boolean).join(" ") || "-",
  ]);
  console.log(table(["ADDRESS", "REASON", "SOURCE", "SINCE", "SUBSCRIBER", "CAMPAIGN", "DETAIL"], rows));
  const more = nextPageToken ? `; more after these: --page-token ${nextPageToken} (or a larger --limit)` : "";
  console.log(`${suppressions.length} suppressed address(es)${which}${more}`);
}

async function add(line: CommandLine, workspaceId: string): Promise<void> {
  const email = oneAddress(line, "add");
  const reason = addableReasons.parse(line.flags.reason ?? "manual", "--reason");
  const note = noteOf(line, "add");
  const answer = await client(line).addSuppression({ workspaceId, email, reason, subscriberId: line.flags.subscriber ?? "", actor: line.actor, note });
  if (line.flags.json) return printJson(jsonOf(AddSuppressionResponseSchema, answer));
  const now = answer.suppression!;
  if (answer.changed) console.log(`suppressed ${addressOf(now)} in workspace ${workspaceId}: ${describe(now)}`);
  else console.log(`${addressOf(now)} was already suppressed in workspace ${workspaceId} (${describe(now)}); nothing changed`);
}

async function remove(line: CommandLine, workspaceId: string): Promise<void> {
  const email = oneAddress(line, "remove");
  const note = noteOf(line, "remove");
  const answer = await client(line).removeSuppression({ workspaceId, email, actor: line.actor, note });
  if (line.flags.json) return printJson(jsonOf(RemoveSuppressionResponseSchema, answer));
  if (answer.changed) console.log(`removed the suppression of ${answer.removed!.email} in workspace ${workspaceId} (was: ${describe(answer.removed!)})`);
  else console.log(`${email.trim()} was not suppressed in workspace ${workspaceId}; nothing changed`);
}

export async function suppressionsCommand(line: CommandLine): Promise<void> {
  const action = line.positionals[1];
  const actions: Record<string, (line: CommandLine, workspaceId: string) => Promise<void>> = { check, list, add, remove };
  if (!action || !Object.hasOwn(actions, action)) throw new UsageError(`unknown suppressions action "${action ?? ""}" (check, list, add or remove)`);
  await actions[action]!(line, requireFlag(line, "workspace"));
}
