/** Test support for the provider adapters (services/webhook-gateway/providers/). */
import { expect } from "vitest";
import { BadProviderBodyError, type ProviderAdapter } from "../../services/webhook-gateway/providers/provider-adapter.ts";

/** Each verified-but-malformed body is refused with BadProviderBodyError whose message names no address. */
export function expectRefusedNamingNoAddress(adapter: Pick<ProviderAdapter<unknown>, "contents">, bodies: Record<string, unknown>): void {
  for (const [what, body] of Object.entries(bodies)) {
    const raw = Buffer.from(JSON.stringify(body));
    expect(() => adapter.contents(raw), what).toThrow(BadProviderBodyError);
    try {
      adapter.contents(raw);
    } catch (error) {
      expect((error as Error).message, what).not.toContain("@");
    }
  }
}
