import type { AdvisoryStore, FeedStatus } from './store.js';

/** A feed older than this is stale: `db status` and scans warn. */
export const STALE_AFTER_MS = 24 * 3600_000;

export interface FeedReport extends FeedStatus {
  /** Seconds since the feed was last imported or checked (304). */
  ageSeconds: number;
  stale: boolean;
}

export interface StoreStatusReport {
  path: string;
  schemaVersion: number;
  built: string;
  sources: FeedReport[];
  warnings: Array<{ code: 'STALE_FEED' | 'EMPTY_STORE'; message: string; feed?: string }>;
}

/** `rampart db status`: each feed with its record count and age, and a warning per stale feed. */
export function storeStatusReport(store: AdvisoryStore, now: Date): StoreStatusReport {
  const status = store.status();
  const warnings: StoreStatusReport['warnings'] = [];
  const sources = status.sources.map((feed): FeedReport => {
    const ageMs = now.getTime() - Date.parse(feed.updated);
    const stale = !(ageMs <= STALE_AFTER_MS);
    if (stale) {
      warnings.push({
        code: 'STALE_FEED',
        feed: feed.name,
        message: `${feed.name} was last updated ${feed.updated}, more than 24 h ago; run \`rampart db update\``,
      });
    }
    return { ...feed, ageSeconds: Math.max(0, Math.round(ageMs / 1000)), stale };
  });
  if (sources.length === 0) {
    warnings.push({
      code: 'EMPTY_STORE',
      message: `the advisory store ${status.path} holds no feed; run \`rampart db update\` or \`rampart db import\``,
    });
  }
  return { ...status, sources, warnings };
}
