/**
 * The suppression service: what it builds from the shared context.
 */
import { defaultPorts, envReader, type Env } from "../shared/config.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";

/** Settings of this service beyond the shared ones. */
export interface SuppressionSettings {
  readonly port: number;
}

/** Reads this service's variables; errors name the variable. */
export function loadSuppressionSettings(env: Env = process.env): SuppressionSettings {
  const read = envReader(env);
  return Object.freeze({ port: read.port("SUPPRESSION_PORT", defaultPorts.suppression) });
}

/** The service definition the host starts. */
export function suppressionService(settings: SuppressionSettings): ServiceDefinition {
  return {
    name: "suppression",
    port: settings.port,
    build: async () => ({ rpcServiceNames: [], routes: () => {} }),
  };
}
