/**
 * Concurrent ingest for the RPC benchmark: Resend envelopes published
 * straight to JetStream (what the gateway stores after verifying a webhook),
 * paced at a fixed rate with a bounded number in flight, bounded in count and
 * time; the services' own consumers apply them. Also reads how far each
 * durable consumer of RESEND_EVENTS has acknowledged, to report how fast the
 * services applied the load while the RPCs were timed.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { RESEND_EVENTS_STREAM } from "../../services/shared/nats.ts";
import { encodeResendEvent, eventMessageId, eventSubject, parseResendEvent } from "../../services/shared/resend-events.ts";
import { eventBody } from "../e2e/e2e.ts";

export interface Envelope {
  subject: string;
  data: Uint8Array;
  msgID: string;
}

/** The stored form of a webhook body, as the gateway would publish it. */
export function envelope(workspaceId: string, svixId: string, body: string): Envelope {
  const event = parseResendEvent({ workspaceId, svixId, receivedAtMs: Date.now(), rawBody: Buffer.from(body) });
  return { subject: eventSubject(workspaceId, event.type), data: encodeResendEvent(event), msgID: eventMessageId(workspaceId, svixId) };
}

/** Publishes with the gateway's dedupe id and waits for JetStream's acknowledgement. */
export async function publishEnvelope(js: JetStreamClient, message: Envelope): Promise<void> {
  await js.publish(message.subject, message.data, { msgID: message.msgID, timeout: 10_000 });
}

export interface IngestOptions {
  js: JetStreamClient;
  workspaceId: string;
  /** Events per second offered. */
  rate: number;
  /** Upper bound on events published. */
  maxEvents: number;
  /** Upper bound on publishes awaiting their ack. */
  maxInFlight: number;
  /** Campaign of event n (the e2e event mix, one new email id per event). */
  campaignOf: (n: number) => string;
}

export interface RunningIngest {
  /** Stops publishing (also ends by itself at maxEvents) and reports what was published. */
  stop(): Promise<IngestReport>;
}

export interface IngestReport {
  published: number;
  failed: number;
  skippedInFlight: number;
  /** From the first publish to the last acknowledgement. */
  seconds: number;
  perSecond: number;
  /** True when maxEvents ran out before stop() was called. */
  ranOut: boolean;
}

/** Starts publishing in the background at `rate`, until stop() or maxEvents. */
export function startIngest(options: IngestOptions): RunningIngest {
  const run = randomBytes(3).toString("hex");
  let stopping = false, ranOut = false, published = 0, failed = 0, skipped = 0, inFlight = 0;
  const started = performance.now();
  let lastAckAt = started;
  const pending = new Set<Promise<void>>();
  const loop = (async () => {
    for (let n = 0; n < options.maxEvents && !stopping; n++) {
      const wait = started + (n * 1000) / options.rate - performance.now();
      if (wait > 0) await sleep(wait);
      if (stopping) break;
      if (inFlight >= options.maxInFlight) {
        skipped++; // bounded: a stalled server drops pacing, not memory
        continue;
      }
      const message = envelope(options.workspaceId, `msg_rpcbench_${run}_${n}`, eventBody(n, options.campaignOf(n)));
      inFlight++;
      const publish = publishEnvelope(options.js, message).then(
        () => {
          published++;
          lastAckAt = performance.now();
        },
        () => void failed++,
      ).finally(() => {
        inFlight--;
        pending.delete(publish);
      });
      pending.add(publish);
    }
    ranOut = !stopping;
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      await Promise.all(pending);
      const seconds = (lastAckAt - started) / 1000;
      return { published, failed, skippedInFlight: skipped, seconds, perSecond: published / Math.max(seconds, 1e-9), ranOut };
    },
  };
}

/** Stream sequence each durable consumer of RESEND_EVENTS has acknowledged up to, and what it still has to do. */
export async function consumerProgress(jsm: JetStreamManager): Promise<Record<string, { ackFloor: number; pending: number; ackPending: number }>> {
  const out: Record<string, { ackFloor: number; pending: number; ackPending: number }> = {};
  for (const info of await jsm.consumers.list(RESEND_EVENTS_STREAM).next()) {
    out[info.name] = { ackFloor: info.ack_floor.stream_seq, pending: info.num_pending, ackPending: info.num_ack_pending };
  }
  return out;
}

/** Waits until every consumer of RESEND_EVENTS has acknowledged everything (bounded). */
export async function waitConsumersIdle(jsm: JetStreamManager, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const progress = Object.values(await consumerProgress(jsm));
    if (progress.length > 0 && progress.every((c) => c.pending === 0 && c.ackPending === 0)) return true;
    await sleep(250);
  }
  return false;
}
