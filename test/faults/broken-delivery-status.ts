/**
 * Entry point of a deliberately broken delivery-status build, wired from the
 * outside (the real service's definition, its consumer wrapped) — never used
 * outside the fault suite. FAULTS_BROKEN_MODE chooses the defect:
 *
 * - `reject-clicks`: a plain bug (a TypeError, not a PoisonMessageError) on
 *   every email.clicked event; the shared loop retries each CONSUMER_MAX_ATTEMPTS
 *   times and then dead-letters it (scenario 7 replays them after the "fix");
 * - `ack-before-write`: the handler returns before the database write (queued
 *   behind it), so the shared loop acks first — the bite test proves the
 *   checker catches the events a SIGKILL then loses.
 */
import type { ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { deliveryStatusService, loadDeliveryStatusSettings } from "../../services/delivery-status/service.ts";
import { loadBaseConfig } from "../../services/shared/config.ts";
import type { ConsumerSpec } from "../../services/shared/consumer.ts";
import { runMain } from "../../services/shared/main.ts";
import { startService, type ServiceDefinition } from "../../services/shared/service-host.ts";

const mode = process.env.FAULTS_BROKEN_MODE;

/** The broken `handle` only: its batches would bypass the defect. */
function breakConsumer(real: ConsumerSpec<ResendEvent>): ConsumerSpec<ResendEvent> {
  const spec = { ...real, handleBatch: undefined };
  if (mode === "reject-clicks") {
    return {
      ...spec,
      handle: async (event, meta) => {
        if (event.type === "email.clicked") throw new TypeError("bug: clicks rejected by this build");
        await spec.handle(event, meta);
      },
    };
  }
  if (mode === "ack-before-write") {
    let writes: Promise<unknown> = Promise.resolve();
    return {
      ...spec,
      handle: async (event, meta) => {
        writes = writes.then(() => spec.handle(event, meta)).catch(() => undefined);
      },
    };
  }
  throw new Error(`FAULTS_BROKEN_MODE must be reject-clicks or ack-before-write, got "${mode}"`);
}

const real = deliveryStatusService(loadDeliveryStatusSettings());
const broken: ServiceDefinition = {
  ...real,
  build: async (context) => {
    const parts = await real.build(context);
    return { ...parts, consumers: parts.consumers?.map((spec) => breakConsumer(spec as ConsumerSpec<ResendEvent>)) };
  },
};

await runMain("delivery-status (broken build)", () => startService(broken, loadBaseConfig()));
