/**
 * `ngsreach apikey set|remove`: the provider API key reconciliation uses (issue 16), through
 * WorkspaceSettingsService. The key is read from standard input (`--key -`) or asked for on the
 * terminal without echo, never taken from the command line itself (shell history, the process list);
 * only its fingerprint is printed.
 */
import { requireFlag, type CommandLine } from "./command-line.ts";
import { apiProvider, parseProvider } from "./names.ts";
import { settingsClient } from "./secret-command.ts";
import { readSecret } from "./secret-input.ts";
import { UsageError } from "./usage-error.ts";

const howToGiveIt = "give --key - to read the API key from standard input, or run on a terminal to be asked for it";

async function readApiKey(line: CommandLine, question: string): Promise<string> {
  const flag = line.flags.key;
  if (flag !== undefined && flag !== "-") throw new UsageError(`--key takes only "-" (the key on the command line would stay in shell history): ${howToGiveIt}`);
  if (flag === undefined && !process.stdin.isTTY) throw new UsageError(`the API key is required: ${howToGiveIt}`);
  // No environment fallback: NGSREACH_WEBHOOK_SECRET is a webhook secret, never an API key.
  return await readSecret({ flag, question, env: {} });
}

export async function apikeyCommand(line: CommandLine): Promise<void> {
  const action = line.positionals[1];
  const workspaceId = requireFlag(line, "workspace");
  const provider = parseProvider(line.flags.provider);
  const fields = { workspaceId, actor: line.actor, note: line.flags.note!, provider: apiProvider(provider) };
  if (action === "set") {
    const apiKey = await readApiKey(line, `${provider} API key for workspace ${workspaceId}: `);
    const { apiKey: stored } = await settingsClient(line).setProviderApiKey({ ...fields, apiKey });
    console.log(`API key set for workspace ${workspaceId} (${provider}): fingerprint ${stored?.fingerprint ?? "?"}`);
  } else if (action === "remove") {
    const { removed } = await settingsClient(line).removeProviderApiKey(fields);
    console.log(removed ? `API key removed from workspace ${workspaceId} (${provider})` : `workspace ${workspaceId} had no ${provider} API key`);
  } else {
    throw new UsageError(`unknown apikey action "${action ?? ""}" (set or remove)`);
  }
}
