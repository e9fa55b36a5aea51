/**
 * The webhook-gateway service: what it builds from the shared context.
 */
import { defaultPorts, envReader, type Env } from "../shared/config.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";

/** Settings of this service beyond the shared ones. */
export interface WebhookGatewaySettings {
  readonly port: number;
}

/** Reads this service's variables; errors name the variable. */
export function loadWebhookGatewaySettings(env: Env = process.env): WebhookGatewaySettings {
  const read = envReader(env);
  return Object.freeze({ port: read.port("GATEWAY_PORT", defaultPorts.gateway) });
}

/** The service definition the host starts. */
export function gatewayService(settings: WebhookGatewaySettings): ServiceDefinition {
  return {
    name: "webhook-gateway",
    port: settings.port,
    build: async () => ({ rpcServiceNames: [], routes: () => {} }),
  };
}
