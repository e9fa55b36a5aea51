/**
 * `ngsreach audit --workspace W [--limit N]`: who changed what (secrets,
 * RecordSend, suppressions), newest first, one line per entry.
 */
import { AuditAction } from "../gen/ngsreach/events/v1/audit_pb.ts";
import { limitOf, requireFlag, type CommandLine } from "./command-line.ts";
import { printable, time } from "./output.ts";
import { settingsClient } from "./secret-command.ts";

const actionName = (action: AuditAction) =>
  (Object.entries(AuditAction).find(([, value]) => value === action)?.[0] ?? String(action)).toLowerCase();

/** Prints the workspace's newest audit entries, reading as many pages as --limit needs. */
export async function auditCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  const limit = limitOf(line);
  const client = settingsClient(line);
  let shown = 0;
  let pageToken = "";
  do {
    const page = await client.listAuditEntries({ workspaceId, pageSize: Math.min(500, limit - shown), pageToken });
    for (const entry of page.entries.slice(0, limit - shown)) {
      const fields = [time(entry.time), entry.service, actionName(entry.action), `caller=${entry.caller || "-"}`, `actor=${printable(entry.actor) || "-"}`];
      console.log(`${fields.join("  ")}  target=${printable(entry.target) || "-"}${entry.note ? `  note=${JSON.stringify(entry.note)}` : ""}`);
      shown++;
    }
    pageToken = page.nextPageToken;
  } while (pageToken && shown < limit);
  if (shown === 0) console.log(`no audit entries for workspace ${workspaceId}`);
}
