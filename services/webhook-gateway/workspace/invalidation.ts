/**
 * Tells every gateway instance that a workspace's secrets changed, over core
 * NATS (`live.gateway.secrets.<workspaceId>`). Losing a message only delays
 * the change until the cache entry expires.
 */
import type { NatsConnection } from "@nats-io/nats-core";

const prefix = "live.gateway.secrets";

/** Publishes the change and flushes, so other instances hear it before the RPC answers. */
export async function announceSecretChange(nc: NatsConnection, workspaceId: string): Promise<void> {
  try {
    nc.publish(`${prefix}.${workspaceId}`);
    await nc.flush();
  } catch {
    // NATS unavailable: other instances fall back to their cache expiry.
  }
}

/** Calls `forget` for each workspace another instance (or this one) changed. Returns an unsubscribe function. */
export function listenForSecretChanges(nc: NatsConnection, forget: (workspaceId: string) => void): () => void {
  const subscription = nc.subscribe(`${prefix}.*`, {
    callback: (error, msg) => {
      if (!error) forget(msg.subject.slice(prefix.length + 1));
    },
  });
  return () => subscription.unsubscribe();
}
