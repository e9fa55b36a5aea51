/**
 * `ngsreach simulate --provider ses|sendgrid|postmark|mailgun`: one sample event of every kind the provider
 * reports (provider-samples.ts `kindsOf`), all about one new email, signed as that provider signs
 * (provider-sign.ts) and POSTed one by one to the gateway's `/webhooks/<provider>`, printing each answer —
 * what the Resend simulate does for Resend.
 *
 * Signing needs the private half of the workspace's credential, which for two providers is not what the
 * gateway stores: SendGrid's is a P-256 key pair (the gateway holds the public key; `--key-file` gives the
 * private one, or `--setup` makes a pair), and SES's is SNS's certificate (the gateway holds only the topic
 * ARNs; local-sns.ts plays SNS). Mailgun's signing key and Postmark's user:password are the same on both sides.
 * `--setup` sets the credential on the workspace first, so one command needs nothing prepared.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { startLocalSns } from "./local-sns.ts";
import { kindsOf, mailgunEventData, postmarkRecord, sendgridEvent, sesMessage, type ProviderSample, type SampleKind } from "./provider-samples.ts";
import { mailgunRequest, postmarkRequest, sendgridRequest, sesRequest, type SignedRequest } from "./provider-sign.ts";
import { UsageError } from "./usage-error.ts";

export type SimulatedProvider = keyof typeof kindsOf;

export interface ProviderSimulation {
  provider: SimulatedProvider;
  workspaceId: string;
  gatewayUrl: string;
  /** `--secret`: the credential as `secret set --provider` takes it (Mailgun key, Postmark user:password, SES topic ARN). */
  secret?: string;
  /** `--key-file`: SendGrid's P-256 private key, PEM. */
  keyFile?: string;
  /** `--setup`: set the credential on the workspace before sending (a fresh one unless given). */
  setup: boolean;
  /** SetWebhookSecret for this provider; the caller holds the RPC client. */
  setCredential(credential: string): Promise<void>;
  /** SNS_EXTRA_CERT_URL_PREFIX, as the gateway was started with. */
  snsCertificatePrefix: string;
}

/** One provider's way of signing, with the credential the workspace must hold for it to verify. */
interface Signer {
  credential: string;
  request(kind: SampleKind, sample: ProviderSample): SignedRequest;
  /** Sent before the events, each printed under its name (SES: the subscription confirmation). */
  preamble?: { name: string; request: () => SignedRequest; note?: () => string }[];
  close?(): Promise<void>;
}

const missing = (what: string): never => {
  throw new UsageError(`${what}, or --setup to set a fresh test credential on the workspace first`);
};

function readSendgridKey(path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(path));
  } catch (error) {
    throw new UsageError(`--key-file: cannot read a PEM private key from ${path} (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new UsageError("--key-file must hold an ECDSA P-256 private key, as SendGrid signs with");
  }
  return key;
}

const signers: Record<SimulatedProvider, (options: ProviderSimulation) => Promise<Signer>> = {
  sendgrid: async (options) => {
    if (options.secret) throw new UsageError("SendGrid signs with a private key: give it with --key-file (PEM), not --secret");
    const privateKey = options.keyFile
      ? readSendgridKey(options.keyFile)
      : options.setup
        ? generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey
        : missing("--key-file FILE (the P-256 private key whose public key the workspace holds)");
    return {
      credential: createPublicKey(privateKey).export({ format: "der", type: "spki" }).toString("base64"),
      request: (kind, sample) => sendgridRequest(privateKey, [sendgridEvent(kind, sample)]),
    };
  },
  mailgun: async (options) => {
    const key = options.secret ?? (options.setup ? randomBytes(24).toString("hex") : missing("--secret KEY (the workspace's Mailgun signing key)"));
    return { credential: key, request: (kind, sample) => mailgunRequest(key, mailgunEventData(kind, sample)) };
  },
  postmark: async (options) => {
    const userPassword = options.secret ?? (options.setup ? `simulate:${randomBytes(16).toString("hex")}` : missing("--secret USER:PASSWORD (the workspace's Postmark credentials)"));
    return { credential: userPassword, request: (kind, sample) => postmarkRequest(userPassword, postmarkRecord(kind, sample)) };
  },
  ses: async (options) => {
    const credential = options.secret ?? (options.setup ? "arn:aws:sns:us-east-1:000000000000:ngsreach-simulate" : missing("--secret TOPIC_ARN (one the workspace allows)"));
    // Of several allowed topics, the messages name the first.
    const sns = await startLocalSns(options.snsCertificatePrefix, credential.split(/[\s,]+/).find(Boolean) ?? credential);
    return {
      credential,
      request: (kind, sample) => sesRequest(sns.signer, sesMessage(kind, sample)),
      preamble: [
        {
          name: "SubscriptionConfirmation",
          request: () => sns.subscriptionConfirmation(),
          note: () => (sns.confirmed() ? "  (the gateway visited the SubscribeURL)" : ""),
        },
      ],
      close: () => sns.close(),
    };
  },
};

/** A message id in the provider's own shape (SendGrid's has no ".": the adapter cuts its id at the first one). */
const messageIdOf: Record<SimulatedProvider, () => string> = {
  ses: () => `0100018c${randomBytes(8).toString("hex")}-${randomUUID()}-000000`,
  sendgrid: () => randomBytes(16).toString("base64url"),
  postmark: () => randomUUID(),
  mailgun: () => `${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}.${randomBytes(8).toString("hex")}@mg.example.com`,
};

const hints: Record<SimulatedProvider, string> = {
  sendgrid: "401 bad_signature = the workspace holds another verification key, expired_timestamp = clock skew over 5 minutes",
  mailgun: "401 bad_signature = the workspace holds another signing key",
  postmark: "401 bad_credentials = the workspace holds other username:password credentials",
  ses: "401 topic_not_allowed = the workspace does not allow that topic ARN, bad_certificate_url = the gateway was not started with SNS_EXTRA_CERT_URL_PREFIX=<the prefix simulate serves on> (npm start sets it)",
};

/** Sends the samples and prints each answer; returns how many were not answered 2xx. */
export async function simulateProvider(options: ProviderSimulation): Promise<number> {
  const { provider, workspaceId, gatewayUrl } = options;
  if (options.keyFile && provider !== "sendgrid") throw new UsageError("--key-file is for --provider sendgrid");
  const signer = await signers[provider](options);
  try {
    if (options.setup) await options.setCredential(signer.credential);
    const messageId = messageIdOf[provider]();
    const kinds = kindsOf[provider];
    const endpoint = `${gatewayUrl}/webhooks/${provider}?workspaceId=${encodeURIComponent(workspaceId)}`;
    console.log(`sending ${kinds.length} signed ${provider} events for email ${provider}:${messageId} to ${endpoint}`);
    let failures = 0;
    const send = async (name: string, request: SignedRequest, note = () => "") => {
      const response = await fetch(endpoint, { method: "POST", headers: request.headers, body: request.body });
      const text = await response.text();
      if (!response.ok) failures++;
      console.log(`  ${name.padEnd(24)} ${response.status} ${text}${response.ok ? note() : ""}`);
    };
    for (const step of signer.preamble ?? []) await send(step.name, step.request(), step.note);
    const tags = { campaign_id: "simulated-campaign", subscriber_id: "simulated-subscriber" };
    for (const [index, kind] of kinds.entries()) {
      // A millisecond apart, so the events' times follow the order a real email's would.
      await send(kind, signer.request(kind, { messageId, to: ["simulated@example.com"], tags, at: new Date(Date.now() + index) }));
    }
    if (failures > 0) {
      console.error(`${failures} request(s) were not accepted (${hints[provider]}; 404 = unknown workspace or no ${provider} credential: use --setup or ngsreach secret set --provider ${provider})`);
    }
    return failures;
  } finally {
    await signer.close?.();
  }
}
