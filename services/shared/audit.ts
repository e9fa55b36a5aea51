/**
 * Audit entries in transit: the plain shape every service builds, its
 * protobuf form (ngsreach.events.v1.AuditEntry), its subject
 * `audit.<ws>.<service>` in DOMAIN_EVENTS, and the bounds a stored entry keeps
 * to. Plumbing only: which changes are audited, and when, is each service's
 * use cases' business; publishing goes through each service's outbox.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient } from "@nats-io/jetstream";
import { AuditAction, AuditEntrySchema, type AuditEntry } from "../../gen/ngsreach/events/v1/audit_pb.ts";
import { isWorkspaceId } from "./validation.ts";
import { publishTraced } from "./tracing/nats-spans.ts";

/** The stored form of AuditAction. */
export type AuditActionName =
  | "set_webhook_secret"
  | "rotate_webhook_secret"
  | "remove_webhook_secret"
  | "record_send"
  | "add_suppression"
  | "remove_suppression"
  | "reencrypt_webhook_secrets"
  | "set_provider_api_key"
  | "remove_provider_api_key"
  | "erase_subscriber";

const actions: Record<AuditActionName, AuditAction> = {
  set_webhook_secret: AuditAction.SET_WEBHOOK_SECRET,
  rotate_webhook_secret: AuditAction.ROTATE_WEBHOOK_SECRET,
  remove_webhook_secret: AuditAction.REMOVE_WEBHOOK_SECRET,
  record_send: AuditAction.RECORD_SEND,
  add_suppression: AuditAction.ADD_SUPPRESSION,
  remove_suppression: AuditAction.REMOVE_SUPPRESSION,
  reencrypt_webhook_secrets: AuditAction.REENCRYPT_WEBHOOK_SECRETS,
  set_provider_api_key: AuditAction.SET_PROVIDER_API_KEY,
  remove_provider_api_key: AuditAction.REMOVE_PROVIDER_API_KEY,
  erase_subscriber: AuditAction.ERASE_SUBSCRIBER,
};

/** One stored change made through an RPC. */
export interface AuditRecord {
  /** Unique; the JetStream message id and the key the audit store deduplicates by. */
  id: string;
  workspaceId: string;
  /** The service that made the change (its ServiceDefinition name). */
  service: string;
  action: AuditActionName;
  /** The authenticated caller's token name ("local" when auth is off, "" when not recorded). */
  caller: string;
  actor: string;
  note: string;
  /** Fingerprints, an email id or an address: what the change was about. Never a secret. */
  target: string;
  atMs: number;
}

/** Longest fields an entry may carry (the RPCs accept less); a longer one is refused, not cut. */
export const auditFieldLimits = Object.freeze({ id: 200, service: 32, caller: 32, actor: 256, note: 2000, target: 1024 });

/** `audit.<ws>.<service>`. */
export const auditSubject = (record: Pick<AuditRecord, "workspaceId" | "service">) => `audit.${record.workspaceId}.${record.service}`;

/** The protobuf form. */
export function toAuditMessage(record: AuditRecord): AuditEntry {
  const { atMs, action, ...fields } = record;
  return create(AuditEntrySchema, { ...fields, action: actions[action], time: timestampFromMs(atMs) });
}

/** The plain form of a message; throws (naming the field) on one no service would publish. */
export function fromAuditMessage(message: AuditEntry): AuditRecord {
  const action = (Object.keys(actions) as AuditActionName[]).find((name) => actions[name] === message.action);
  if (!action) throw new Error(`audit entry: unknown action ${message.action}`);
  if (!isWorkspaceId(message.workspaceId)) throw new Error("audit entry: workspace_id must match [A-Za-z0-9_-]{1,64}");
  if (!message.id) throw new Error("audit entry: id is required");
  if (!/^[a-z0-9-]{1,32}$/.test(message.service)) throw new Error("audit entry: service must match [a-z0-9-]{1,32}");
  if (!message.time) throw new Error("audit entry: time is required");
  for (const field of ["id", "caller", "actor", "note", "target"] as const) {
    if (message[field].length > auditFieldLimits[field]) throw new Error(`audit entry: ${field} longer than ${auditFieldLimits[field]}`);
  }
  const { id, workspaceId, service, caller, actor, note, target } = message;
  return { id, workspaceId, service, action, caller, actor, note, target, atMs: timestampDate(message.time).getTime() };
}

export const encodeAuditEntry = (record: AuditRecord): Uint8Array => toBinary(AuditEntrySchema, toAuditMessage(record));

/** Decodes an entry published on `subject`; throws unless it is well formed and the subject is its own. */
export function decodeAuditEntry(data: Uint8Array, subject: string): AuditRecord {
  const record = fromAuditMessage(fromBinary(AuditEntrySchema, data));
  if (subject !== auditSubject(record)) throw new Error(`audit entry of ${auditSubject(record)} published on ${subject}`);
  return record;
}

/** Publishes one entry; resolves once JetStream stored it (a repeat inside the duplicate window is dropped). */
export async function publishAuditEntry(js: JetStreamClient, record: AuditRecord): Promise<void> {
  await publishTraced(js, auditSubject(record), encodeAuditEntry(record), { msgID: record.id });
}
