/**
 * Reading a list RPC page after page until --limit entries, asking each page
 * for no more than is still wanted, so the last page's token continues exactly
 * after the last entry shown (`--page-token` takes it back).
 */

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** At most `limit` entries from `pageToken` on, and the token of what follows them ("" when nothing does). */
export async function readPages<T>(
  limit: number,
  pageToken: string,
  fetchPage: (pageSize: number, pageToken: string) => Promise<Page<T>>,
): Promise<Page<T>> {
  const items: T[] = [];
  let next = pageToken;
  do {
    const page = await fetchPage(Math.min(500, limit - items.length), next);
    items.push(...page.items.slice(0, limit - items.length));
    next = page.nextPageToken;
  } while (next && items.length < limit);
  return { items, nextPageToken: next };
}
