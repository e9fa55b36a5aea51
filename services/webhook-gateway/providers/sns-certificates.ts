/**
 * SNS signing certificates, fetched from the message's SigningCertURL (already checked against the host
 * rule) and kept by URL. AWS publishes a new certificate under a new URL, so a cached URL never changes
 * meaning; the bound and the lifetime only keep memory small and let a withdrawn certificate go.
 *
 * Every failure to get a usable key is a ProviderUnavailableError (answered 503): SNS retries only on 5xx
 * or a timeout, so a 401 for a certificate hiccup would lose the event for good.
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import { ProviderUnavailableError } from "./provider-adapter.ts";

/** The part of `fetch` the store uses; injected in tests, the global `fetch` otherwise. */
export type FetchFunction = (url: string, init: { signal: AbortSignal; redirect: "error" }) => Promise<Response>;

export interface CertificateStoreOptions {
  fetch?: FetchFunction;
  /** Distinct certificate URLs kept (least recently used goes first); default 32. */
  maxEntries?: number;
  /** How long a fetched certificate is trusted before it is fetched again; default 24 h. */
  ttlMs?: number;
  /** Per fetch, body included; default 5 s — SNS itself gives up on a request after 15 s. */
  timeoutMs?: number;
  /** Largest certificate accepted; default 16 KiB (SNS's are about 2 KiB). */
  maxBytes?: number;
  /** Distinct URLs being fetched at once; past it a request is answered 503 at once; default 4. */
  maxInFlight?: number;
}

interface Entry {
  key: KeyObject;
  fetchedAtMs: number;
}

export class CertificateStore {
  private readonly fetch: FetchFunction;
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxInFlight: number;
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<KeyObject>>();

  constructor(options: CertificateStoreOptions = {}) {
    this.fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.maxEntries = options.maxEntries ?? 32;
    this.ttlMs = options.ttlMs ?? 24 * 3600_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxBytes = options.maxBytes ?? 16 * 1024;
    this.maxInFlight = options.maxInFlight ?? 4;
  }

  /** The RSA public key of the certificate at `url`; concurrent callers for one URL share one fetch. */
  async publicKey(url: string, nowMs: number): Promise<KeyObject> {
    const entry = this.entries.get(url);
    if (entry && nowMs - entry.fetchedAtMs < this.ttlMs) {
      this.entries.delete(url);
      this.entries.set(url, entry);
      return entry.key;
    }
    const pending = this.inFlight.get(url);
    if (pending) return pending;
    // Only SNS hosts pass the URL rule, but a forger who knows an allowed topic could still name many
    // made-up .pem paths there; this bounds the outbound requests such a flood can cause.
    if (this.inFlight.size >= this.maxInFlight) throw new ProviderUnavailableError("too many SNS certificate fetches in flight");
    const load = this.load(url).then((key) => {
      this.entries.delete(url);
      this.entries.set(url, { key, fetchedAtMs: nowMs });
      while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      return key;
    });
    this.inFlight.set(url, load);
    try {
      return await load;
    } finally {
      this.inFlight.delete(url);
    }
  }

  private async load(url: string): Promise<KeyObject> {
    let pem: string;
    try {
      const response = await this.fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: "error" });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new ProviderUnavailableError(`SNS signing certificate fetch answered HTTP ${response.status}`);
      }
      pem = await readLimited(response, this.maxBytes);
    } catch (error) {
      if (error instanceof ProviderUnavailableError) throw error;
      throw new ProviderUnavailableError(`SNS signing certificate could not be fetched: ${(error as Error).message}`, { cause: error });
    }
    let key: KeyObject;
    try {
      key = new X509Certificate(pem).publicKey;
    } catch (error) {
      throw new ProviderUnavailableError("SNS signing certificate URL did not serve an X.509 certificate", { cause: error });
    }
    if (key.asymmetricKeyType !== "rsa") throw new ProviderUnavailableError("SNS signing certificate does not hold an RSA key");
    return key;
  }
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  if (Number(response.headers.get("content-length") ?? 0) > maxBytes) {
    await response.body?.cancel();
    throw new ProviderUnavailableError(`SNS signing certificate is larger than ${maxBytes} bytes`);
  }
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new ProviderUnavailableError(`SNS signing certificate is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
