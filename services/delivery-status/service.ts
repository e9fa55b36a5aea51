/**
 * The delivery-status service: what it builds from the shared context.
 */
import { defaultPorts, envReader, type Env } from "../shared/config.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";

/** Settings of this service beyond the shared ones. */
export interface DeliveryStatusSettings {
  readonly port: number;
}

/** Reads this service's variables; errors name the variable. */
export function loadDeliveryStatusSettings(env: Env = process.env): DeliveryStatusSettings {
  const read = envReader(env);
  return Object.freeze({ port: read.port("DELIVERY_STATUS_PORT", defaultPorts.deliveryStatus) });
}

/** The service definition the host starts. */
export function deliveryStatusService(settings: DeliveryStatusSettings): ServiceDefinition {
  return {
    name: "delivery-status",
    port: settings.port,
    build: async () => ({ rpcServiceNames: [], routes: () => {} }),
  };
}
