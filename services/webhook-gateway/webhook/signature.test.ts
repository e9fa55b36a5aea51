import { randomBytes } from "node:crypto";
import { Webhook } from "svix";
import { describe, expect, it } from "vitest";
import { signWebhook } from "../../../cli/sign.ts";
import { SigningKey, verifyWebhook } from "./signature.ts";

// Published Standard Webhooks test vector.
const vector = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

const svixAccepts = (secret: string, headers: Record<string, string>, body: string) => {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
};

describe("webhook signature verification", () => {
  it("reproduces the published Standard Webhooks vector with the independent signer and the verifier's key", () => {
    expect(signWebhook(vector.secret, vector.id, vector.timestamp, vector.body)).toBe(vector.signature);
    expect(`v1,${new SigningKey(vector.secret).sign(vector.id, vector.timestamp, Buffer.from(vector.body))}`).toBe(vector.signature);
    const headers = { "webhook-id": vector.id, "webhook-timestamp": String(vector.timestamp), "webhook-signature": vector.signature };
    expect(verifyWebhook(headers, Buffer.from(vector.body), [new SigningKey(vector.secret)], vector.timestamp)).toEqual({
      ok: true,
      id: vector.id,
      timestamp: vector.timestamp,
    });
  });

  it("rejects the vector once it is more than five minutes old or early, and with a changed byte", () => {
    const headers = { "svix-id": vector.id, "svix-timestamp": String(vector.timestamp), "svix-signature": vector.signature };
    const keys = [new SigningKey(vector.secret)];
    expect(verifyWebhook(headers, Buffer.from(vector.body), keys, vector.timestamp + 301)).toEqual({ ok: false, reason: "expired_timestamp" });
    expect(verifyWebhook(headers, Buffer.from(vector.body), keys, vector.timestamp - 301)).toEqual({ ok: false, reason: "expired_timestamp" });
    expect(verifyWebhook(headers, Buffer.from(vector.body), keys, vector.timestamp + 300).ok).toBe(true);
    expect(verifyWebhook(headers, Buffer.from(vector.body.replace("4", "5")), keys, vector.timestamp)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("agrees with the svix package on thousands of random cases", () => {
    const secrets = Array.from({ length: 4 }, () => `whsec_${randomBytes(24).toString("base64")}`);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      // svix reads the clock itself: stay 2 s clear of the ±300 s edges (tested exactly above).
      const now = Math.floor(Date.now() / 1000);
      const secret = secrets[i % secrets.length]!;
      const other = secrets[(i + 1) % secrets.length]!;
      const body = JSON.stringify({ type: "email.delivered", n: i, pad: randomBytes(i % 200).toString("base64"), u: "é✓" });
      const id = i % 17 === 0 ? "" : `msg_${randomBytes(8).toString("hex")}`;
      const timestamp = now + [-400, -302, -298, 0, 120, 298, 302, 900][i % 8]!;
      const good = signWebhook(secret, id, timestamp, body);
      const bad = signWebhook(other, id, timestamp, body);
      const signature = [good, bad, `${bad} ${good}`, `v2,${good.slice(3)}`, "", `v1,${good.slice(3, -2)}==`, `${good} v1,x`][i % 7]!;
      const prefix = i % 3 === 0 ? "webhook" : "svix";
      const headers: Record<string, string> = {
        [`${prefix}-id`]: id,
        [`${prefix}-timestamp`]: i % 29 === 0 ? "not-a-number" : String(timestamp),
        [`${prefix}-signature`]: signature,
      };
      const ours = verifyWebhook(headers, Buffer.from(body), [new SigningKey(secret)], now).ok;
      expect(ours, `case ${i}: ${JSON.stringify(headers)}`).toBe(svixAccepts(secret, headers, body));
      if (ours) accepted++;
    }
    expect(accepted).toBeGreaterThan(300);
  });

  it("accepts a message signed by either of two active secrets (rotation)", () => {
    const [oldSecret, newSecret] = [`whsec_${randomBytes(24).toString("base64")}`, `whsec_${randomBytes(24).toString("base64")}`];
    const keys = [new SigningKey(newSecret), new SigningKey(oldSecret)];
    const now = Math.floor(Date.now() / 1000);
    for (const secret of [oldSecret, newSecret]) {
      const headers = { "svix-id": "msg_1", "svix-timestamp": String(now), "svix-signature": signWebhook(secret, "msg_1", now, "{}") };
      expect(verifyWebhook(headers, Buffer.from("{}"), keys, now).ok).toBe(true);
    }
  });
});
