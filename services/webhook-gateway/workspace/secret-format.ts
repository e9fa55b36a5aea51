/**
 * What a Resend (Svix) webhook signing secret looks like: `whsec_` followed by
 * base64 of at least 16 random bytes.
 */
import { InvalidArgumentError } from "../../shared/errors.ts";

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Returns the secret or throws InvalidArgument naming the field (never echoing the value). */
export function requireWebhookSecret(secret: string, field: string): string {
  if (!secret) throw new InvalidArgumentError(field, "required (the signing secret from Resend's webhook page, whsec_...)");
  if (!secret.startsWith("whsec_")) throw new InvalidArgumentError(field, "must start with whsec_");
  const material = secret.slice(6);
  if (material.length > 256 || !base64.test(material)) throw new InvalidArgumentError(field, "must be whsec_ followed by base64");
  if (Buffer.from(material, "base64").length < 16) throw new InvalidArgumentError(field, "must encode at least 16 bytes");
  return secret;
}
