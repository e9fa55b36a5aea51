/** ListAuditEntries: one workspace's audit entries, newest first, paged. */
import type { AuditRecord } from "../../shared/audit.ts";
import { InvalidArgumentError } from "../../shared/errors.ts";
import { decodePageToken, encodePageToken } from "../../shared/paging.ts";
import { requireWorkspaceId } from "../../shared/validation.ts";
import type { AuditCursor, AuditRepository } from "./audit-repository.ts";

export interface AuditLogDeps {
  audits: AuditRepository;
}

export interface AuditPage {
  items: AuditRecord[];
  nextPageToken: string;
}

const isCursor = (value: unknown): value is AuditCursor =>
  Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && typeof value[1] === "string";

/** A page of `size` entries (already bounded by pageSize) after the token's position. */
export async function listAuditEntries(deps: AuditLogDeps, workspaceId: string, size: number, pageToken: string): Promise<AuditPage> {
  requireWorkspaceId(workspaceId);
  const scope = `audit|${workspaceId}`;
  const after = decodePageToken<unknown>(pageToken, scope);
  if (after !== undefined && !isCursor(after)) throw new InvalidArgumentError("page_token", "invalid page token");
  const items = await deps.audits.list(workspaceId, after, size + 1);
  const page = items.slice(0, size);
  const last = page.at(-1);
  return { items: page, nextPageToken: items.length > size && last ? encodePageToken(scope, [last.atMs, last.id]) : "" };
}
