/**
 * The JavaScript heap's ceiling for a deployed function or job, from the memory it is given.
 *
 * V8 sizes its heap from the memory it believes the machine has, which need not be the instance's limit. With a
 * ceiling far above what the instance holds, V8 has no reason to run a full collection, so garbage piles up in the old
 * generation until the instance is near its limit. Measured with the probe run (bench/probe.ts, 200 probes in flight,
 * a live heap of about 15 MB): with no ceiling, peak RSS was 138 MB for 2,000 targets and 209 MB for 10,000. With a
 * ceiling of 384 MB it was 140 and 147 MB.
 *
 * So every deployment sets NODE_OPTIONS=--max-old-space-size to three quarters of its memory. The rest is left for
 * the young generation, code, buffers and sockets. An operator's own ceiling (NODE_OPTIONS in the function's `env`)
 * wins.
 */

/** A deployment's memory (`512Mi`, `2Gi`, as infra/ declares it) in MiB. */
export function memoryMiB(memory: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(memory);
  if (!m) throw new Error(`not a memory size: ${JSON.stringify(memory)} (a size such as 512Mi or 1Gi)`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

/** The old generation's ceiling (MiB) for a deployment of this memory: three quarters of it. */
export function heapCeilingMiB(memory: string): number {
  return Math.max(1, Math.floor((memoryMiB(memory) * 3) / 4));
}

const SETS_CEILING = /(^|\s)--max[-_]old[-_]space[-_]size(=|\s|$)/;

/**
 * NODE_OPTIONS for a deployment: the ceiling for its memory, ahead of the operator's own options, or those alone when
 * they already set a ceiling.
 */
export function nodeOptions(memory: string, own: string | undefined): string {
  const trimmed = own?.trim() ?? '';
  if (SETS_CEILING.test(trimmed)) return trimmed;
  return [`--max-old-space-size=${heapCeilingMiB(memory)}`, trimmed].filter(Boolean).join(' ');
}
