/**
 * Deletes a subscriber's messages from the streams now (`ngsreach erase --purge-stream`), instead of
 * waiting for the streams' retention: every message of the workspace in RESEND_EVENTS (raw webhook
 * bodies in their envelopes) and in DOMAIN_EVENTS' `sends`, `subscriber` and `audit` subjects whose
 * bytes name one of the addresses (payload-addresses.ts). The erasure request itself
 * (`erasure.<ws>.requested`) is left to the suppression service, which deletes it once answered.
 *
 * A message goes only once every durable consumer whose filter takes it has acknowledged it (its
 * sequence at or below the consumer's ack floor), so no service misses the effect of an event; the
 * others are counted as `waiting` and kept for a later call. Messages are read with an ordered
 * consumer over the workspace's subjects, one batch at a time, and no more than `maxScanned` per
 * call: `resumeFrom` then says where the next call goes on. Messages stored after the call began
 * are not read (they are the next call's).
 */
import { DeliverPolicy, JetStreamApiError, type ConsumerInfo, type JetStreamManager } from "@nats-io/jetstream";
import { InvalidArgumentError } from "../../shared/errors.ts";
import { DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM } from "../../shared/nats.ts";
import { isWorkspaceId } from "../../shared/validation.ts";
import { addressMatcher } from "./payload-addresses.ts";

export interface PurgeLimits {
  /** Most messages read in one call (e.g. 100,000). */
  readonly maxScanned: number;
  /** Messages held in memory at once (default 256). */
  readonly batchSize?: number;
}

/** Where a call stopped at its scan cap: the stream and the first sequence not read. */
export interface PurgePosition {
  readonly stream: string;
  readonly sequence: number;
}

export interface PurgeRequest {
  readonly workspaceId: string;
  /** Normalised addresses. */
  readonly emails: readonly string[];
  /** Default: `defaultPurgeLimits`. */
  readonly limits?: PurgeLimits;
  /** A previous call's `resumeFrom`; from the first message when absent. */
  readonly from?: PurgePosition;
}

export interface PurgeResult {
  /** Messages deleted. */
  deleted: number;
  /** Messages naming an address that some durable consumer has not acknowledged yet: kept, call again later. */
  waiting: number;
  /** Messages read. */
  scanned: number;
  /** Set when the scan cap stopped the call before the last message: pass it as `from` to go on. */
  resumeFrom?: PurgePosition;
}

/** The streams and subjects searched, in the order they are. */
export const purgedSubjects = (workspaceId: string) => [
  { stream: RESEND_EVENTS_STREAM, subjects: [`resend.events.${workspaceId}.>`] },
  { stream: DOMAIN_EVENTS_STREAM, subjects: [`sends.${workspaceId}.>`, `subscriber.${workspaceId}.>`, `audit.${workspaceId}.>`] },
];

/** 100,000 messages read per call, 256 in memory at once. */
export const defaultPurgeLimits: PurgeLimits = Object.freeze({ maxScanned: 100_000, batchSize: 256 });

const noMessageFound = 10037;

/** Deletes what the streams hold naming the addresses, as far as the consumers and the limits allow. */
export async function purgeSubscriberMessages(jsm: JetStreamManager, request: PurgeRequest): Promise<PurgeResult> {
  // The id becomes part of subject filters: a wildcard in it would widen them to other workspaces.
  if (!isWorkspaceId(request.workspaceId)) throw new InvalidArgumentError("workspace_id", "must match [A-Za-z0-9_-]{1,64}");
  const matches = addressMatcher(request.emails);
  const result: PurgeResult = { deleted: 0, waiting: 0, scanned: 0 };
  const scopes = purgedSubjects(request.workspaceId);
  const first = request.from ? scopes.findIndex((scope) => scope.stream === request.from!.stream) : 0;
  if (first === -1) throw new InvalidArgumentError("from", `not a purged stream: ${request.from!.stream}`);
  for (const [index, scope] of scopes.entries()) {
    if (index < first) continue;
    const stoppedAt = await purgeStream(jsm, scope, index === first ? (request.from?.sequence ?? 1) : 1, matches, request.limits ?? defaultPurgeLimits, result);
    if (stoppedAt !== undefined) return { ...result, resumeFrom: { stream: scope.stream, sequence: stoppedAt } };
  }
  return result;
}

/** Scans one stream into `result`; returns the sequence to resume at when the scan cap stopped it. */
async function purgeStream(
  jsm: JetStreamManager,
  scope: { stream: string; subjects: string[] },
  fromSequence: number,
  matches: (payload: Uint8Array) => boolean,
  limits: PurgeLimits,
  result: PurgeResult,
): Promise<number | undefined> {
  const lastSequence = (await jsm.streams.info(scope.stream)).state.last_seq;
  if (fromSequence > lastSequence) return undefined;
  const reader = await jsm.jetstream().consumers.get(scope.stream, {
    filter_subjects: scope.subjects,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(1, fromSequence),
  });
  try {
    let pending = (await reader.info(true)).num_pending;
    let next = fromSequence;
    while (pending > 0) {
      const room = limits.maxScanned - result.scanned;
      if (room <= 0) return next;
      const found: { sequence: number; subject: string }[] = [];
      let received = 0;
      let past = false;
      for await (const message of await reader.fetch({ max_messages: Math.min(limits.batchSize ?? 256, pending, room), expires: 5000 })) {
        received++;
        if (message.seq > lastSequence) {
          past = true;
          break;
        }
        result.scanned++;
        next = message.seq + 1;
        pending = message.info.pending;
        if (matches(message.data)) found.push({ sequence: message.seq, subject: message.subject });
      }
      if (found.length > 0) await deleteAcknowledged(jsm, scope.stream, found, result);
      if (past) return undefined;
      if (received === 0) return next; // nothing came within the wait: not done, the caller goes on later
    }
    return undefined;
  } finally {
    await reader.delete().catch(() => undefined);
  }
}

/** Deletes each message every durable consumer taking its subject has acknowledged; counts the rest as waiting. */
async function deleteAcknowledged(jsm: JetStreamManager, stream: string, found: readonly { sequence: number; subject: string }[], result: PurgeResult): Promise<void> {
  // Listed per batch, not per call: a consumer created meanwhile is not passed over for long.
  const durables: ConsumerInfo[] = [];
  for await (const info of jsm.consumers.list(stream)) if (info.config.durable_name) durables.push(info);
  for (const { sequence, subject } of found) {
    const behind = durables.some((info) => takes(info, subject) && info.ack_floor.stream_seq < sequence);
    if (behind) {
      result.waiting++;
      continue;
    }
    try {
      if (await jsm.streams.deleteMessage(stream, sequence)) result.deleted++;
    } catch (error) {
      // Gone already: another caller deleted it, or it aged out.
      if (!(error instanceof JetStreamApiError && error.code === noMessageFound)) throw error;
    }
  }
}

/** Whether the consumer's filter takes the subject (no filter: every subject). */
function takes(info: ConsumerInfo, subject: string): boolean {
  const filters = info.config.filter_subjects?.length ? info.config.filter_subjects : info.config.filter_subject ? [info.config.filter_subject] : [];
  return filters.length === 0 || filters.some((filter) => subjectMatches(filter, subject));
}

function subjectMatches(filter: string, subject: string): boolean {
  const wanted = filter.split(".");
  const tokens = subject.split(".");
  for (const [index, token] of wanted.entries()) {
    if (token === ">") return tokens.length > index;
    if (index >= tokens.length || (token !== "*" && token !== tokens[index])) return false;
  }
  return wanted.length === tokens.length;
}
