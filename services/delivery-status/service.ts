/**
 * The delivery-status service: wires the repository, use cases, RPC routes,
 * the RESEND_EVENTS consumer and the SendRecorded outbox sweep.
 */
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { defaultPorts, envReader, type Env } from "../shared/config.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";
import { resendEventsConsumer } from "./consumer.ts";
import { jetStreamSendRecordedPublisher, liveNotifier } from "./outbound.ts";
import { deliveryStatusRoutes } from "./rpc.ts";
import { SendsRepository } from "./sends-repository.ts";
import { sweepSendRecordedOutbox } from "./use-cases/send-recorded-outbox.ts";

/** Settings of this service beyond the shared ones. */
export interface DeliveryStatusSettings {
  readonly port: number;
  /** How often pending SendRecorded events are re-published (DELIVERY_STATUS_OUTBOX_SWEEP_SECONDS). */
  readonly outboxSweepMs: number;
}

/** Reads this service's variables; errors name the variable. */
export function loadDeliveryStatusSettings(env: Env = process.env): DeliveryStatusSettings {
  const read = envReader(env);
  return Object.freeze({
    port: read.port("DELIVERY_STATUS_PORT", defaultPorts.deliveryStatus),
    outboxSweepMs: read.integer("DELIVERY_STATUS_OUTBOX_SWEEP_SECONDS", 30, 1, 86_400) * 1000,
  });
}

/** The service definition the host starts. */
export function deliveryStatusService(settings: DeliveryStatusSettings): ServiceDefinition {
  return {
    name: "delivery-status",
    port: settings.port,
    build: async ({ nats, mongo, log }) => {
      const repo = new SendsRepository(mongo.db);
      await repo.ensureIndexes();
      const now = () => Date.now();
      const notify = liveNotifier(nats.nc);
      const publisher = jetStreamSendRecordedPublisher(nats.js);
      const shutdown = new AbortController();

      const sweep = async () => {
        try {
          const published = await sweepSendRecordedOutbox({ repo, publisher });
          if (published > 0) log.info("published pending SendRecorded events", { count: published });
        } catch (error) {
          log.warn("SendRecorded outbox sweep failed, will retry", { error });
        }
      };
      void sweep();
      const timer = setInterval(sweep, settings.outboxSweepMs ?? 30_000);

      return {
        rpcServiceNames: [DeliveryStatusService.typeName],
        routes: deliveryStatusRoutes({
          repo,
          nc: nats.nc,
          notify,
          publisher,
          now,
          shutdown: shutdown.signal,
          onPublishFailure: (error) => log.warn("SendRecorded publish failed; the outbox sweep will retry", { error }),
        }),
        consumers: [resendEventsConsumer({ repo, notify, now })],
        stop: async () => {
          clearInterval(timer);
          shutdown.abort();
        },
      };
    },
  };
}
