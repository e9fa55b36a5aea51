import { describe, expect, it } from "vitest";
import { domainOf, mailboxProviderOf, parseOverrides } from "./mailbox-provider.ts";

describe("the mailbox provider of a recipient", () => {
  it.each([
    ["ann@gmail.com", "gmail"],
    ["Ann@GoogleMail.com ", "gmail"],
    ["bob@outlook.com", "microsoft"],
    ["bob@outlook.de", "microsoft"],
    ["bob@hotmail.co.uk", "microsoft"],
    ["bob@live.com.mx", "microsoft"],
    ["bob@msn.com", "microsoft"],
    ["cy@yahoo.fr", "yahoo"],
    ["cy@yahoo.co.jp", "yahoo"],
    ["cy@ymail.com", "yahoo"],
    ["cy@rocketmail.com", "yahoo"],
    ["cy@aol.com", "yahoo"],
    ["di@icloud.com", "apple"],
    ["di@me.com", "apple"],
    ["di@mac.com", "apple"],
    ["ed@example.com", "other"],
    ["ed@live.example.com", "other"], // live.* is live under a top-level suffix, not any name starting with live
    ["ed@mail.gmail.com", "other"], // a subdomain is not the consumer domain
    ["ed@msn.co.uk", "other"], // msn.com only
    ["not an address", "other"],
    ["", "other"],
  ])("%s is %s", (recipient, provider) => {
    expect(mailboxProviderOf(recipient)).toBe(provider);
  });

  it("takes a workspace's override for the domain or a parent domain before the table", () => {
    const overrides = parseOverrides([
      { domain: "acme.com", provider: "gmail" },
      { domain: "Contoso.example.", provider: "microsoft" },
      { domain: "outlook.com", provider: "other" },
    ]);
    expect(mailboxProviderOf("ann@acme.com", overrides)).toBe("gmail");
    expect(mailboxProviderOf("ann@eu.acme.com", overrides)).toBe("gmail");
    expect(mailboxProviderOf("ann@notacme.com", overrides)).toBe("other");
    expect(mailboxProviderOf("bob@contoso.example", overrides)).toBe("microsoft");
    expect(mailboxProviderOf("bob@outlook.com", overrides)).toBe("other");
    expect(mailboxProviderOf("bob@hotmail.com", overrides)).toBe("microsoft");
  });

  it("refuses override lists with a clear message naming the bad entry", () => {
    expect(() => parseOverrides([{ domain: "ann@acme.com", provider: "gmail" }])).toThrow(/override 0: .* is not a domain name/);
    expect(() => parseOverrides([{ domain: "acme", provider: "gmail" }])).toThrow(/not a domain name/);
    expect(() => parseOverrides([{ domain: "acme.com", provider: "hotmail" }])).toThrow(/provider must be one of gmail, microsoft, yahoo, apple, other/);
    expect(() => parseOverrides([{ domain: "acme.com", provider: "gmail" }, { domain: "ACME.com", provider: "apple" }])).toThrow(/acme.com is listed twice/);
    expect(() => parseOverrides(Array.from({ length: 1001 }, (_, i) => ({ domain: `d${i}.com`, provider: "gmail" })))).toThrow(/at most 1000/);
  });

  it("normalises domains: trimmed, lower-cased, without the trailing dot", () => {
    expect(domainOf(" Ann@Example.COM. ")).toBe("example.com");
    expect(domainOf("example.com")).toBe("example.com");
  });
});
