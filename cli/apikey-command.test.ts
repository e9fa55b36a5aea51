import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { uniqueName } from "../test/harness.ts";
import { startCliStack, type CliStack } from "./cli-test-kit.ts";

const fingerprint = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 8);

describe("ngsreach apikey set|remove", () => {
  let stack: CliStack;
  const storedOf = async (workspaceId: string) =>
    (await stack.client(WorkspaceSettingsService, "webhook-gateway").getWebhookHealth({ workspaceId })).apiKeys.map((key) => key.fingerprint);

  beforeAll(async () => {
    stack = await startCliStack(["webhook-gateway"]);
  });
  afterAll(async () => stack?.stop());

  it("--key - reads the key from standard input, prints only its fingerprint, and remove takes it away", async () => {
    const ws = uniqueName("ws");
    const apiKey = "re_cliTest_0123456789abcdef";
    const set = await stack.cli(["apikey", "set", "--workspace", ws, "--key", "-", "--note", "reconcile"], { input: `${apiKey}\n` });
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(set.stdout).toBe(`API key set for workspace ${ws} (resend): fingerprint ${fingerprint(apiKey)}\n`);
    expect(await storedOf(ws)).toEqual([fingerprint(apiKey)]);

    const removed = await stack.cli(["apikey", "remove", "--workspace", ws]);
    expect(removed).toMatchObject({ code: 0, stdout: `API key removed from workspace ${ws} (resend)\n` });
    expect(await storedOf(ws)).toEqual([]);
    expect((await stack.cli(["apikey", "remove", "--workspace", ws])).stdout).toBe(`workspace ${ws} had no resend API key\n`);
  });

  it("refuses the key on the command line, a missing key without a terminal, a malformed key and other providers", async () => {
    const ws = uniqueName("ws");
    const inline = await stack.cli(["apikey", "set", "--workspace", ws, "--key", "re_inline_0123456789"]);
    expect(inline).toMatchObject({ code: 2, stderr: expect.stringContaining('--key takes only "-"') });
    expect(inline.stderr).not.toContain("re_inline_0123456789");
    expect(await stack.cli(["apikey", "set", "--workspace", ws])).toMatchObject({ code: 2, stderr: expect.stringContaining("the API key is required: give --key -") });
    const malformed = await stack.cli(["apikey", "set", "--workspace", ws, "--key", "-"], { input: "sk_not_resend_key_123" });
    expect(malformed).toMatchObject({ code: 1, stderr: "ngsreach: api_key: a Resend API key starts with re_ [InvalidArgument]\n" });
    const sendgrid = await stack.cli(["apikey", "set", "--workspace", ws, "--provider", "sendgrid", "--key", "-"], { input: "re_0123456789abcdef" });
    expect(sendgrid).toMatchObject({ code: 1, stderr: expect.stringContaining("provider: only RESEND API keys can be stored for now") });
  });
});
