/** The operator file's `storage` section: how long a storage request may make no progress before it fails. */
import { z } from 'zod';
import type { OpenStoreOptions } from './open';

export const StorageSectionSchema = z
  .object({
    /**
     * A storage request (upload or download, GCS) that moves no bytes and gets no answer for this long fails (default 60):
     * a stalled server never holds a backup, its lease, a verify or a restore forever.
     */
    progressTimeoutSeconds: z.number().int().min(1).max(3600).default(60),
  })
  .strict();
export type StorageSection = z.infer<typeof StorageSectionSchema>;

/** What openStore takes from the section. */
export function storeOptions(section: StorageSection): OpenStoreOptions {
  return { progressTimeoutSeconds: section.progressTimeoutSeconds };
}
