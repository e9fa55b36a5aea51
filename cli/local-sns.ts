/**
 * Amazon SNS's side of an SES webhook, played on loopback for `ngsreach simulate --provider ses`: an RSA key
 * and a self-signed certificate for it (made by `openssl`, as node:crypto cannot build one), served under the
 * gateway's SNS_EXTRA_CERT_URL_PREFIX together with the SubscribeURL of the SubscriptionConfirmation it signs.
 * A gateway accepts certificates only from AWS's hosts and that test-only prefix, which `npm start` sets to
 * `localSnsCertificatePrefix`; so this works against the local stack and nowhere else.
 *
 * The certificate's file name holds its hash (as AWS's `SimpleNotificationService-<hash>.pem` names do): the
 * gateway caches certificates by URL, and every run makes a new key.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { selfSignedSnsCertificate, signSnsEnvelope, type SignedRequest, type SnsSigner } from "./provider-sign.ts";
import { UsageError } from "./usage-error.ts";

/** Where `npm start` lets the gateway fetch SNS certificates from, and where simulate serves its own (port 8099). */
export const localSnsCertificatePrefix = "http://127.0.0.1:8099/";

export interface LocalSns {
  signer: SnsSigner;
  /** A signed SubscriptionConfirmation whose SubscribeURL this server answers. */
  subscriptionConfirmation(): SignedRequest;
  /** Whether the gateway visited the SubscribeURL (it does so before answering the confirmation). */
  confirmed(): boolean;
  close(): Promise<void>;
}

const loopbackHosts = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** The prefix as a URL this process can listen under: plain http on a loopback host, a path ending in "/". */
function servablePrefix(text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "http:" || !loopbackHosts.has(url.hostname) || !url.pathname.endsWith("/") || url.search || url.hash) {
    throw new UsageError(`SNS_EXTRA_CERT_URL_PREFIX must be http on a loopback host ending in "/" (such as ${localSnsCertificatePrefix}) for simulate to serve its certificate there`);
  }
  return url;
}

function listen(server: Server, prefix: URL): Promise<void> {
  const host = prefix.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot serve the SNS test certificate on ${prefix.host} (${error.code ?? error.message}); if the port is taken, start npm start and simulate with another SNS_EXTRA_CERT_URL_PREFIX`,
        ),
      ),
    );
    server.listen(Number(prefix.port || 80), host, () => resolve());
  });
}

/** Serves the certificate and the SubscribeURL under `prefixText` until closed; messages name `topicArn`. */
export async function startLocalSns(prefixText: string, topicArn: string): Promise<LocalSns> {
  const prefix = servablePrefix(prefixText);
  const { privateKey, certificatePem } = selfSignedSnsCertificate("simulate --provider ses");
  const certificatePath = `${prefix.pathname}SimpleNotificationService-${createHash("sha256").update(certificatePem).digest("hex").slice(0, 32)}.pem`;
  const token = randomBytes(64).toString("hex");
  let visited = false;

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", prefix);
    if (request.method === "GET" && url.pathname === certificatePath) {
      response.writeHead(200, { "content-type": "application/x-pem-file" }).end(certificatePem);
    } else if (request.method === "GET" && url.pathname === prefix.pathname && url.searchParams.get("Action") === "ConfirmSubscription" && url.searchParams.get("Token") === token) {
      visited = true;
      const subscriptionArn = `${topicArn}:${randomUUID()}`;
      response
        .writeHead(200, { "content-type": "text/xml" })
        .end(`<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>${subscriptionArn}</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>`);
    } else {
      response.writeHead(404).end();
    }
  });
  await listen(server, prefix);

  const signer: SnsSigner = { privateKey, certificateUrl: new URL(certificatePath, prefix).href, topicArn };
  const subscribeUrl = `${prefix.href}?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(topicArn)}&Token=${token}`;
  return {
    signer,
    subscriptionConfirmation: () => {
      // SignatureVersion 1, SNS's default for a topic (the notifications use 2: the gateway takes both).
      const envelope = signSnsEnvelope(
        {
          Type: "SubscriptionConfirmation",
          MessageId: randomUUID(),
          Token: token,
          TopicArn: topicArn,
          Message: `You have chosen to subscribe to the topic ${topicArn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
          SubscribeURL: subscribeUrl,
          Timestamp: new Date().toISOString(),
          SigningCertURL: signer.certificateUrl,
        },
        privateKey,
        "1",
      );
      return {
        headers: { "content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "SubscriptionConfirmation" },
        body: JSON.stringify(envelope),
      };
    },
    confirmed: () => visited,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
