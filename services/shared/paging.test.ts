import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { decodePageToken, encodePageToken, usePageTokenKey } from "./paging.ts";

const scope = "ws1|campaign=c1";
/** What anyone can compute without the key: the cursor and an unkeyed SHA-256 over scope and payload. */
function forged(cursor: unknown): string {
  const payload = Buffer.from(JSON.stringify(cursor)).toString("base64url");
  return `${payload}.${createHash("sha256").update(scope).update("\0").update(payload).digest("base64url").slice(0, 22)}`;
}

describe("page tokens", () => {
  afterEach(() => usePageTokenKey("ngsreach development page-token key: set PAGE_TOKEN_KEY"));

  it("gives back the cursor of a token the server made for the same scope", () => {
    usePageTokenKey("k".repeat(32));
    const token = encodePageToken(scope, { after: "e42" });
    expect(decodePageToken(token, scope)).toEqual({ after: "e42" });
    expect(decodePageToken("", scope)).toBeUndefined();
  });

  it("refuses a token forged without the key, edited, made under another key, or used with other filters", () => {
    usePageTokenKey("k".repeat(32));
    const token = encodePageToken(scope, { after: "e42" });
    const refused = /page_token: invalid or tampered page token/;
    expect(() => decodePageToken(forged({ after: { $gt: "" } }), scope)).toThrow(refused);
    const [, sum] = token.split(".");
    expect(() => decodePageToken(`${Buffer.from('{"after":"e43"}').toString("base64url")}.${sum}`, scope)).toThrow(refused);
    expect(() => decodePageToken(token, "ws2|campaign=c1")).toThrow(refused);
    expect(() => decodePageToken(`${token}.x`, scope)).toThrow(refused);
    // Every one-character edit of the MAC, also of the last character, whose low bits base64 leaves unused.
    const mac = sum!;
    for (let i = 0; i < mac.length; i++) {
      const edited = mac.slice(0, i) + (mac[i] === "A" ? "B" : "A") + mac.slice(i + 1);
      expect(() => decodePageToken(`${token.split(".")[0]}.${edited}`, scope), `edit at ${i}`).toThrow(refused);
    }
    expect(() => decodePageToken("not-a-token", scope)).toThrow(refused);
    usePageTokenKey("another key, as a server with other settings has it");
    expect(() => decodePageToken(token, scope)).toThrow(refused);
  });
});
