/**
 * Test support for the SES adapter (services/webhook-gateway/providers/ses.ts): an SNS signer of our own (an RSA key from node:crypto and a self-signed certificate from
 * `openssl`, which node:crypto cannot build) and a loopback server that serves its certificate the way
 * SNS's hosts do. The signer (cli/provider-sign.ts) builds the string to sign from AWS's field lists
 * itself, apart from the adapter's code, so a mistake in one is not copied into the other.
 */
import type { KeyObject } from "node:crypto";
import { selfSignedSnsCertificate, signSnsEnvelope } from "../../cli/provider-sign.ts";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface TestSigner {
  privateKey: KeyObject;
  certificatePem: string;
}

/** A fresh 2048-bit RSA key (or, to test refusals, a P-256 one) and a self-signed certificate for it, valid for a day. */
export const createTestSigner = (keyType: "rsa" | "ec" = "rsa"): TestSigner => selfSignedSnsCertificate("the SNS tests", keyType);

/** Returns the envelope with `SignatureVersion` and `Signature` set as SNS would sign it (version 1 unless told). */
export const signEnvelope = (envelope: Record<string, unknown>, privateKey: KeyObject, version: "1" | "2" = "1") => signSnsEnvelope(envelope, privateKey, version);

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
