/**
 * Answers the gateway's WebhookSilence (webhooks.<ws>.silent on DOMAIN_EVENTS) with a reconciliation of
 * the sends since the silence began, when the workspace has a Resend API key. The run id is derived from
 * the silence, so a redelivered or twice-published announcement starts one run. While another run of
 * the workspace is running, the message is retried later (Unavailable: nak'ed with backoff, never
 * dead-lettered) so the silence is still reconciled once that run ends. The run selects by registration
 * time, as the silence is measured (a send registered with an older sent time is in it).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { WebhookSilenceSchema, type WebhookSilence } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { ConsumerSpec } from "../../shared/consumer.ts";
import { FailedPreconditionError, PoisonMessageError, UnavailableError } from "../../shared/errors.ts";
import { DOMAIN_EVENTS_STREAM } from "../../shared/nats.ts";
import { startRun, type StartRunDeps } from "./start-run.ts";

export const silenceConsumerName = "delivery-status-silence";

export function silenceConsumer(deps: StartRunDeps): ConsumerSpec<WebhookSilence> {
  return {
    name: silenceConsumerName,
    stream: DOMAIN_EVENTS_STREAM,
    filterSubjects: ["webhooks.*.silent"],
    decode: (data, subject) => {
      let silence: WebhookSilence;
      try {
        silence = fromBinary(WebhookSilenceSchema, data);
      } catch (error) {
        throw new PoisonMessageError(`not a WebhookSilence protobuf: ${(error as Error).message}`, { cause: error });
      }
      if (!silence.workspaceId || !silence.sinceTime) throw new PoisonMessageError("WebhookSilence without workspace_id or since_time");
      if (subject !== `webhooks.${silence.workspaceId}.silent`) throw new PoisonMessageError(`WebhookSilence of workspace ${silence.workspaceId} on ${subject}`);
      return silence;
    },
    handle: async (silence) => {
      const sinceMs = timestampMs(silence.sinceTime!);
      const runId = `silence-${sinceMs}`;
      let started;
      try {
        started = await startRun(deps, { workspaceId: silence.workspaceId, runId, trigger: "silence", selection: { recordedSinceUs: sinceMs * 1000, unsettledOnly: false } });
      } catch (error) {
        if (error instanceof FailedPreconditionError) return "skipped"; // no Resend API key: nothing to ask
        throw error;
      }
      if (started.runId !== runId) {
        throw new UnavailableError(`reconciliation ${started.runId} of the workspace is running; the silence's run starts after it`);
      }
    },
  };
}
