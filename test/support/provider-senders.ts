/**
 * Test support: for each provider other than Resend, a sender that holds the workspace's credential (both
 * halves, where there are two) and signs requests as the provider does (cli/provider-sign.ts). SES needs a
 * loopback server for its certificate; start the gateway with `SNS_EXTRA_CERT_URL_PREFIX: certificates.prefix`.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { mailgunRequest, postmarkRequest, sendgridRequest, sesRequest, type SignedRequest, type SnsSigner } from "../../cli/provider-sign.ts";
import { mailgunEventData, postmarkRecord, sendgridEvent, sesMessage, type ProviderSample, type SampleKind } from "../../cli/provider-samples.ts";
import { createTestSigner, startCertificateServer, type CertificateServer } from "./sns-test-kit.ts";

export type OtherProvider = "ses" | "sendgrid" | "postmark" | "mailgun";

export interface ProviderSender {
  provider: OtherProvider;
  /** What SetWebhookSecret takes for this provider. */
  credential: string;
  /** A signed request carrying one new event of `kind` (SendGrid: an array of one). */
  request(kind: SampleKind, sample: ProviderSample): SignedRequest;
}

export interface ProviderSenders {
  senders: Record<OtherProvider, ProviderSender>;
  sendgridKey: KeyObject;
  /** The SNS signer, for messages the samples do not make (control messages, edited events). */
  sns: SnsSigner & { certificatePem: string };
  certificates: CertificateServer;
  close(): Promise<void>;
}

/** Fresh credentials of every provider, and the SNS certificate served on loopback. */
export async function providerSenders(topicArn = `arn:aws:sns:eu-west-1:123456789012:ses-${randomBytes(4).toString("hex")}`): Promise<ProviderSenders> {
  const signer = createTestSigner();
  const certificates = await startCertificateServer(signer.certificatePem);
  const sendgrid = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const mailgunKey = randomBytes(16).toString("hex");
  const postmark = `hooks:${randomBytes(12).toString("hex")}`;
  const sns = { privateKey: signer.privateKey, certificateUrl: certificates.url("SimpleNotificationService-test.pem"), topicArn, certificatePem: signer.certificatePem };
  return {
    sns,
    sendgridKey: sendgrid.privateKey,
    certificates,
    close: () => certificates.close(),
    senders: {
      ses: { provider: "ses", credential: topicArn, request: (kind, sample) => sesRequest(sns, sesMessage(kind, sample)) },
      sendgrid: {
        provider: "sendgrid",
        credential: sendgrid.publicKey.export({ format: "der", type: "spki" }).toString("base64"),
        request: (kind, sample) => sendgridRequest(sendgrid.privateKey, [sendgridEvent(kind, sample)]),
      },
      postmark: { provider: "postmark", credential: postmark, request: (kind, sample) => postmarkRequest(postmark, postmarkRecord(kind, sample)) },
      mailgun: { provider: "mailgun", credential: mailgunKey, request: (kind, sample) => mailgunRequest(mailgunKey, mailgunEventData(kind, sample)) },
    },
  };
}

/** POSTs a signed request to `/webhooks/{provider}`. */
export async function postProvider(url: string, provider: string, workspaceId: string, request: SignedRequest) {
  const response = await fetch(`${url}/webhooks/${provider}?workspaceId=${encodeURIComponent(workspaceId)}`, {
    method: "POST",
    headers: request.headers,
    body: request.body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}
