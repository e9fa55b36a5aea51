/**
 * In-process companion of the gateway benchmark: the CPU cost per event of
 * each step the gateway adds or replaces, without HTTP or NATS, measured by
 * alternating batches in one process (so machine load hits every step alike).
 * Steps: the baseline's `svix` verify (HMAC in JS) + JSON.parse, the gateway's
 * verify (pre-keyed node:crypto), its parse into the typed envelope, and the
 * envelope's encoding with protobuf-es `toBinary`; and, with tracing off (as
 * in this process), the span helpers one webhook passes through, against the
 * same work called directly.
 *
 *   node bench/gateway/hot-path.ts
 */
import { toBinary } from "@bufbuild/protobuf";
import { Webhook } from "svix";
import { ResendEventSchema } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { parseResendEvent } from "../../services/shared/resend-events.ts";
import { SigningKey, verifyWebhook } from "../../services/webhook-gateway/webhook/signature.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { table } from "../lib/report.ts";
import { eventBody } from "./events.ts";
import { withSendSpan } from "../../services/shared/tracing/nats-spans.ts";
import { withSpanSync } from "../../services/shared/tracing/spans.ts";
import { recordWebhookAnswer, traceWebhookRequest } from "../../services/webhook-gateway/webhook/request-span.ts";
import type { HttpRequest } from "../../services/shared/rpc/server.ts";

export interface StepCost {
  step: string;
  microsPerEvent: number;
}

/** Median µs per event of each step over `rounds` alternating batches of `batch` distinct events. */
export async function measureHotPath(batch = 2000, rounds = 15): Promise<StepCost[]> {
  const secret = newWebhookSecret();
  const key = new SigningKey(secret);
  const svix = new Webhook(secret);
  const now = Math.floor(Date.now() / 1000);
  const events = Array.from({ length: batch }, (_, n) => {
    const body = Buffer.from(eventBody(n, new Date()));
    const id = `msg_hot_${n}`;
    const headers = { "svix-id": id, "svix-timestamp": String(now), "svix-signature": `v1,${key.sign(id, now, body)}` };
    return { body, text: body.toString("utf8"), headers };
  });
  const parsed = events.map((event, n) => parseResendEvent({ workspaceId: "bench", svixId: `msg_hot_${n}`, receivedAtMs: Date.now(), rawBody: event.body }));
  let sink = 0;
  // The webhook's calls with nothing inside: what tracing off adds is the helpers' branch and closures.
  const request = { method: "POST", headers: {}, httpVersion: "1.1" } as unknown as HttpRequest;
  const work = async () => void (sink += 1);
  const steps: Record<string, () => void | Promise<void>> = {
    "baseline: svix verify + JSON.parse": () => {
      for (const event of events) {
        svix.verify(event.text, event.headers);
        sink += (JSON.parse(event.text) as { type: string }).type.length;
      }
    },
    "gateway: verify (pre-keyed SHA-256)": () => {
      for (const event of events) sink += verifyWebhook(event.headers, event.body, [key], now).ok ? 1 : 0;
    },
    "gateway: parse into envelope": () => {
      for (const event of events) sink += parseResendEvent({ workspaceId: "bench", svixId: "msg", receivedAtMs: 0, rawBody: event.body }).type.length;
    },
    "gateway: encode envelope (protobuf-es toBinary)": () => {
      for (const event of parsed) sink += toBinary(ResendEventSchema, event).length;
    },
    "tracing off: a webhook's work called directly": async () => {
      for (let n = 0; n < batch; n++) {
        await (async () => {
          sink += 1;
          await work();
        })();
      }
    },
    "tracing off: the same through its span helpers": async () => {
      for (let n = 0; n < batch; n++) {
        await traceWebhookRequest(request, "resend", async () => {
          sink += withSpanSync("verify resend", {}, () => 1);
          await withSendSpan("resend.events", "s", "m", work);
          recordWebhookAnswer(200, "accepted", "bench", undefined);
        });
      }
    },
  };
  const samples = new Map<string, number[]>(Object.keys(steps).map((name) => [name, []]));
  for (let round = 0; round < rounds + 3; round++) {
    for (const [name, run] of Object.entries(steps)) {
      const started = performance.now();
      await run();
      if (round >= 3) samples.get(name)!.push(((performance.now() - started) * 1000) / batch);
    }
  }
  if (sink === 0) throw new Error("unreachable");
  return [...samples].map(([step, values]) => ({ step, microsPerEvent: values.sort((a, b) => a - b)[Math.floor(values.length / 2)]! }));
}

export function printHotPath(costs: StepCost[]): void {
  const baseline = costs[0]!.microsPerEvent;
  console.log(`\nCPU per event of each step, in process (median of alternating batches; ratio to the svix baseline step):`);
  console.log(table(costs.map((cost) => ({ step: cost.step, "µs/event": cost.microsPerEvent, "× svix verify": cost.microsPerEvent / baseline }))));
}

if (import.meta.main) printHotPath(await measureHotPath());
