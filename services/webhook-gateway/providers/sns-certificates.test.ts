import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderUnavailableError } from "./provider-adapter.ts";
import { CertificateStore, type FetchFunction } from "./sns-certificates.ts";
import { createTestSigner, startCertificateServer, type CertificateAnswer, type CertificateServer, type TestSigner } from "../../../test/support/sns-test-kit.ts";

let signer: TestSigner;
let server: CertificateServer;

beforeAll(async () => {
  signer = createTestSigner();
  server = await startCertificateServer(signer.certificatePem);
});
afterAll(() => server.close());

/** A fetch that serves the signer's certificate for any URL and counts calls per URL. */
function countingFetch(): { fetch: FetchFunction; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const fetch: FetchFunction = async (url) => {
    calls.set(url, (calls.get(url) ?? 0) + 1);
    return new Response(signer.certificatePem);
  };
  return { fetch, calls };
}

const url = (name: string) => `https://sns.us-west-2.amazonaws.com/${name}.pem`;

describe("SNS certificate store", () => {
  it("fetches a certificate once and serves the cached key after, until its lifetime ends", async () => {
    const { fetch, calls } = countingFetch();
    const store = new CertificateStore({ fetch, ttlMs: 60_000 });
    const first = await store.publicKey(url("a"), 0);
    expect(first.asymmetricKeyType).toBe("rsa");
    expect(await store.publicKey(url("a"), 59_999)).toBe(first);
    expect(calls.get(url("a"))).toBe(1);
    await store.publicKey(url("a"), 60_000);
    expect(calls.get(url("a"))).toBe(2);
  });

  it("keeps at most maxEntries certificates, dropping the least recently used", async () => {
    const { fetch, calls } = countingFetch();
    const store = new CertificateStore({ fetch, maxEntries: 2 });
    await store.publicKey(url("a"), 0);
    await store.publicKey(url("b"), 0);
    await store.publicKey(url("a"), 0); // a is now the most recently used
    await store.publicKey(url("c"), 0); // evicts b
    await store.publicKey(url("a"), 0);
    expect(calls.get(url("a"))).toBe(1);
    await store.publicKey(url("b"), 0);
    expect(calls.get(url("b"))).toBe(2);
  });

  it("shares one fetch among concurrent requests for one URL, and refuses at once past maxInFlight distinct URLs", async () => {
    const releases: (() => void)[] = [];
    let calls = 0;
    let held = true;
    const fetch: FetchFunction = async (_url) => {
      calls++;
      if (held) await new Promise<void>((resolve) => releases.push(resolve));
      return new Response(signer.certificatePem);
    };
    const store = new CertificateStore({ fetch, maxInFlight: 2 });
    const a1 = store.publicKey(url("a"), 0);
    const a2 = store.publicKey(url("a"), 0);
    const b = store.publicKey(url("b"), 0);
    await expect(store.publicKey(url("c"), 0)).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(calls).toBe(2);
    held = false;
    for (const release of releases) release();
    expect(await a1).toBe(await a2);
    await b;
    await store.publicKey(url("c"), 0);
    expect(calls).toBe(3);
  });

  it("answers every way of not getting a usable RSA key with ProviderUnavailableError, and caches none of them", async () => {
    const ecCertificate = createTestSigner("ec").certificatePem;
    const cases: [string, CertificateAnswer][] = [
      ["status-500", { status: 500, body: "busy" }],
      ["status-404", { status: 404, body: "" }],
      ["not-a-certificate", { status: 200, body: "<html>maintenance</html>" }],
      // A real certificate after 17 KiB of text still parses as one: only the size limit refuses it.
      ["too-large", { status: 200, body: `${"A".repeat(17 * 1024)}\n${signer.certificatePem}` }],
      ["too-large-streamed", { status: 200, body: `${"A".repeat(17 * 1024)}\n${signer.certificatePem}`, headers: { "transfer-encoding": "chunked" } }],
      ["redirect", { status: 302, body: "", headers: { location: server.url("elsewhere.pem") } }],
      ["not-rsa", { status: 200, body: ecCertificate }],
      ["hang", "hang"],
    ];
    const store = new CertificateStore({ timeoutMs: 300 });
    for (const [name, answer] of cases) {
      const path = `/certs/${name}.pem`;
      server.answer = (requested) => (requested === path ? answer : { status: 200, body: signer.certificatePem });
      await expect(store.publicKey(server.url(`${name}.pem`), 0), name).rejects.toBeInstanceOf(ProviderUnavailableError);
    }
    server.answer = () => ({ status: 200, body: signer.certificatePem });
    for (const [name] of cases) {
      expect((await store.publicKey(server.url(`${name}.pem`), 0)).asymmetricKeyType, name).toBe("rsa");
      expect(server.hits.get(`/certs/${name}.pem`), name).toBe(2);
    }
    expect(server.hits.get("/certs/elsewhere.pem")).toBeUndefined();
  });

  it("answers a refused connection with ProviderUnavailableError", async () => {
    const closed = await startCertificateServer(signer.certificatePem);
    const dead = closed.url("a.pem");
    await closed.close();
    await expect(new CertificateStore().publicKey(dead, 0)).rejects.toBeInstanceOf(ProviderUnavailableError);
  });
});
