import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { uniqueName, waitFor } from "../test/harness.ts";
import { followCli, startCliStack, type CliStack } from "./cli-test-kit.ts";
import { newWebhookSecret } from "./sign.ts";

const fingerprint = (secret: string) => createHash("sha256").update(secret).digest("hex").slice(0, 8);

describe("ngsreach secret set|rotate without the secret on the command line", () => {
  let stack: CliStack;
  const currentOf = async (workspaceId: string) =>
    (await stack.client(WorkspaceSettingsService, "webhook-gateway").getWebhookHealth({ workspaceId })).secrets.map((secret) => secret.fingerprint);

  beforeAll(async () => {
    stack = await startCliStack(["webhook-gateway"]);
  });
  afterAll(async () => stack?.stop());

  it("--secret - reads it from standard input (a trailing newline is not part of it) for set and rotate", async () => {
    const ws = uniqueName("ws");
    const [first, second] = [newWebhookSecret(), newWebhookSecret()];
    const set = await stack.cli(["secret", "set", "--workspace", ws, "--secret", "-"], { input: `${first}\n` });
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(set.stdout).toContain(`current  fingerprint ${fingerprint(first)}`);
    expect(set.stdout).not.toContain(first.slice(6));
    const rotated = await stack.cli(["secret", "rotate", "--workspace", ws, "--secret", "-"], { input: second });
    expect(rotated.code).toBe(0);
    expect(await currentOf(ws)).toEqual([fingerprint(second), fingerprint(first)]);

    const postmark = "hooks:0123456789abcdefghij";
    const other = await stack.cli(["secret", "set", "--workspace", ws, "--provider", "postmark", "--secret", "-"], { input: `${postmark}\r\n` });
    expect(other.stdout).toMatch(/\(postmark\)\n\s+current\s+fingerprint [0-9a-f]{8}\s+postmark\n$/);
    const empty = await stack.cli(["secret", "set", "--workspace", ws, "--secret", "-"], { input: "\n" });
    expect(empty).toMatchObject({ code: 2, stderr: expect.stringContaining("standard input held no secret") });
  });

  it("without --secret and without a terminal, says how to give it instead of waiting", async () => {
    const result = await stack.cli(["secret", "set", "--workspace", uniqueName("ws")]);
    expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining("--secret is required: give --secret - to read it from standard input") });
  });

  it("without --secret on a terminal, asks for it without echoing what is typed", async () => {
    const ws = uniqueName("ws");
    const secret = newWebhookSecret();
    const prompt = followCli(["secret", "set", "--workspace", ws], stack.env(), { terminal: true });
    await waitFor(() => prompt.output().includes(`webhook secret for workspace ${ws} (resend): `), { what: "the prompt" });
    prompt.child.stdin!.write(`${secret.slice(0, 10)}x\u007f${secret.slice(10)}\r`); // a typo, erased with backspace
    expect(await prompt.exited).toBe(0);
    expect(prompt.output()).toContain(`webhook secret set for workspace ${ws} (resend)`);
    expect(prompt.output()).not.toContain(secret.slice(6, 16));
    expect(await currentOf(ws)).toEqual([fingerprint(secret)]);
  });
});
