/** What a restore does to each materialized view (pure). */
import type { Manifest } from '../backup/manifest';
import type { TargetSchema } from './target-schema';

/**
 * What a restore does to each materialized view (pure). A view is not data: it is recomputed from the restored
 * tables. By default a view populated in the source is refreshed and one that was not is left unpopulated (WITH NO
 * DATA), so the target's views end as the source's were; `refresh` true refreshes every view, false touches none.
 */
export interface MaterializedViewStep {
  key: string;
  schema: string;
  name: string;
  action: 'refresh' | 'no-data' | 'keep';
  /** In words, for the plan. */
  why: string;
}

export function planMaterializedViews(
  recorded: Manifest['materializedViews'],
  target: Pick<TargetSchema, 'materializedViews'>,
  options: { refresh?: boolean; subset: boolean },
): { steps: MaterializedViewStep[]; notes: string[] } {
  const notes: string[] = [];
  const byKey = new Map((recorded ?? []).map((v) => [`${v.schema}.${v.name}`, v]));
  for (const key of byKey.keys())
    if (!target.materializedViews.some((v) => v.key === key))
      notes.push(`materialized view ${key}: not in the target, nothing to refresh`);
  const steps = target.materializedViews.map((v): MaterializedViewStep => {
    const step = (action: MaterializedViewStep['action'], why: string) => ({
      key: v.key,
      schema: v.schema,
      name: v.name,
      action,
      why,
    });
    const source = byKey.get(v.key);
    if (options.refresh === false) return step('keep', 'left as it is (--no-refresh-materialized-views)');
    if (options.refresh === true) return step('refresh', 'refreshed after the load (--refresh-materialized-views)');
    if (!recorded)
      return step(
        'keep',
        'left as it is (the backup records no materialized views: pass --refresh-materialized-views to refresh it)',
      );
    if (!source) return step('keep', 'left as it is (not in the backup)');
    if (source.populated) return step('refresh', 'refreshed after the load (populated in the backup)');
    if (options.subset) return step('keep', 'left as it is (not populated in the backup)');
    return step('no-data', 'left unpopulated (not populated in the backup)');
  });
  return { steps, notes };
}
