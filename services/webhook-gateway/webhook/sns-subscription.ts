/**
 * Confirms an Amazon SNS subscription to this endpoint: GET the SubscribeURL of a verified
 * SubscriptionConfirmation (the adapter already held it to the SNS host rule). Redirects are refused — a
 * redirect could lead anywhere the rule forbids — and the URL is never logged: its token subscribes the
 * endpoint. A failure is a ProviderUnavailableError (503), so SNS sends the confirmation again.
 */
import { ProviderUnavailableError } from "../providers/provider-adapter.ts";
import type { FetchFunction } from "../providers/sns-certificates.ts";

/** Under the 15 s SNS waits for an answer. */
const confirmTimeoutMs = 10_000;
/** SNS answers a ConfirmSubscriptionResponse of a few hundred bytes; more is not read. */
const maxResponseBytes = 64 * 1024;

export type SubscriptionConfirmer = (subscribeUrl: string) => Promise<void>;

export function snsSubscriptionConfirmer(fetchUrl: FetchFunction = (url, init) => fetch(url, init)): SubscriptionConfirmer {
  return async (subscribeUrl) => {
    const signal = AbortSignal.timeout(confirmTimeoutMs);
    let response: Response;
    try {
      response = await fetchUrl(subscribeUrl, { signal, redirect: "error" });
    } catch (error) {
      throw new ProviderUnavailableError("SNS subscription confirmation request failed", { cause: error });
    }
    const body = response.body?.getReader();
    let read = 0;
    try {
      while (body && read <= maxResponseBytes) {
        const chunk = await body.read();
        if (chunk.done) break;
        read += chunk.value.byteLength;
      }
    } catch {
      // The status is what counts; a body cut short changes nothing.
    } finally {
      await body?.cancel().catch(() => {});
    }
    if (!response.ok) throw new ProviderUnavailableError(`SNS answered the subscription confirmation with HTTP ${response.status}`);
  };
}
