/**
 * Test helpers for the suppression service's end-to-end tests (not used in production
 * code): a running service with clients, SendRecorded publishing, reading the
 * events it published, and waiting until its consumers are idle.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  SendRecordedSchema,
  SubscriberSuppressedSchema,
  SubscriberUnsuppressedSchema,
  type SubscriberSuppressed,
  type SubscriberUnsuppressed,
} from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import type { BaseConfig } from "../../services/shared/config.ts";
import { DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM } from "../../services/shared/nats.ts";
import { startService, type RunningService } from "../../services/shared/service-host.ts";
import { waitFor } from "../harness.ts";
import { consumerNames } from "../../services/suppression/consumer.ts";
import { suppressionService, type SuppressionSettings } from "../../services/suppression/service.ts";

export interface Harness {
  service: RunningService;
  client: Client<typeof SuppressionService>;
}

/** Starts the service on a free port with the given base config. */
export async function startSuppression(config: BaseConfig, settings: Partial<SuppressionSettings> = {}): Promise<Harness> {
  const service = await startService(suppressionService({ ...settings, port: 0 }), config);
  const client = createClient(SuppressionService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
  return { service, client };
}

/** Publishes SendRecorded as delivery status does. */
export async function publishSendRecorded(
  service: RunningService,
  send: { workspaceId: string; emailId: string; campaignId: string; subscriberId: string; recipient: string },
): Promise<void> {
  const message = create(SendRecordedSchema, { ...send, sentTime: timestampNow(), recordedTime: timestampNow() });
  await service.context.nats.js.publish(`sends.${send.workspaceId}.recorded`, toBinary(SendRecordedSchema, message), {
    msgID: `${send.workspaceId}:${send.emailId}`,
  });
}

/** Waits until both consumers have nothing pending or unacknowledged. */
export async function waitIdle(service: RunningService): Promise<void> {
  const { jsm } = service.context.nats;
  await waitFor(
    async () => {
      const events = await jsm.consumers.info(RESEND_EVENTS_STREAM, consumerNames.events);
      const sends = await jsm.consumers.info(DOMAIN_EVENTS_STREAM, consumerNames.sends);
      return [events, sends].every((info) => info.num_pending === 0 && info.num_ack_pending === 0);
    },
    { what: "suppression consumers idle" },
  );
}

/** Every subscriber.<ws>.* event published so far, decoded. */
export async function publishedEvents(
  service: RunningService,
  workspaceId: string,
): Promise<{ suppressed: SubscriberSuppressed[]; unsuppressed: SubscriberUnsuppressed[]; msgIds: string[] }> {
  const { js, jsm } = service.context.nats;
  const info = await jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: `subscriber.${workspaceId}.>` });
  const total = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0);
  const result = { suppressed: [] as SubscriberSuppressed[], unsuppressed: [] as SubscriberUnsuppressed[], msgIds: [] as string[] };
  if (total === 0) return result;
  const reader = await js.consumers.get(DOMAIN_EVENTS_STREAM, { filter_subjects: [`subscriber.${workspaceId}.>`] });
  for await (const msg of await reader.fetch({ max_messages: total, expires: 2000 })) {
    result.msgIds.push(msg.headers?.get("Nats-Msg-Id") ?? "");
    if (msg.subject.endsWith(".suppressed")) result.suppressed.push(fromBinary(SubscriberSuppressedSchema, msg.data));
    else result.unsuppressed.push(fromBinary(SubscriberUnsuppressedSchema, msg.data));
    if (result.suppressed.length + result.unsuppressed.length >= total) break;
  }
  return result;
}
