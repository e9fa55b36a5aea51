/**
 * ReencryptSecrets: every stored webhook secret sealed again under the first
 * key of SECRETS_KEY, so an older key can be dropped from it (put the new
 * key first, keep the old one after it on every gateway, run this to the last
 * page, then remove the old key).
 *
 * Why it runs inside the gateway (an RPC) and not as a script with database
 * access: the gateway already holds SECRETS_KEY and the database, its RPCs
 * are authenticated and audited, and the operator's machine needs neither
 * the keys nor a database connection.
 *
 * Idempotent and resumable: a secret already sealed under the first key is
 * left alone, and each workspace is rewritten by one version-guarded update
 * of its own document (a concurrent secret change wins, and the document is
 * read again), together with its audit entry. So a run stopped anywhere is
 * simply started again. Secrets SECRETS_KEY cannot open are never touched,
 * only counted: nothing stored is lost.
 *
 * Provider API keys (issue 16) live in the same document, sealed under the
 * same SECRETS_KEY, so they are re-sealed in the same write and counted with
 * the secrets: dropping the old key must not strand them either.
 */
import { randomUUID } from "node:crypto";
import type { AuditRecord } from "../../shared/audit.ts";
import { InvalidArgumentError } from "../../shared/errors.ts";
import { decodePageToken, encodePageToken } from "../../shared/paging.ts";
import { isWorkspaceId } from "../../shared/validation.ts";
import { SecretUndecryptableError } from "./secret-box.ts";
import { flushSecretOutbox, serialiseOutboxEntry, type SecretOutboxDeps } from "./secret-outbox.ts";
import type { Audit } from "./secrets.ts";
import type { StoredApiKey, StoredSecret, WorkspaceRecord } from "./workspace-repository.ts";

export interface ReencryptDeps extends SecretOutboxDeps {
  /** The id of the first key of SECRETS_KEY. */
  activeKeyId: string;
  /** The secret sealed under the first key, or undefined when it already is; throws SecretUndecryptableError. */
  reseal(workspaceId: string, sealed: string): string | undefined;
  /** The same for a provider API key (sealed with its own purpose). */
  resealApiKey(workspaceId: string, sealed: string): string | undefined;
  now(): Date;
}

export interface ReencryptPage {
  keyId: string;
  workspacesScanned: number;
  workspacesResealed: number;
  secretsResealed: number;
  secretsCurrent: number;
  secretsUndecryptable: number;
  undecryptableWorkspaceIds: string[];
  workspacesContended: number;
  nextPageToken: string;
}

export const defaultReencryptPageSize = 200;
export const maxReencryptPageSize = 1000;
const maxListedWorkspaces = 100;
const tokenScope = "reencrypt-secrets";

/** One page of workspaces, in workspace id order. */
export async function reencryptSecrets(
  deps: ReencryptDeps,
  request: { pageSize: number; pageToken: string },
  audit: Audit,
): Promise<ReencryptPage> {
  if (request.pageSize < 0) throw new InvalidArgumentError("page_size", "must not be negative");
  const limit = request.pageSize === 0 ? defaultReencryptPageSize : Math.min(request.pageSize, maxReencryptPageSize);
  const after = decodePageToken<string>(request.pageToken, tokenScope);
  if (after !== undefined && !isWorkspaceId(after)) throw new InvalidArgumentError("page_token", "invalid page token");

  // One more than the page, so the last page says it is the last.
  const listed = await deps.repository.listAfter(after, limit + 1);
  const records = listed.slice(0, limit);
  const page: ReencryptPage = {
    keyId: deps.activeKeyId,
    workspacesScanned: records.length,
    workspacesResealed: 0,
    secretsResealed: 0,
    secretsCurrent: 0,
    secretsUndecryptable: 0,
    undecryptableWorkspaceIds: [],
    workspacesContended: 0,
    nextPageToken: listed.length > limit ? encodePageToken(tokenScope, records.at(-1)!.workspaceId) : "",
  };
  for (const record of records) {
    const outcome = await resealWorkspace(deps, record, audit);
    if (outcome === "contended") {
      page.workspacesContended++;
      continue;
    }
    page.secretsResealed += outcome.resealed;
    page.secretsCurrent += outcome.current;
    page.secretsUndecryptable += outcome.undecryptable;
    if (outcome.resealed > 0) page.workspacesResealed++;
    if (outcome.undecryptable > 0 && page.undecryptableWorkspaceIds.length < maxListedWorkspaces) {
      page.undecryptableWorkspaceIds.push(record.workspaceId);
    }
  }
  return page;
}

interface Resealed {
  resealed: number;
  current: number;
  undecryptable: number;
}

/** Rewrites one workspace's secrets that are not under the first key yet (retried on a concurrent change). */
async function resealWorkspace(deps: ReencryptDeps, first: WorkspaceRecord, audit: Audit): Promise<Resealed | "contended"> {
  let record: WorkspaceRecord | undefined = first;
  for (let attempt = 0; attempt < 5 && record; attempt++) {
    const now = deps.now();
    const counts: Resealed = { resealed: 0, current: 0, undecryptable: 0 };
    const resealedFingerprints: string[] = [];
    const secrets = record.secrets.map((secret): StoredSecret => {
      try {
        const sealed = deps.reseal(record!.workspaceId, secret.sealed);
        if (sealed === undefined) {
          counts.current++;
          return secret;
        }
        counts.resealed++;
        resealedFingerprints.push(secret.fingerprint);
        return { ...secret, sealed };
      } catch (error) {
        if (!(error instanceof SecretUndecryptableError)) throw error;
        // An expired secret verifies nothing any more: left as it is, and not worth an alarm.
        if (!secret.expiresAt || secret.expiresAt > now) counts.undecryptable++;
        return secret;
      }
    });
    const apiKeys = record.apiKeys?.map((key): StoredApiKey => {
      try {
        const sealed = deps.resealApiKey(record!.workspaceId, key.sealed);
        if (sealed === undefined) {
          counts.current++;
          return key;
        }
        counts.resealed++;
        resealedFingerprints.push(`api_key:${key.provider}:${key.fingerprint}`);
        return { ...key, sealed };
      } catch (error) {
        if (!(error instanceof SecretUndecryptableError)) throw error;
        counts.undecryptable++;
        return key;
      }
    });
    if (counts.resealed === 0) return counts;
    const entry: AuditRecord = {
      id: randomUUID(),
      workspaceId: record.workspaceId,
      service: "webhook-gateway",
      action: "reencrypt_webhook_secrets",
      caller: audit.caller,
      actor: audit.actor || "unknown",
      note: `sealed under key "${deps.activeKeyId}"${audit.note ? `: ${audit.note}` : ""}`,
      target: resealedFingerprints.join(","),
      atMs: now.getTime(),
    };
    const outboxEntry = serialiseOutboxEntry(entry);
    if (await deps.repository.save(record.workspaceId, secrets, record.version, now, outboxEntry, apiKeys)) {
      await flushSecretOutbox(deps, record.workspaceId, [outboxEntry]);
      return counts;
    }
    record = await deps.repository.find(record.workspaceId);
  }
  return record ? "contended" : { resealed: 0, current: 0, undecryptable: 0 };
}
