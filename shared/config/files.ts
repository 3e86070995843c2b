/** Files the operator file names, checked where they are used: at load, and again by what uses them later. */
import { statSync } from 'node:fs';

/**
 * What is wrong with a CA file's path, or undefined when it names a file: checked at load (loadConfig) and again by each probe
 * run (resolveProbe), for one removed since. A folder is named as such: "no such file" would send the operator looking
 * for a path that is there.
 */
export function caFileProblem(path: string): 'a folder, not a file' | 'no such file' | undefined {
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    st = undefined; // a path through a file (ENOTDIR), a loop: no file there either
  }
  return st?.isFile() ? undefined : st?.isDirectory() ? 'a folder, not a file' : 'no such file';
}
