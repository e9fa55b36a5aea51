/**
 * Tells every gateway instance that a workspace's secrets changed, over core
 * NATS (`live.gateway.secrets.<workspaceId>`). A change whose announcement
 * failed stays in its outbox and is announced again by the sweep
 * (secret-outbox.ts); a message lost on the way only delays the change until
 * the cache entry expires.
 */
import type { NatsConnection } from "@nats-io/nats-core";

const prefix = "live.gateway.secrets";

/** `live.gateway.secrets.<workspaceId>`. */
export const secretChangeSubject = (workspaceId: string) => `${prefix}.${workspaceId}`;

/**
 * Publishes the change and flushes, so other instances hear it before the RPC answers. Throws when
 * NATS does not confirm within `timeoutMs` (while disconnected the client only buffers the message).
 */
export async function announceSecretChange(nc: NatsConnection, workspaceId: string, timeoutMs = 2000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    nc.publish(secretChangeSubject(workspaceId));
    await Promise.race([
      nc.flush(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`NATS did not confirm within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
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
