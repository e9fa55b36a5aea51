import { toJson } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SubscriberChangeKind, SuppressionService, CheckSuppressionsResponseSchema } from "../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { uniqueName } from "../test/harness.ts";
import { startCliStack, type CliStack } from "./cli-test-kit.ts";

describe("ngsreach suppressions", () => {
  let stack: CliStack;
  const ws = uniqueName("ws");
  const suppression = () => stack.client(SuppressionService, "suppression");
  const rowsOf = (stdout: string) => stdout.trim().split("\n").slice(1).map((row) => row.split(/\s{2,}/));

  beforeAll(async () => {
    stack = await startCliStack(["suppression"]);
  });
  afterAll(async () => stack?.stop());

  it("add suppresses an address with the reason, actor and note, and says when it already was", async () => {
    const added = await stack.cli(["suppressions", "add", " Ann@Example.COM ", "--workspace", ws, "--note", "asked by phone", "--actor", "ops-ann"]);
    expect(added).toMatchObject({ code: 0, stderr: "" });
    expect(added.stdout).toMatch(new RegExp(`^suppressed Ann@example\\.com in workspace ${ws}: manual since \\S+Z \\(by ops-ann\\)\\n$`));
    const again = await stack.cli(["suppressions", "add", "Ann@EXAMPLE.com", "--workspace", ws, "--reason", "complained", "--note", "again"]);
    expect(again.stdout).toMatch(/^Ann@example\.com was already suppressed in workspace \S+ \(manual since \S+Z \(by ops-ann\)\); nothing changed\n$/);
    const complained = await stack.cli(["suppressions", "add", "bob@example.com", "--workspace", ws, "--reason", "complained", "--note", "FBL report", "--subscriber", "sub-bob", "--actor", "ops-bob"]);
    expect(complained.stdout).toMatch(/^suppressed bob@example\.com in workspace \S+: complained since /);

    const { subscriber } = await suppression().getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "Ann@example.com" } });
    expect(subscriber?.history.map((entry) => [entry.kind, entry.actor, entry.note])).toEqual([[SubscriberChangeKind.SUPPRESSED, "ops-ann", "asked by phone"]]);
  });

  it("check prints one row per address given, in order, and --json is CheckSuppressions' JSON", async () => {
    const result = await stack.cli(["suppressions", "check", "--workspace", ws, "Ann@EXAMPLE.com", "carol@example.com", "bob@example.com"]);
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")[0]).toMatch(/^ADDRESS\s+STATE\s+REASON\s+SINCE$/);
    expect(rowsOf(result.stdout).map((row) => row.slice(0, 3))).toEqual([
      ["Ann@example.com", "suppressed", "manual"],
      ["carol@example.com", "ok to send", "-"],
      ["bob@example.com", "suppressed", "complained"],
    ]);
    const json = await stack.cli(["suppressions", "check", "--workspace", ws, "carol@example.com", "bob@example.com", "--json"]);
    const answer = await suppression().checkSuppressions({ workspaceId: ws, emails: ["carol@example.com", "bob@example.com"] });
    expect(JSON.parse(json.stdout)).toEqual(toJson(CheckSuppressionsResponseSchema, answer));
    const invalid = await stack.cli(["suppressions", "check", "--workspace", ws, "not-an-address"]);
    expect(invalid).toMatchObject({ code: 1, stderr: expect.stringContaining("emails[0]: not an email address [InvalidArgument]") });
  });

  it("list shows the suppressed addresses, filtered by --reason, paged with --limit", async () => {
    const all = await stack.cli(["suppressions", "list", "--workspace", ws]);
    expect(all.stdout.split("\n")[0]).toMatch(/^ADDRESS\s+REASON\s+SOURCE\s+SINCE\s+SUBSCRIBER\s+CAMPAIGN\s+DETAIL$/);
    const rows = rowsOf(all.stdout).slice(0, -1);
    expect(rows.map((row) => [row[0], row[1], row[2], row[4], row[6]])).toEqual([
      ["Ann@example.com", "manual", "manual", "-", 'by ops-ann "asked by phone"'],
      ["bob@example.com", "complained", "manual", "sub-bob", 'by ops-bob "FBL report"'],
    ]);
    expect(all.stdout).toMatch(/\n2 suppressed address\(es\)\n$/);
    const complained = await stack.cli(["suppressions", "list", "--workspace", ws, "--reason", "complained"]);
    expect(rowsOf(complained.stdout).slice(0, -1).map((row) => row[0])).toEqual(["bob@example.com"]);
    const paged = await stack.cli(["suppressions", "list", "--workspace", ws, "--limit", "1", "--json"]);
    const page = JSON.parse(paged.stdout);
    expect(page.suppressions.map((s: { email: string }) => s.email)).toEqual(["Ann@example.com"]);
    const next = await stack.cli(["suppressions", "list", "--workspace", ws, "--page-token", page.nextPageToken]);
    expect(next.stdout).toMatch(/\nbob@example\.com\s+complained\s/);
    expect((await stack.cli(["suppressions", "list", "--workspace", uniqueName("ws")])).stdout).toMatch(/^no suppressed addresses in workspace /);
    const typo = await stack.cli(["suppressions", "list", "--workspace", ws, "--reason", "spam"]);
    expect(typo).toMatchObject({ code: 2, stderr: expect.stringContaining("--reason must be one of bounced, complained, suppressed_by_resend, soft_bounce_policy, manual, unsubscribed") });
  });

  it("remove lifts a suppression with a note, and says when there was none", async () => {
    const removed = await stack.cli(["suppressions", "remove", "Ann@example.com", "--workspace", ws, "--note", "re-confirmed opt-in", "--actor", "ops-ann"]);
    expect(removed.stdout).toMatch(/^removed the suppression of Ann@example\.com in workspace \S+ \(was: manual since \S+Z \(by ops-ann\)\)\n$/);
    const again = await stack.cli(["suppressions", "remove", "Ann@example.com", "--workspace", ws, "--note", "again", "--json"]);
    expect(JSON.parse(again.stdout)).toEqual({});
    const { subscriber } = await suppression().getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "Ann@example.com" } });
    expect(subscriber?.history.at(-1)).toMatchObject({ kind: SubscriberChangeKind.UNSUPPRESSED, actor: "ops-ann", note: "re-confirmed opt-in" });
    expect((await stack.cli(["suppressions", "remove", "dave@example.com", "--workspace", ws, "--note", "n/a"])).stdout).toContain("dave@example.com was not suppressed");
  });

  it("refuses changes without a note, a reason add does not take, or one address", async () => {
    const noNote = await stack.cli(["suppressions", "add", "eve@example.com", "--workspace", ws]);
    expect(noNote).toMatchObject({ code: 2, stderr: expect.stringContaining("suppressions add needs --note WHY") });
    const policy = await stack.cli(["suppressions", "add", "eve@example.com", "--workspace", ws, "--note", "x", "--reason", "soft_bounce_policy"]);
    expect(policy).toMatchObject({ code: 2, stderr: expect.stringContaining("--reason must be one of bounced, complained, manual") });
    const two = await stack.cli(["suppressions", "remove", "a@example.com", "b@example.com", "--workspace", ws, "--note", "x"]);
    expect(two).toMatchObject({ code: 2, stderr: expect.stringContaining("suppressions remove takes one address") });
    expect((await stack.cli(["suppressions", "purge", "--workspace", ws])).code).toBe(2);
    const { results } = await suppression().checkSuppressions({ workspaceId: ws, emails: ["eve@example.com"] });
    expect(results[0]?.suppressed).toBe(false);
  });
});
