/**
 * Erasure of a subscriber's personal data (issue 17, GDPR art. 17) as it travels between the services:
 * the suppression service publishes ErasureRequested on `erasure.<ws>.requested` (DOMAIN_EVENTS); every
 * service holding personal data applies it with its own durable consumer built here and answers with
 * ErasureApplied on `erasure.<ws>.applied`, which the suppression service records for GetErasure.
 *
 * The service only supplies `erase` (idempotent: a redelivery, a crash between the erase and the answer,
 * or a second instance changes nothing more); this module decodes, checks and answers. The answer's
 * message id names the erasure and the service, so a redelivered request is announced once inside the
 * duplicate window, and recording it twice after that changes nothing.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient } from "@nats-io/jetstream";
import {
  ErasureAppliedSchema,
  ErasureRequestedSchema,
  type ErasureApplied,
  type ErasureRequested,
} from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { ConsumerSpec } from "./consumer.ts";
import { PoisonMessageError } from "./errors.ts";
import { DOMAIN_EVENTS_STREAM } from "./nats.ts";
import { publishTraced } from "./tracing/nats-spans.ts";

/** The services that hold personal data and answer every erasure, in the order GetErasure lists them. */
export const erasingServices = Object.freeze(["suppression", "delivery-status", "webhook-gateway"] as const);
export type ErasingService = (typeof erasingServices)[number];

export const erasureRequestedSubject = (workspaceId: string) => `erasure.${workspaceId}.requested`;
export const erasureAppliedSubject = (workspaceId: string) => `erasure.${workspaceId}.applied`;

/** Start with the subject kind, so they never equal another DOMAIN_EVENTS id (those start `<workspace>:`). */
export const erasureRequestedMessageId = (erasureId: string) => `erasure:${erasureId}`;
export const erasureAppliedMessageId = (erasureId: string, service: string) => `erasure-applied:${erasureId}:${service}`;

function decodeChecked<T extends { workspaceId: string; erasureId: string }>(
  what: string,
  decode: () => T,
  subject: string,
  expectedSubject: (workspaceId: string) => string,
): T {
  let message: T;
  try {
    message = decode();
  } catch (error) {
    throw new PoisonMessageError(`not an ${what} protobuf: ${(error as Error).message}`, { cause: error });
  }
  if (!message.workspaceId || !message.erasureId) throw new PoisonMessageError(`${what} without workspace_id or erasure_id`);
  if (subject !== expectedSubject(message.workspaceId)) throw new PoisonMessageError(`${what} of workspace ${message.workspaceId} on ${subject}`);
  return message;
}

/** Erases what one service holds for the request; resolves with how many stored documents it changed. */
export type EraseSubscriber = (request: ErasureRequested) => Promise<number>;

/** Publishes a service's ErasureApplied; resolves once JetStream stored it. */
export async function publishErasureApplied(
  js: JetStreamClient,
  request: Pick<ErasureRequested, "workspaceId" | "erasureId">,
  service: string,
  documents: number,
): Promise<void> {
  const applied = create(ErasureAppliedSchema, {
    workspaceId: request.workspaceId,
    erasureId: request.erasureId,
    service,
    appliedTime: timestampNow(),
    documents,
  });
  await publishTraced(js, erasureAppliedSubject(request.workspaceId), toBinary(ErasureAppliedSchema, applied), {
    msgID: erasureAppliedMessageId(request.erasureId, service),
  });
}

/**
 * The durable consumer `<service>-erasures` of ErasureRequested: erase, then answer. Never dead-letters
 * for a failure of `erase` other than a poison message (a dead letter would copy the addresses into
 * DEAD_LETTERS, and the request must be applied eventually): failures are retried with the consumer's
 * backoff.
 */
export function erasureRequestConsumer(service: ErasingService, js: JetStreamClient, erase: EraseSubscriber): ConsumerSpec<ErasureRequested> {
  return {
    name: `${service}-erasures`,
    stream: DOMAIN_EVENTS_STREAM,
    filterSubjects: ["erasure.*.requested"],
    decode: (data, subject) => decodeChecked("ErasureRequested", () => fromBinary(ErasureRequestedSchema, data), subject, erasureRequestedSubject),
    handle: async (request) => {
      const documents = await erase(request);
      await publishErasureApplied(js, request, service, documents);
    },
    concurrency: 4,
    maxAttempts: 1_000_000,
  };
}

/** Decodes an ErasureApplied (for the suppression service's record of progress). */
export function decodeErasureApplied(data: Uint8Array, subject: string): ErasureApplied {
  return decodeChecked("ErasureApplied", () => fromBinary(ErasureAppliedSchema, data), subject, erasureAppliedSubject);
}
