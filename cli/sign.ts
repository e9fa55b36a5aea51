/**
 * Signs a webhook the way Svix / Standard Webhooks do — written from the
 * specification with node:crypto, independent of the `svix` package, so tests
 * that sign with it check the gateway against the spec and not against itself.
 */
import { createHmac, randomBytes } from "node:crypto";

/** `v1,<base64 HMAC-SHA256 over "id.timestamp.body", keyed with the base64 secret after whsec_>`. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  const key = Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
  const mac = createHmac("sha256", key);
  mac.update(`${id}.${timestampSeconds}.`);
  mac.update(body);
  return `v1,${mac.digest("base64")}`;
}

/** A fresh random secret in Resend's format. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

/** A Svix-style message id. */
export function newMessageId(): string {
  return `msg_${randomBytes(12).toString("base64url")}`;
}

/** The three svix-* headers of a signed request. */
export function signedHeaders(secret: string, body: string, options: { id?: string; timestamp?: number } = {}) {
  const id = options.id ?? newMessageId();
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    "svix-id": id,
    "svix-timestamp": String(timestamp),
    "svix-signature": signWebhook(secret, id, timestamp, body),
  };
}
