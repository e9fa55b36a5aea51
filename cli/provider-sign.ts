/**
 * Signs webhook requests the way each provider does, written from the providers' documentation with
 * node:crypto (apart from the gateway's adapters, so a test that signs with it checks the gateway against
 * the documentation and not against itself). Used by `ngsreach simulate --provider` and by the tests.
 *
 * SES (through SNS) is signed with an RSA key whose certificate the gateway fetches from the message's
 * SigningCertURL: only AWS's hosts are accepted, so a signer of ours needs the gateway started with
 * SNS_EXTRA_CERT_URL_PREFIX naming where our certificate is served (`certificateUrl`).
 */
import { execFileSync } from "node:child_process";
import { createHmac, createSign, generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signedHeaders } from "./sign.ts";

export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

/** Resend: the svix-* headers over the body. */
export function resendRequest(secret: string, body: unknown, options: { id?: string; timestamp?: number } = {}): SignedRequest {
  const text = JSON.stringify(body);
  return { headers: { "content-type": "application/json", ...signedHeaders(secret, text, options) }, body: text };
}

/** SendGrid: base64 DER ECDSA P-256 signature of SHA-256 over the timestamp header's value followed by the body. */
export function sendgridRequest(privateKey: KeyObject, events: unknown[], timestampSeconds = Math.floor(Date.now() / 1000)): SignedRequest {
  const text = JSON.stringify(events);
  const signature = sign("sha256", Buffer.concat([Buffer.from(String(timestampSeconds)), Buffer.from(text)]), privateKey).toString("base64");
  return {
    headers: {
      "content-type": "application/json",
      "x-twilio-email-event-webhook-signature": signature,
      "x-twilio-email-event-webhook-timestamp": String(timestampSeconds),
    },
    body: text,
  };
}

/** Mailgun: `signature` = hex HMAC-SHA256(signing key, timestamp + token), beside the event in the body. */
export function mailgunRequest(
  signingKey: string,
  eventData: unknown,
  options: { token?: string; timestampSeconds?: number } = {},
): SignedRequest {
  const timestamp = String(options.timestampSeconds ?? Math.floor(Date.now() / 1000));
  const token = options.token ?? randomBytes(25).toString("hex");
  const signature = createHmac("sha256", signingKey).update(timestamp + token).digest("hex");
  return {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ signature: { timestamp, token, signature }, "event-data": eventData }),
  };
}

/** Postmark: no signature; HTTP Basic credentials set on the webhook ("user:password"). */
export function postmarkRequest(userPassword: string, record: unknown): SignedRequest {
  return {
    headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(userPassword).toString("base64")}` },
    body: JSON.stringify(record),
  };
}

const snsSignedFields: Record<string, string[]> = {
  Notification: ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
  SubscriptionConfirmation: ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
  UnsubscribeConfirmation: ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
};

export interface SnsSigner {
  privateKey: KeyObject;
  /** Where the gateway can fetch the signer's certificate (under SNS_EXTRA_CERT_URL_PREFIX). */
  certificateUrl: string;
  topicArn: string;
}

/** Signs an SNS message (SignatureVersion 1: SHA1withRSA; 2: SHA256withRSA) over AWS's field list. */
export function signSnsEnvelope(envelope: Record<string, unknown>, privateKey: KeyObject, version: "1" | "2" = "2"): Record<string, unknown> {
  const names = snsSignedFields[String(envelope.Type)] ?? snsSignedFields.Notification!;
  const text = names
    .filter((name) => typeof envelope[name] === "string")
    .map((name) => `${name}\n${envelope[name] as string}\n`)
    .join("");
  const signature = createSign(version === "1" ? "RSA-SHA1" : "RSA-SHA256").update(text, "utf8").sign(privateKey, "base64");
  return { ...envelope, SignatureVersion: version, Signature: signature };
}

/** SES through SNS: an SNS Notification carrying the SES message, signed; `messageId` is SNS's (the event id). */
export function sesRequest(signer: SnsSigner, sesMessage: unknown, options: { messageId?: string; version?: "1" | "2" } = {}): SignedRequest {
  const envelope = signSnsEnvelope(
    {
      Type: "Notification",
      MessageId: options.messageId ?? randomUUID(),
      TopicArn: signer.topicArn,
      Message: JSON.stringify(sesMessage),
      Timestamp: new Date().toISOString(),
      SigningCertURL: signer.certificateUrl,
      UnsubscribeURL: `${signer.certificateUrl}?Action=Unsubscribe`,
    },
    signer.privateKey,
    options.version,
  );
  return {
    headers: { "content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification" },
    body: JSON.stringify(envelope),
  };
}

/**
 * A fresh key (2048-bit RSA, as SNS signs; P-256 only to test refusals) and a self-signed certificate for it,
 * valid for a day, made by `openssl` (node:crypto cannot build certificates). `needs` says who asked, for the
 * error when openssl is missing.
 */
export function selfSignedSnsCertificate(needs: string, keyType: "rsa" | "ec" = "rsa"): { privateKey: KeyObject; certificatePem: string } {
  const { privateKey } = keyType === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-sns-"));
  try {
    const keyPath = join(dir, "key.pem");
    writeFileSync(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    try {
      execFileSync("openssl", ["req", "-x509", "-new", "-key", keyPath, "-subj", "/CN=sns.amazonaws.com", "-days", "1", "-out", join(dir, "cert.pem")], {
        stdio: ["ignore", "ignore", "pipe"],
      });
    } catch (error) {
      throw new Error(`${needs} needs the openssl command, to make a self-signed certificate`, { cause: error });
    }
    return { privateKey, certificatePem: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
