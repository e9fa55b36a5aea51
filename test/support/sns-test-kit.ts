/**
 * Test support for the SES adapter (services/webhook-gateway/providers/ses.ts): an SNS signer of our own (an RSA key from node:crypto and a self-signed certificate from
 * `openssl`, which node:crypto cannot build) and a loopback server that serves its certificate the way
 * SNS's hosts do. The signer builds the string to sign from AWS's field lists itself, apart from the
 * adapter's code, so a mistake in one is not copied into the other.
 */
import { execFileSync } from "node:child_process";
import { createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestSigner {
  privateKey: KeyObject;
  certificatePem: string;
}

/** A fresh 2048-bit RSA key (or, to test refusals, a P-256 one) and a self-signed certificate for it, valid for a day. */
export function createTestSigner(keyType: "rsa" | "ec" = "rsa"): TestSigner {
  const { privateKey } = keyType === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const dir = mkdtempSync(join(tmpdir(), "sns-test-cert-"));
  try {
    const keyPath = join(dir, "key.pem");
    writeFileSync(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    try {
      execFileSync("openssl", ["req", "-x509", "-new", "-key", keyPath, "-subj", "/CN=sns.amazonaws.com", "-days", "1", "-out", join(dir, "cert.pem")], {
        stdio: ["ignore", "ignore", "pipe"],
      });
    } catch (error) {
      throw new Error("the SNS tests need the openssl command to make a self-signed test certificate", { cause: error });
    }
    return { privateKey, certificatePem: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const signedFields: Record<string, string[]> = {
  Notification: ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
  SubscriptionConfirmation: ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
  UnsubscribeConfirmation: ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
};

/** Returns the envelope with `SignatureVersion` and `Signature` set as SNS would sign it. */
export function signEnvelope(envelope: Record<string, unknown>, privateKey: KeyObject, version: "1" | "2" = "1"): Record<string, unknown> {
  const names = signedFields[String(envelope.Type)] ?? signedFields.Notification!;
  const text = names
    .filter((name) => typeof envelope[name] === "string")
    .map((name) => `${name}\n${envelope[name] as string}\n`)
    .join("");
  const signature = createSign(version === "1" ? "RSA-SHA1" : "RSA-SHA256").update(text, "utf8").sign(privateKey, "base64");
  return { ...envelope, SignatureVersion: version, Signature: signature };
}

export type CertificateAnswer = { status: number; body: string | Buffer; headers?: Record<string, string> } | "hang";

export interface CertificateServer {
  /** e.g. http://127.0.0.1:PORT/certs/ — the extra URL prefix to hand the adapter. */
  prefix: string;
  url(name: string): string;
  /** Requests seen per path. */
  hits: Map<string, number>;
  /** What each path answers; default 200 with the signer's certificate for any `.pem` path. */
  answer: (path: string) => CertificateAnswer;
  close(): Promise<void>;
}

/** Serves certificates on 127.0.0.1, port 0. */
export async function startCertificateServer(certificatePem: string): Promise<CertificateServer> {
  const hanging = new Set<ServerResponse>();
  const state: CertificateServer = {
    prefix: "",
    url: (name) => `${state.prefix}${name}`,
    hits: new Map(),
    answer: (path) => (path.endsWith(".pem") ? { status: 200, body: certificatePem } : { status: 404, body: "" }),
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = request.url ?? "/";
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
    const answer = state.answer(path);
    if (answer === "hang") {
      hanging.add(response);
      return;
    }
    response.writeHead(answer.status, answer.headers ?? { "content-type": "application/x-pem-file" });
    response.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  state.prefix = `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs/`;
  return state;
}

export const testTopicArn = "arn:aws:sns:us-west-2:123456789012:MyTopic";

/** A body as the gateway hands it over: SNS sends the envelope as text/plain JSON. */
export function snsRequest(envelope: Record<string, unknown>, nowMs = Date.now()) {
  return {
    headers: { "x-amz-sns-message-type": String(envelope.Type), "content-type": "text/plain; charset=UTF-8" },
    body: Buffer.from(JSON.stringify(envelope)),
    nowMs,
  };
}

/** AWS's example notification envelope (test/fixtures/providers/ses/sns/) carrying `message`, with its certificate on `server`. */
export function notificationEnvelope(message: unknown, server: CertificateServer, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = JSON.parse(readFileSync(new URL("../fixtures/providers/ses/sns/notification.json", import.meta.url), "utf8")) as Record<string, unknown>;
  return {
    ...base,
    Message: typeof message === "string" ? message : JSON.stringify(message),
    SigningCertURL: server.url("SimpleNotificationService-test.pem"),
    ...overrides,
  };
}
