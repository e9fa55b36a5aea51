/**
 * Svix / Standard Webhooks signature verification over the raw body bytes.
 *
 * Behaviour mirrors the `svix` package (proven by a differential test): svix-*
 * headers win over webhook-* ones, the timestamp is read with parseInt and must
 * be within ±300 s, the signed content is `${id}.${timestamp}.${body}`, the
 * signature header holds space-separated `v1,<base64>` entries of which any
 * may match, compared in constant time.
 *
 * Why not `svix` itself on the hot path: it computes HMAC-SHA256 in pure
 * JavaScript. Here each secret is turned once into two pre-keyed SHA-256
 * states (RFC 2104 inner/outer pads) that are cloned per request — about 4×
 * cheaper than svix or a fresh `createHmac` on Node 24 (MEASURED.md).
 */
import { createHash, timingSafeEqual, type Hash } from "node:crypto";

export const toleranceSeconds = 300;
export const maxIdLength = 256;

/** A webhook secret ready to sign: two keyed hash states, cloned per message. */
export class SigningKey {
  private readonly inner: Hash;
  private readonly outer: Hash;

  /** `secret` is `whsec_<base64>` (or bare base64), as Resend shows it. */
  constructor(secret: string) {
    let key: Buffer = Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
    if (key.length === 0) throw new Error("empty webhook secret");
    if (key.length > 64) key = createHash("sha256").update(key).digest();
    const pad = (byte: number) => {
      const block = Buffer.alloc(64, byte);
      for (let i = 0; i < key.length; i++) block[i]! ^= key[i]!;
      return block;
    };
    this.inner = createHash("sha256").update(pad(0x36));
    this.outer = createHash("sha256").update(pad(0x5c));
  }

  /** Base64 HMAC-SHA256 of `${id}.${timestamp}.` followed by the body bytes. */
  sign(id: string, timestamp: number, body: Uint8Array): string {
    const innerDigest = this.inner.copy().update(`${id}.${timestamp}.`).update(body).digest();
    return this.outer.copy().update(innerDigest).digest("base64");
  }
}

export type VerifyResult =
  | { ok: true; id: string; timestamp: number }
  | { ok: false; reason: "missing_headers" | "expired_timestamp" | "bad_signature" };

/** Reads a header from Node's lower-cased header object (first value if repeated). */
type Headers = Record<string, string | string[] | undefined>;
const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Verifies a webhook against any of the keys; `nowSeconds` is injectable for tests. */
export function verifyWebhook(
  headers: Headers,
  body: Uint8Array,
  keys: readonly SigningKey[],
  nowSeconds = Math.floor(Date.now() / 1000),
): VerifyResult {
  const id = header(headers, "svix-id") ?? header(headers, "webhook-id") ?? "";
  const signatures = header(headers, "svix-signature") ?? header(headers, "webhook-signature") ?? "";
  const timestampHeader = header(headers, "svix-timestamp") ?? header(headers, "webhook-timestamp") ?? "";
  // The id length bound is ours, not svix's: the id becomes part of a JetStream message id.
  if (!id || !signatures || !timestampHeader || id.length > maxIdLength) return { ok: false, reason: "missing_headers" };
  const timestamp = parseInt(timestampHeader, 10);
  if (Number.isNaN(timestamp)) return { ok: false, reason: "missing_headers" };
  if (nowSeconds - timestamp > toleranceSeconds || timestamp > nowSeconds + toleranceSeconds) {
    return { ok: false, reason: "expired_timestamp" };
  }
  const passed = signatures
    .split(" ")
    .map((entry) => entry.split(","))
    .filter(([version]) => version === "v1")
    .map(([, signature]) => Buffer.from(signature ?? ""));
  for (const key of keys) {
    const expected = Buffer.from(key.sign(id, timestamp, body));
    for (const signature of passed) {
      if (signature.length === expected.length && timingSafeEqual(signature, expected)) return { ok: true, id, timestamp };
    }
  }
  return { ok: false, reason: "bad_signature" };
}
