/**
 * The gateway's part of an erasure (issue 17; its `webhook-gateway-erasures` consumer): the audit log
 * it keeps for every service names addresses — a suppression entry's target is the address an operator
 * added or removed, and operators write addresses into notes. Every entry of the workspace whose target
 * is one of the erased addresses (compared normalised: trimmed, domain lower-cased) gets the target
 * "erased:<erasure id>" and an empty note; any other entry whose note mentions one of them (in any
 * case, not as the end of a longer address) gets an empty note. What the entry was (service, action, caller, time) stays.
 *
 * Entries published before the request but not stored yet (the audit consumer behind, or the gateway
 * down when both were published) would arrive after this pass with the address: so the pass waits
 * until the audit consumer has stored every entry of the workspace published up to the request, and
 * the request is retried until it has. Entries published after the request name no erased address:
 * the suppression service writes "erased:<id>" as the target of its entries about an erased address.
 *
 * Idempotent: a redelivery finds nothing left to change. Bounded: pages of `pageSize` entries.
 *
 * The gateway's other collections hold no subscriber's data: webhook secrets and provider API keys
 * (sealed, with fingerprints), webhook health (counts per hour), silences (times), Mailgun tokens
 * (provider token and event id).
 */
import type { ErasureRequested } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { UnavailableError } from "../../shared/errors.ts";
import type { AuditRepository } from "./audit-repository.ts";

export interface EraseAuditDeps {
  audits: Pick<AuditRepository, "mentioning" | "redact">;
  /** True once the audit consumer stored every entry of the workspace published up to its erasure request. */
  auditsStoredThroughRequest(workspaceId: string): Promise<boolean>;
  pageSize?: number;
}

/** Trimmed, domain lower-cased (the suppression service's normal form). */
function normalised(target: string): string {
  const trimmed = target.trim();
  const at = trimmed.indexOf("@");
  return at === -1 ? trimmed : `${trimmed.slice(0, at)}@${trimmed.slice(at + 1).toLowerCase()}`;
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Finds an address in free text, in any case, but not inside a longer one ("jim.bob@x.com", "bob@x.com.au"). */
const mentionOf = (emails: readonly string[]) =>
  new RegExp(`(?<![A-Za-z0-9._%+'-])(?:${emails.map(escaped).join("|")})(?![A-Za-z0-9-]|\\.[A-Za-z0-9])`, "i");

/** Erases the request's addresses from the workspace's audit entries; resolves with how many entries changed. */
export async function eraseAuditTargets(deps: EraseAuditDeps, request: ErasureRequested): Promise<number> {
  const emails = request.emails.filter((email) => email.length > 0);
  if (emails.length === 0) return 0;
  if (!(await deps.auditsStoredThroughRequest(request.workspaceId))) {
    throw new UnavailableError("audit entries published before the erasure request are not all stored yet; retried");
  }
  const erased = new Set(emails);
  const mentioned = mentionOf(emails);
  const pageSize = deps.pageSize ?? 200;
  let changed = 0;
  let after: string | undefined;
  for (;;) {
    const page = await deps.audits.mentioning(request.workspaceId, emails, after, pageSize);
    for (const entry of page) {
      const target = erased.has(normalised(entry.target)) ? `erased:${request.erasureId}` : entry.target;
      const note = target !== entry.target || mentioned.test(entry.note) ? "" : entry.note;
      if (target === entry.target && note === entry.note) continue;
      if (await deps.audits.redact(request.workspaceId, entry.id, { target, note })) changed++;
    }
    if (page.length < pageSize) return changed;
    after = page.at(-1)!.id;
  }
}
