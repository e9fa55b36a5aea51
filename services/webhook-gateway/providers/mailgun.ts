/**
 * Mailgun's webhooks, v3 JSON shape (issue 14): `{"signature": {timestamp, token, signature},
 * "event-data": {...}}`, where signature = hex HMAC-SHA256(signing key, timestamp + token) ("Securing
 * Webhooks"; a subaccount's event also carries `parent-signature`, the same under the parent account's
 * key). The signature sits inside the body, so verification reads the JSON — the signature block and the
 * event id, nothing else — before it succeeds.
 *
 * Replays. The signature does not cover the event, so each token is bound to the event id it first came
 * with (mailgun-tokens.ts); the same token with another event is `token_reused`. Mailgun retries a failed
 * POST for 8 hours (10 min, 10 min, 15 min, 30 min, 1 h, 2 h, 4 h: "Webhooks" in its user manual) and
 * its documentation does not say whether a retry is signed afresh; third-party reports say the original
 * signature block is resent. So a signature older than ±5 minutes is still accepted up to
 * `lateDeliveryHorizonSeconds` (9 h by default): a retry after an outage must land, and the token memory,
 * which keeps every binding for that whole horizon, is what stops a captured signature from carrying
 * another event. A timestamp more than 5 minutes ahead, or older than the horizon, is `expired_timestamp`.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { secretFingerprint } from "../workspace/secret-box.ts";
import { mailgunEvent } from "./mailgun-events.ts";
import {
  BadProviderBodyError,
  ProviderUnavailableError,
  type Contents,
  type ProviderAdapter,
  type RejectReason,
  type Verdict,
  type VerifyRequest,
} from "./provider-adapter.ts";
import { isObject, maxIdLength, parseJsonBody, toleranceSeconds } from "./provider-fields.ts";
import type { MailgunTokenMemory } from "./mailgun-tokens.ts";

export interface MailgunCredential {
  key: Buffer;
  /** Names the key in the token memory without storing it. */
  scope: string;
}

export interface MailgunAdapterOptions {
  tokens: MailgunTokenMemory;
  /** How old a signed timestamp may be and still be accepted as a Mailgun retry; default 9 hours. */
  lateDeliveryHorizonSeconds?: number;
}

export const defaultLateDeliveryHorizonSeconds = 9 * 60 * 60;
const maxKeyLength = 256;
const minKeyLength = 16;
const maxTokenLength = 256;
const hexSignature = /^[0-9a-f]{64}$/i;

export function parseCredential(keyText: string): MailgunCredential {
  const key = keyText.trim();
  if (!key) throw new Error("required: the HTTP webhook signing key from Mailgun's Webhooks page");
  if (key.length > maxKeyLength) throw new Error(`must be at most ${maxKeyLength} characters`);
  if (key.length < minKeyLength) throw new Error(`must be at least ${minKeyLength} characters (Mailgun's signing keys are longer)`);
  if (!/^[\x21-\x7e]+$/.test(key)) throw new Error("must be printable ASCII without spaces, as Mailgun shows it");
  return Object.freeze({ key: Buffer.from(key, "utf8"), scope: createHash("sha256").update(`mailgun-signing-key:${key}`).digest("hex") });
}

export const fingerprint = (keyText: string): string => secretFingerprint(keyText.trim());

const reject = (reason: RejectReason): Verdict => ({ ok: false, reason });

interface SignatureBlock {
  timestamp: string;
  token: string;
  signatures: Buffer[];
}

/** The signature block, or undefined when it is absent or not of Mailgun's form. */
function signatureBlock(root: unknown): SignatureBlock | undefined {
  if (!isObject(root) || !isObject(root.signature)) return undefined;
  const { timestamp: rawTimestamp, token, signature } = root.signature;
  const parent = root.signature["parent-signature"];
  const timestamp = typeof rawTimestamp === "number" && Number.isSafeInteger(rawTimestamp) ? String(rawTimestamp) : rawTimestamp;
  if (typeof timestamp !== "string" || !/^\d{1,12}$/.test(timestamp)) return undefined;
  if (typeof token !== "string" || token === "" || token.length > maxTokenLength) return undefined;
  if (typeof signature !== "string" || signature === "") return undefined;
  // A value that is not 64 hex digits can match nothing; it is dropped here so every comparison is of equal lengths.
  const signatures = [signature, parent].filter((value): value is string => typeof value === "string" && hexSignature.test(value));
  return { timestamp, token, signatures: signatures.map((value) => Buffer.from(value.toLowerCase(), "utf8")) };
}

/** Which of the credentials signed the block, if any; every comparison runs in constant time. */
function signer(block: SignatureBlock, credentials: readonly MailgunCredential[]): MailgunCredential | undefined {
  for (const credential of credentials) {
    const expected = Buffer.from(createHmac("sha256", credential.key).update(block.timestamp + block.token).digest("hex"), "utf8");
    if (block.signatures.some((given) => timingSafeEqual(given, expected))) return credential;
  }
  return undefined;
}

/** Builds the Mailgun adapter around a token memory (shared by every instance in production). */
export function createMailgunAdapter(options: MailgunAdapterOptions): ProviderAdapter<MailgunCredential> {
  const horizonSeconds = options.lateDeliveryHorizonSeconds ?? defaultLateDeliveryHorizonSeconds;
  if (!(Number.isInteger(horizonSeconds) && horizonSeconds >= toleranceSeconds)) {
    throw new Error(`lateDeliveryHorizonSeconds must be a whole number of seconds, at least ${toleranceSeconds}`);
  }

  async function verify(request: VerifyRequest, credentials: readonly MailgunCredential[]): Promise<Verdict> {
    let root: unknown;
    try {
      root = JSON.parse(request.body.toString("utf8"));
    } catch {
      return reject("missing_signature");
    }
    const block = signatureBlock(root);
    if (!block) return reject("missing_signature");
    const ageSeconds = Math.floor(request.nowMs / 1000) - Number(block.timestamp);
    if (ageSeconds < -toleranceSeconds || ageSeconds > horizonSeconds) return reject("expired_timestamp");
    const credential = signer(block, credentials);
    if (!credential) return reject("bad_signature");
    const eventData = isObject(root) ? root["event-data"] : undefined;
    const eventId = isObject(eventData) ? eventData.id : undefined;
    // Without a usable event id contents() refuses the body, so nothing can be stored under this token.
    if (typeof eventId !== "string" || eventId === "" || eventId.length > maxIdLength) return { ok: true };
    let boundTo: string;
    try {
      boundTo = await options.tokens.bind({
        scope: credential.scope,
        token: block.token,
        eventId,
        nowMs: request.nowMs,
        expiresAtMs: (Number(block.timestamp) + horizonSeconds + toleranceSeconds) * 1000,
      });
    } catch (error) {
      throw new ProviderUnavailableError("Mailgun token memory unreachable", { cause: error });
    }
    return boundTo === eventId ? { ok: true } : reject("token_reused");
  }

  function contents(body: Buffer): Contents {
    const root = parseJsonBody(body, "Mailgun");
    if (!isObject(root) || !isObject(root["event-data"])) {
      throw new BadProviderBodyError("Mailgun body has no event-data object (only the v3 JSON webhooks are read)");
    }
    return { kind: "events", events: [mailgunEvent(root["event-data"])] };
  }

  return { provider: "mailgun", parseCredential, fingerprint, verify, contents };
}
