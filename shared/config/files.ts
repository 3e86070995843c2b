/** Files the operator file names, checked where they are used: at load, and again by what uses them later. */
import { closeSync, openSync, statSync } from 'node:fs';

/**
 * What is wrong with a CA file's path, or undefined when it names a file this process can read: checked at load
 * (loadConfig) and again by each probe run (resolveProbe), for one removed since. A folder is named as such: "no such
 * file" would send the operator looking for a path that is there. One there that cannot be read (its mode, a user the
 * function runs as) is said so at load too, not left to fail at every probe.
 */
export function caFileProblem(path: string): string | undefined {
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    st = undefined; // a path through a file (ENOTDIR), a loop: no file there either
  }
  if (!st?.isFile()) return st?.isDirectory() ? 'a folder, not a file' : 'no such file';
  try {
    // opened as the probe opens it (a regular file: opening it does not block), closed at once
    closeSync(openSync(path, 'r'));
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `cannot be read (${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? 'unknown error')})`;
  }
}
