import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { AuditEntrySchema } from "../../../gen/ngsreach/events/v1/audit_pb.ts";
import { WorkspaceSettingsService } from "../../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { loadBaseConfig, parseInternalTokens } from "../config.ts";
import { callerOf, internalTokenAuth, matchBearer } from "./auth.ts";
import { startRpcServer, type RpcServer } from "./server.ts";

const billing = "billing-token-0123456789";
const crm = "crm-token-abcdefghijklmn";

/** The message a bad value fails with (undefined when it parses). */
const refusal = (value: string) => {
  try {
    parseInternalTokens(value);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
};

describe("INTERNAL_TOKEN", () => {
  it("takes one token (named internal, as before) or one named token per calling service", () => {
    expect(parseInternalTokens(undefined)).toEqual([]);
    expect(parseInternalTokens("single-token-0123456789")).toEqual([{ name: "internal", token: "single-token-0123456789" }]);
    expect(parseInternalTokens(` billing:${billing} , crm:${crm}`)).toEqual([
      { name: "billing", token: billing },
      { name: "crm", token: crm },
    ]);
    expect(loadBaseConfig({ INTERNAL_TOKEN: `billing:${billing},crm:${crm}` }).internalToken).toBe(`billing:${billing},crm:${crm}`);
  });

  it("stops start-up on a bad name, a short, spaced or repeated token, naming the variable but never a token", () => {
    const cases: [string, RegExp][] = [
      [`Billing:${billing}`, /^INTERNAL_TOKEN: entry 1 must be name:token/],
      [`billing:${billing},${crm}`, /^INTERNAL_TOKEN: entry 2 must be name:token/],
      [`billing:${billing},crm:short`, /^INTERNAL_TOKEN: the token named "crm" must be at least 16 characters$/],
      [`billing:${billing},crm:${crm} more`, /^INTERNAL_TOKEN: the token named "crm" must be printable ASCII without spaces$/],
      [`billing:${billing},billing:${crm}`, /^INTERNAL_TOKEN: the name "billing" appears twice$/],
      [`billing:${billing},crm:${billing}`, /^INTERNAL_TOKEN: the tokens named "billing" and "crm" are the same$/],
      [`local:${billing}`, /^INTERNAL_TOKEN: the name "local" is reserved/],
      ["short", /^INTERNAL_TOKEN: must be at least 16 characters$/],
    ];
    for (const [value, expected] of cases) {
      const message = refusal(value);
      expect(message, value).toMatch(expected);
      expect(message).not.toContain(billing);
      expect(message).not.toContain(crm);
      expect(() => loadBaseConfig({ INTERNAL_TOKEN: value })).toThrow(expected);
    }
  });

  it("matches a bearer header against every token and names the one that matched", () => {
    const tokens = parseInternalTokens(`billing:${billing},crm:${crm}`);
    expect(matchBearer(`Bearer ${crm}`, tokens)).toBe("crm");
    expect(matchBearer(`Bearer ${billing}`, tokens)).toBe("billing");
    for (const header of [null, "", crm, `Basic ${crm}`, `Bearer ${crm}x`, `Bearer ${crm.slice(0, -1)}`, "Bearer "]) {
      expect(matchBearer(header, tokens), String(header)).toBeUndefined();
    }
  });
});

describe("the internal token interceptor", () => {
  const servers: RpcServer[] = [];
  afterAll(async () => Promise.all(servers.map((server) => server.close())));

  /** A server whose ListAuditEntries answers with the caller its handler was given. */
  async function serverWith(internalToken: string | undefined) {
    const server = await startRpcServer({
      host: "127.0.0.1",
      port: 0,
      interceptors: [internalTokenAuth(internalToken)],
      routes: (router) =>
        router.service(WorkspaceSettingsService, {
          listAuditEntries: (_, context) => ({ entries: [create(AuditEntrySchema, { caller: callerOf(context) })] }),
        }),
      fallback: (_, res) => void res.end(),
    });
    servers.push(server);
    return (authorization?: string) =>
      createClient(
        WorkspaceSettingsService,
        createGrpcTransport({
          baseUrl: `http://127.0.0.1:${server.port}`,
          interceptors: authorization ? [(next) => (req) => (req.header.set("authorization", authorization), next(req))] : [],
        }),
      )
        .listAuditEntries({ workspaceId: "ws" })
        .then((response) => response.entries[0]?.caller, (error: unknown) => Code[ConnectError.from(error).code]);
  }

  it("hands the handler the name of the token the caller presented", async () => {
    const call = await serverWith(`billing:${billing},crm:${crm}`);
    expect(await call(`Bearer ${billing}`)).toBe("billing");
    expect(await call(`Bearer ${crm}`)).toBe("crm");
    expect(await call()).toBe("Unauthenticated");
    expect(await call(`Bearer ${crm}x`)).toBe("Unauthenticated");
  });

  it("refuses a token once it is no longer listed, while the others keep working", async () => {
    const call = await serverWith(`billing:${billing}`); // crm's token revoked
    expect(await call(`Bearer ${crm}`)).toBe("Unauthenticated");
    expect(await call(`Bearer ${billing}`)).toBe("billing");
  });

  it('names a single unnamed token "internal", and every caller "local" when auth is off', async () => {
    expect(await (await serverWith(crm))(`Bearer ${crm}`)).toBe("internal");
    expect(await (await serverWith(undefined))()).toBe("local");
  });
});
