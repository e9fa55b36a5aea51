/**
 * Amazon SNS message signatures over HTTP/S (AWS "Verifying the signatures of Amazon SNS messages"): the
 * envelope fields a signature covers, the string to sign for each message type, the RSA check, and which
 * URLs may serve a signing certificate or confirm a subscription.
 */
import { createVerify, type KeyObject } from "node:crypto";

export const snsMessageTypes = ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"] as const;
export type SnsMessageType = (typeof snsMessageTypes)[number];

/** The envelope as far as verification reads it; the published `Message` stays an opaque string here. */
export interface SnsEnvelope {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

// Ours, generous next to what SNS sends (UUID ids, ~2 KB URLs, 344-character RSA-2048 signatures): they
// only bound the work an unsigned request can cause. `Message` is bounded by the gateway's body limit.
const fieldLimits = {
  MessageId: 256,
  TopicArn: 256,
  Timestamp: 64,
  SignatureVersion: 8,
  Signature: 2048,
  SigningCertURL: 2048,
  Subject: 1024,
  SubscribeURL: 4096,
  Token: 2048,
} as const;

// Byte-sorted name lists from AWS's guide. A confirmation is signed over its SubscribeURL and Token, so
// the URL the gateway will visit is covered; UnsubscribeConfirmation uses the same list (an older AWS
// validator used the notification list for it, which rejects every genuine one).
const notificationKeys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"] as const;
const confirmationKeys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"] as const;

/**
 * Reads the signed fields of an SNS HTTP/S message, or undefined when the body is not one (not JSON, a
 * field the signature needs absent, not a string or too long) — e.g. raw message delivery, which is unsigned.
 */
export function readEnvelope(body: Buffer): SnsEnvelope | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const fields = parsed as Record<string, unknown>;
  const type = fields.Type;
  if (typeof type !== "string" || !(snsMessageTypes as readonly string[]).includes(type)) return undefined;
  const required = ["MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"];
  if (type !== "Notification") required.push("SubscribeURL", "Token");
  for (const name of required) if (!fitsLimit(name, fields[name])) return undefined;
  // AWS's own validators skip a null Subject, so a null one is an absent one here too. Only a notification's
  // Subject is signed; on a confirmation it would be unsigned text, so it is not read at all.
  const subject = type === "Notification" ? (fields.Subject ?? undefined) : undefined;
  if (subject !== undefined && !fitsLimit("Subject", subject)) return undefined;
  const pick = (name: string) => fields[name] as string;
  return {
    Type: type as SnsMessageType,
    MessageId: pick("MessageId"),
    TopicArn: pick("TopicArn"),
    Message: pick("Message"),
    Timestamp: pick("Timestamp"),
    SignatureVersion: pick("SignatureVersion"),
    Signature: pick("Signature"),
    SigningCertURL: pick("SigningCertURL"),
    ...(subject === undefined ? {} : { Subject: subject as string }),
    ...(type === "Notification" ? {} : { SubscribeURL: pick("SubscribeURL"), Token: pick("Token") }),
  };
}

function fitsLimit(name: string, value: unknown): value is string {
  if (typeof value !== "string") return false;
  const limit = (fieldLimits as Record<string, number | undefined>)[name];
  return value.length > 0 && (limit === undefined || value.length <= limit);
}

/** `name\nvalue\n` for each signed field present, in AWS's byte-sorted order for the message's type. */
export function stringToSign(envelope: SnsEnvelope): string {
  const keys = envelope.Type === "Notification" ? notificationKeys : confirmationKeys;
  let text = "";
  for (const key of keys) {
    const value = envelope[key];
    if (value !== undefined) text += `${key}\n${value}\n`;
  }
  return text;
}

/** SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA; any other version verifies nothing. */
export function verifySnsSignature(envelope: SnsEnvelope, publicKey: KeyObject): boolean {
  const algorithm = envelope.SignatureVersion === "1" ? "RSA-SHA1" : envelope.SignatureVersion === "2" ? "RSA-SHA256" : undefined;
  if (!algorithm) return false;
  try {
    return createVerify(algorithm).update(stringToSign(envelope), "utf8").verify(publicKey, Buffer.from(envelope.Signature, "base64"));
  } catch {
    return false;
  }
}

// Stricter than AWS's validators (`sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com`): the region must look like one
// (us-east-1, us-gov-west-1, cn-north-1), so `sns.s3-us-west-2.amazonaws.com` — an S3 bucket named "sns"
// on a legacy S3 endpoint, whose content anyone could choose — is no SNS host.
const snsHost = /^sns\.[a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}\.amazonaws\.com(?:\.cn)?$/;
const loopbackHosts = new Set(["127.0.0.1", "[::1]", "localhost"]);

/**
 * Checks the test-only extra URL prefix (SNS_EXTRA_CERT_URL_PREFIX): an absolute URL ending in "/" with no
 * user, query or fragment; plain http only on a loopback host. Throws an Error saying what is wrong.
 */
export function parseExtraUrlPrefix(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error("must be an absolute URL such as http://127.0.0.1:8099/certs/");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackHosts.has(url.hostname))) {
    throw new Error("must be https, or http on a loopback host (127.0.0.1, [::1], localhost)");
  }
  if (url.username || url.password || url.search || url.hash || !url.pathname.endsWith("/")) {
    throw new Error("must end in / and carry no user, query or fragment");
  }
  return url;
}

function allowedUrl(text: string, extraPrefix: URL | undefined): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.username || url.password) return undefined;
  if (url.protocol === "https:" && url.port === "" && snsHost.test(url.hostname)) return url;
  // Compared parsed, never as text: "http://127.0.0.1:1234@evil.example/" starts with the prefix's characters.
  if (extraPrefix && url.origin === extraPrefix.origin && url.pathname.startsWith(extraPrefix.pathname)) return url;
  return undefined;
}

/** A SigningCertURL the gateway may fetch: https on an SNS host (or under the extra prefix), a `.pem` path, no query. */
export function isCertificateUrl(text: string, extraPrefix?: URL): boolean {
  const url = allowedUrl(text, extraPrefix);
  return url !== undefined && url.pathname.endsWith(".pem") && !url.search && !url.hash;
}

/** A SubscribeURL the gateway may visit to confirm a subscription: https on an SNS host (or under the extra prefix). */
export function isSubscribeUrl(text: string, extraPrefix?: URL): boolean {
  return allowedUrl(text, extraPrefix) !== undefined;
}
