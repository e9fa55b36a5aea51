/**
 * Follows an erasure to its end (consumer `suppression-erasure-progress` of ErasureApplied): records
 * each service's answer; once every erasing service answered, purges the streams when the request asked
 * for it (stream-purge.ts: only messages every consumer is past, so no service misses an event's effect
 * — until they are, the answer is retried later), then deletes the ErasureRequested itself from
 * DOMAIN_EVENTS (it carries the addresses) and marks the erasure done. Every step is idempotent, so two
 * answers completing at once, or a redelivery, do no harm.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { JetStreamManager } from "@nats-io/jetstream";
import { ErasureRequestedSchema, type ErasureApplied } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { ConsumerSpec } from "../../shared/consumer.ts";
import { decodeErasureApplied, erasingServices } from "../../shared/erasure-events.ts";
import { UnavailableError } from "../../shared/errors.ts";
import { DOMAIN_EVENTS_STREAM } from "../../shared/nats.ts";
import type { ErasureRecord, ErasureRepository } from "./erasure-repository.ts";
import { purgeSubscriberMessages, type PurgePosition } from "./stream-purge.ts";

/** The part GetErasure shows for purge_stream. */
export const streamsPart = "streams";

export interface ProgressDeps {
  erasures: ErasureRepository;
  jsm: JetStreamManager;
  now(): number;
}

export function erasureProgressConsumer(deps: ProgressDeps): ConsumerSpec<ErasureApplied> {
  return {
    name: "suppression-erasure-progress",
    stream: DOMAIN_EVENTS_STREAM,
    filterSubjects: ["erasure.*.applied"],
    decode: decodeErasureApplied,
    handle: async (applied) => {
      const answer = { doneAtMs: applied.appliedTime ? timestampMs(applied.appliedTime) : deps.now(), documents: applied.documents };
      const record = await deps.erasures.recordAnswer(applied.workspaceId, applied.erasureId, applied.service, answer);
      if (!record) return "skipped"; // an erasure this database does not know (another deployment's)
      await completeIfAnswered(deps, record);
    },
    concurrency: 4,
    maxAttempts: 1_000_000,
  };
}

/** The request's addresses, read back from its message (the record holds none). */
async function requestedEmails(deps: ProgressDeps, record: ErasureRecord): Promise<string[] | undefined> {
  if (record.requestSeq === undefined) return undefined;
  try {
    const message = await deps.jsm.streams.getMessage(DOMAIN_EVENTS_STREAM, { seq: record.requestSeq });
    return message ? fromBinary(ErasureRequestedSchema, message.data).emails : undefined;
  } catch {
    return undefined; // deleted already (a concurrent completion)
  }
}

/** Purges the streams to their end, scan cap after scan cap; throws (retried later) while consumers lag. */
async function purgeStreams(deps: ProgressDeps, record: ErasureRecord, emails: string[]): Promise<number> {
  let deleted = 0;
  let waiting = 0;
  let from: PurgePosition | undefined;
  do {
    const purged = await purgeSubscriberMessages(deps.jsm, { workspaceId: record.workspaceId, emails, ...(from ? { from } : {}) });
    deleted += purged.deleted;
    waiting += purged.waiting;
    from = purged.resumeFrom;
  } while (from);
  if (waiting > 0) {
    throw new UnavailableError(`erasure ${record.erasureId}: ${waiting} message(s) of the subscriber not yet consumed by every consumer; purging again later`);
  }
  return deleted;
}

async function completeIfAnswered(deps: ProgressDeps, record: ErasureRecord): Promise<void> {
  if (record.doneAtMs !== undefined) return;
  if (!erasingServices.every((service) => record.services[service])) return;
  if (record.purgeStream && !record.services[streamsPart]) {
    const emails = await requestedEmails(deps, record);
    if (emails === undefined) throw new UnavailableError(`erasure ${record.erasureId}: its request message is not readable yet`);
    const deleted = await purgeStreams(deps, record, emails);
    await deps.erasures.recordAnswer(record.workspaceId, record.erasureId, streamsPart, { doneAtMs: deps.now(), documents: deleted });
  }
  if (record.requestSeq !== undefined) {
    try {
      await deps.jsm.streams.deleteMessage(DOMAIN_EVENTS_STREAM, record.requestSeq, true);
    } catch (error) {
      if (!/no message found|not found/i.test((error as Error).message)) throw error;
    }
  }
  await deps.erasures.markDone(record.workspaceId, record.erasureId, deps.now());
}
