/**
 * Amazon SES through Amazon SNS (issue 14). SES publishes to an SNS topic; SNS POSTs each message to the
 * gateway, signed with an RSA key whose certificate it names. The workspace's credential is the list of
 * topic ARNs it accepts.
 *
 * No timestamp window, unlike the other providers: SNS retries a failed delivery with the original message
 * and signature for as long as the subscription's delivery policy says (up to an hour), so a ±5-minute bound
 * on `Timestamp` would turn a short outage into lost events. A replayed message is harmless instead: its
 * `MessageId` is the event id, which every consumer already deduplicates forever.
 *
 * The subscription must not use raw message delivery: that drops the signed envelope, and such bodies are
 * rejected as unsigned.
 */
import { createHash } from "node:crypto";
import type { ProviderAdapter, RejectReason, Verdict, VerifyRequest, Contents } from "./provider-adapter.ts";
import { BadProviderBodyError } from "./provider-adapter.ts";
import { sesEvent } from "./ses-events.ts";
import { CertificateStore, type CertificateStoreOptions, type FetchFunction } from "./sns-certificates.ts";
import { isCertificateUrl, isSubscribeUrl, parseExtraUrlPrefix, readEnvelope, verifySnsSignature } from "./sns-signature.ts";

/** The topics one stored credential allows. */
export interface SesCredential {
  topicArns: readonly string[];
}

export interface SesAdapterOptions {
  /** Fetches signing certificates (default: the global `fetch`). */
  fetch?: FetchFunction;
  /**
   * For tests only (the gateway reads SNS_EXTRA_CERT_URL_PREFIX): one more URL prefix accepted for signing
   * certificates and subscribe URLs; plain http allowed on a loopback host.
   */
  extraUrlPrefix?: string;
  certificates?: Omit<CertificateStoreOptions, "fetch">;
}

export const maxTopicArnsPerCredential = 10;
const maxCredentialLength = 4096;

// Partition and region must agree: aws-cn holds the cn-* regions, aws-us-gov the us-gov-* ones.
const topicArn = /^arn:(aws|aws-cn|aws-us-gov):sns:([a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}):(\d{12}):([A-Za-z0-9_-]{1,256}|[A-Za-z0-9_-]{1,251}\.fifo)$/;
const arnForm = "arn:<aws|aws-cn|aws-us-gov>:sns:<region>:<12-digit account>:<topic name>";

function partitionOf(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

/** The ARNs as an operator may paste them: separated by commas, spaces or new lines; each once. */
function splitArns(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

export function parseCredential(text: string): SesCredential {
  if (text.length > maxCredentialLength) throw new Error(`must be at most ${maxCredentialLength} characters`);
  const arns = splitArns(text);
  if (arns.length === 0) throw new Error(`required: the SNS topic ARN(s) SES publishes to, ${arnForm}`);
  if (arns.length > maxTopicArnsPerCredential) throw new Error(`at most ${maxTopicArnsPerCredential} topic ARNs`);
  arns.forEach((arn, index) => {
    const match = topicArn.exec(arn);
    const which = arns.length === 1 ? "the topic ARN" : `topic ARN ${index + 1} of ${arns.length}`;
    if (!match) throw new Error(`${which} is not of the form ${arnForm}`);
    if (partitionOf(match[2]!) !== match[1]) throw new Error(`${which} names a region outside its partition`);
  });
  return Object.freeze({ topicArns: Object.freeze(arns) });
}

/** Same list, same fingerprint, whatever the order or separators it was pasted with. */
export function fingerprint(text: string): string {
  return createHash("sha256").update(splitArns(text).sort().join("\n")).digest("hex").slice(0, 8);
}

const reject = (reason: RejectReason): Verdict => ({ ok: false, reason });

/** Builds the SES adapter; the certificate cache lives as long as the adapter. */
export function createSesAdapter(options: SesAdapterOptions = {}): ProviderAdapter<SesCredential> {
  let extraPrefix: URL | undefined;
  if (options.extraUrlPrefix !== undefined) {
    try {
      extraPrefix = parseExtraUrlPrefix(options.extraUrlPrefix);
    } catch (error) {
      throw new Error(`extraUrlPrefix ${(error as Error).message}`, { cause: error });
    }
  }
  const certificates = new CertificateStore({ ...options.certificates, ...(options.fetch ? { fetch: options.fetch } : {}) });

  async function verify(request: VerifyRequest, credentials: readonly SesCredential[]): Promise<Verdict> {
    const envelope = readEnvelope(request.body);
    if (!envelope) return reject("missing_signature");
    // Before anything costs a fetch: a forger must at least name a topic this workspace allows.
    if (!credentials.some((credential) => credential.topicArns.includes(envelope.TopicArn))) return reject("topic_not_allowed");
    if (envelope.SignatureVersion !== "1" && envelope.SignatureVersion !== "2") return reject("bad_signature");
    if (!isCertificateUrl(envelope.SigningCertURL, extraPrefix)) return reject("bad_certificate_url");
    const publicKey = await certificates.publicKey(envelope.SigningCertURL, request.nowMs);
    return verifySnsSignature(envelope, publicKey) ? { ok: true } : reject("bad_signature");
  }

  function contents(body: Buffer): Contents {
    const envelope = readEnvelope(body);
    if (!envelope) throw new BadProviderBodyError("not an SNS message");
    switch (envelope.Type) {
      case "SubscriptionConfirmation":
        // Signed by SNS, but the gateway will GET it: the same host rule as certificates, never anywhere else.
        if (!isSubscribeUrl(envelope.SubscribeURL!, extraPrefix)) throw new BadProviderBodyError("SubscribeURL is not https on an SNS host");
        return { kind: "subscription_confirmation", topicArn: envelope.TopicArn, subscribeUrl: envelope.SubscribeURL! };
      case "UnsubscribeConfirmation":
        return { kind: "unsubscribe_confirmation", topicArn: envelope.TopicArn };
      case "Notification":
        return { kind: "events", events: [sesEvent(envelope.MessageId, envelope.Message)] };
    }
  }

  return { provider: "ses", parseCredential, fingerprint, verify, contents };
}
