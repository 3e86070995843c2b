/**
 * Google application default credentials, looked for before a Google client is made: a client that finds none fails
 * its call and also leaves a rejected promise behind (google-gax's stub), which would end the process with a stack
 * trace after the command's own one-line report. `infra plan/apply` and the Pub/Sub bus check here first.
 */
import { errorMessage } from './errors';

/** What to do about missing credentials, for the one-line report. */
export const CREDENTIALS_HINT =
  'run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS to a key file';

/**
 * Resolves when credentials are found (GOOGLE_APPLICATION_CREDENTIALS, gcloud's file, the metadata server); else
 * rejects with the reason in one line (the auth library's, without its link). The MetadataLookupWarning the library
 * emits off Google Cloud is dropped while this runs (see dropMetadataLookupWarnings).
 */
export async function findCredentials(
  project: string,
  /** The auth that will be used (a GoogleAuth: the storage client's for the bus, google-gax's for infra). */
  auth: { getClient(): Promise<unknown> },
): Promise<void> {
  const restore = dropMetadataLookupWarnings();
  try {
    await auth.getClient();
  } catch (err) {
    const why = errorMessage(err)
      .split('\n')[0]!
      .replace(/\s*Browse to https:\S+ for more information\.?/, '')
      .replace(/\.$/, '');
    throw new Error(why || 'none found');
  } finally {
    restore();
  }
}

/**
 * Drops the auth library's MetadataLookupWarning (its check for a metadata server, off Google Cloud, failing in a way
 * it did not expect), which Node would print on stderr with a hint about --trace-warnings: the command's own one line
 * says what failed. Every other warning goes through. Returns what puts the previous behaviour back. The CLI drops
 * them for its whole run (a `gs://` bucket with no credentials meets it too).
 */
export function dropMetadataLookupWarnings(): () => void {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'MetadataLookupWarning') return;
    return (emitWarning as (...a: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  return () => {
    process.emitWarning = emitWarning;
  };
}
