/**
 * Live fan-out for watch RPCs over core NATS (`live.*` subjects): every
 * instance publishes what changed, every instance's watchers hear it. Nothing
 * that must not be lost travels only here.
 */
import type { NatsConnection } from "@nats-io/nats-core";

/** Publishes a change notification; losing one is acceptable by design. */
export function publishLive(nc: NatsConnection, subject: string, data: Uint8Array): void {
  try {
    nc.publish(subject, data);
  } catch {
    // Disconnected: watchers miss this update and see the next one.
  }
}

/** Yields every message on the subject until the signal aborts. */
export async function* subscribeLive(nc: NatsConnection, subject: string, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const subscription = nc.subscribe(subject);
  const stop = () => subscription.unsubscribe();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const msg of subscription) yield msg.data;
  } finally {
    signal.removeEventListener("abort", stop);
    subscription.unsubscribe();
  }
}
