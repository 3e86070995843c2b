/**
 * The GoogleAuth the storage client makes (application default credentials; its scopes include cloud-platform), for
 * publishing to Pub/Sub over REST: the very copy of google-auth-library the storage client uses, already loaded in a
 * function by the time it publishes. Importing google-auth-library directly would bundle a second copy (the top-level
 * one is another major). A module of its own, imported lazily: a static import of `Storage` lets the bundler keep only
 * what the class needs (a dynamic import of the package would keep all of it, ~200 KiB more per function).
 */
import { Storage } from '@google-cloud/storage';

export function storageAuth(projectId: string | undefined): Storage['authClient'] {
  return new Storage(projectId ? { projectId } : {}).authClient;
}
