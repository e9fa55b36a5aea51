/**
 * What a sender of each provider other than Resend holds for one workspace — both halves where there are
 * two (SendGrid's key pair), the workspace's half being what SetWebhookSecret takes — and the one SNS signer
 * of a stack, whose certificate a loopback server serves (the gateway accepts it through
 * SNS_EXTRA_CERT_URL_PREFIX). Resend's secret stays in `Stack.secrets`, where scenario 13 rotates it.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import type { SnsSigner } from "../../cli/provider-sign.ts";
import { createTestSigner, startCertificateServer, type CertificateServer } from "../support/sns-test-kit.ts";

export type OtherProvider = "sendgrid" | "mailgun" | "postmark" | "ses";
export const otherProviders: readonly OtherProvider[] = ["sendgrid", "mailgun", "postmark", "ses"];

/** One workspace's credentials for every provider but Resend. */
export interface ProviderKeys {
  sendgrid: { privateKey: KeyObject; verificationKey: string };
  mailgun: string;
  /** Postmark's webhook Basic credentials, "user:password". */
  postmark: string;
  /** SES: the SNS signer (shared by the stack) and this workspace's own topic. */
  ses: SnsSigner;
}

/** Fresh credentials of a workspace, signing SNS messages with `sns` on a topic of its own. */
export function newProviderKeys(sns: Omit<SnsSigner, "topicArn">): ProviderKeys {
  const sendgrid = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    sendgrid: { privateKey: sendgrid.privateKey, verificationKey: sendgrid.publicKey.export({ format: "der", type: "spki" }).toString("base64") },
    mailgun: randomBytes(16).toString("hex"),
    postmark: `faults:${randomBytes(12).toString("hex")}`,
    ses: { ...sns, topicArn: `arn:aws:sns:eu-west-1:123456789012:faults-${randomBytes(4).toString("hex")}` },
  };
}

/** What SetWebhookSecret takes for the provider. */
export function credentialText(keys: ProviderKeys, provider: OtherProvider): string {
  switch (provider) {
    case "sendgrid":
      return keys.sendgrid.verificationKey;
    case "mailgun":
      return keys.mailgun;
    case "postmark":
      return keys.postmark;
    case "ses":
      return keys.ses.topicArn;
  }
}

export interface SnsCertificates {
  signer: Omit<SnsSigner, "topicArn">;
  /** What the gateway's SNS_EXTRA_CERT_URL_PREFIX names. */
  prefix: string;
  server: CertificateServer;
}

/** A test SNS signing key and a loopback server of its certificate. */
export async function startSnsCertificates(): Promise<SnsCertificates> {
  const signer = createTestSigner();
  const server = await startCertificateServer(signer.certificatePem);
  return { signer: { privateKey: signer.privateKey, certificateUrl: server.url("SimpleNotificationService-faults.pem") }, prefix: server.prefix, server };
}
