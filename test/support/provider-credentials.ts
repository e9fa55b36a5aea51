/** Test fixtures: valid webhook credentials of every provider, fresh on each call. */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { newWebhookSecret } from "../../cli/sign.ts";
import type { Provider } from "../../services/webhook-gateway/providers/provider-adapter.ts";

/** A fresh, valid credential of each provider, as an operator would paste it. */
export const credentialOf: Record<Provider, () => string> = {
  resend: newWebhookSecret,
  ses: () => `arn:aws:sns:eu-west-1:123456789012:ses-${randomBytes(4).toString("hex")}`,
  sendgrid: () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ format: "der", type: "spki" }).toString("base64"),
  postmark: () => `hooks:${randomBytes(12).toString("hex")}`,
  mailgun: () => randomBytes(16).toString("hex"),
};
