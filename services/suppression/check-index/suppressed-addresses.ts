/**
 * The in-memory half of the suppression check index: every suppressed document's key with what
 * CheckSuppressions answers for it (reason and time), and the keys whose answer must come from the
 * database (addresses being erased since start). Pure data; check-index.ts keeps it current.
 *
 * One entry is a string key (`<address>` or an erased address's pseudonym) and a number packing the
 * reason and the time (`atMs * 8 + reason`), in one Map per workspace: about 100 bytes per suppression
 * on V8 (measured in bench/suppression/check.ts; the README gives the figure for 1,000,000).
 */
import { isPseudonym } from "../erasure/address-hash.ts";
import type { Reason, SuppressionRecord } from "../subscriber-state.ts";

/** What a check answers for a suppressed address. */
export type CheckedSuppression = Pick<SuppressionRecord, "reason" | "atMs">;

const reasons: readonly Reason[] = ["bounced", "complained", "suppressed_by_resend", "soft_bounce_policy", "manual", "unsubscribed", "erased"];
const reasonIndex = new Map(reasons.map((reason, i) => [reason, i]));

const pack = ({ reason, atMs }: CheckedSuppression): number => atMs * 8 + (reasonIndex.get(reason) ?? 0);
const unpack = (packed: number): CheckedSuppression => ({ reason: reasons[packed % 8] ?? "manual", atMs: Math.floor(packed / 8) });

interface Workspace {
  /** Suppressed documents by address or pseudonym. */
  readonly suppressed: Map<string, number>;
  /** How many of them are pseudonyms: when none, a check computes no pseudonyms. */
  pseudonyms: number;
  /** Addresses an erasure was requested for since start: answered from the database. */
  readonly erasing: Set<string>;
  /** A change the index could not place was seen: every address is answered from the database. */
  databaseOnly: boolean;
}

/** What the index knows of some addresses of one workspace. */
export interface IndexAnswer {
  readonly found: Map<string, CheckedSuppression>;
  /** Addresses the index cannot answer for: read them from the database. */
  readonly fromDatabase: string[];
}

export class SuppressedAddresses {
  readonly #workspaces = new Map<string, Workspace>();
  #size = 0;

  /** How many suppressed documents are held. */
  get size(): number {
    return this.#size;
  }

  #workspace(workspaceId: string): Workspace {
    let workspace = this.#workspaces.get(workspaceId);
    if (!workspace) {
      workspace = { suppressed: new Map(), pseudonyms: 0, erasing: new Set(), databaseOnly: false };
      this.#workspaces.set(workspaceId, workspace);
    }
    return workspace;
  }

  /** Records the current state of one document: suppressed as given, or not (null). */
  set(workspaceId: string, key: string, suppression: CheckedSuppression | null): void {
    const workspace = this.#workspace(workspaceId);
    const had = workspace.suppressed.has(key);
    if (suppression) workspace.suppressed.set(key, pack(suppression));
    else workspace.suppressed.delete(key);
    const delta = (suppression ? 1 : 0) - (had ? 1 : 0);
    this.#size += delta;
    if (isPseudonym(key)) workspace.pseudonyms += delta;
  }

  /** An erasure of these addresses was requested: forget what is held of them and ask the database from now on. */
  erasing(workspaceId: string, addresses: readonly string[]): void {
    const workspace = this.#workspace(workspaceId);
    for (const address of addresses) {
      this.set(workspaceId, address, null);
      workspace.erasing.add(address);
    }
  }

  /** A change of the workspace the index cannot place: it answers nothing of it until restarted. */
  databaseOnly(workspaceId: string): void {
    this.#workspace(workspaceId).databaseOnly = true;
  }

  /**
   * The suppressions of `addresses` (normalised, distinct). `pseudonymsOf` gives the keys an address
   * may have been erased under; it is only called for addresses not suppressed under their own key, and
   * only when the workspace holds an erased address at all.
   */
  answer(workspaceId: string, addresses: readonly string[], pseudonymsOf?: (address: string) => string[]): IndexAnswer {
    const found = new Map<string, CheckedSuppression>();
    const fromDatabase: string[] = [];
    const workspace = this.#workspaces.get(workspaceId);
    if (!workspace) return { found, fromDatabase };
    if (workspace.databaseOnly) return { found, fromDatabase: [...addresses] };
    for (const address of addresses) {
      if (workspace.erasing.has(address)) {
        fromDatabase.push(address);
        continue;
      }
      let packed = workspace.suppressed.get(address);
      if (packed === undefined && workspace.pseudonyms > 0 && pseudonymsOf) {
        for (const pseudonym of pseudonymsOf(address)) {
          packed = workspace.suppressed.get(pseudonym);
          if (packed !== undefined) break;
        }
      }
      if (packed !== undefined) found.set(address, unpack(packed));
    }
    return { found, fromDatabase };
  }
}
