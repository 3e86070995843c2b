/**
 * The fan-out's Pub/Sub topics, read from infra/ through shared/infra (no topic name is written in code): the topics
 * whose subscriptions push to the fan-out's entry points (functions.yaml names them, topics.yaml wires them) and the
 * dead-letter topic those subscriptions declare. The entry-point names are the code's own (functions/fanout).
 */
import { UsageError } from '../errors';
import { eventsTopic, loadTopics } from '../infra/schedules';
import { loadWiring, type WiringPaths } from '../infra/wiring';

export const FANOUT_ENTRY_POINTS = { fanout: 'fanoutEvent', digest: 'digestEvent', sweep: 'sweepEvent' } as const;

export interface AlertTopics {
  /** The suite's own events (the topic marked `events: true`). */
  events: string;
  /** Cloud Monitoring incident notifications: the other topic pushed to fanoutEvent. */
  monitoring: string;
  /** Where deliveries given up on go: the dead-letter topic of the fan-out's subscriptions. */
  deadLetter: string;
  /** The daily digest's Scheduler topic (pushed to digestEvent). */
  digestTrigger: string;
  /** The sweep's Scheduler topic (pushed to sweepEvent). */
  sweepTrigger: string;
}

let cached: AlertTopics | undefined;

/**
 * The fan-out's topics as infra/ declares them (read once per process; `paths` reads other files, uncached); a
 * declaration that does not fit is a UsageError.
 */
export function alertTopics(paths?: WiringPaths): AlertTopics {
  if (cached && !paths) return cached;
  const { entryPoints } = loadWiring(paths);
  const pushedTo = (name: string) => entryPoints.find((ep) => ep.name === name)?.topics ?? [];
  const events = eventsTopic(undefined, paths?.topics);
  const fanoutTopics = pushedTo(FANOUT_ENTRY_POINTS.fanout);
  const others = fanoutTopics.filter((t) => t !== events);
  const problems: string[] = [];
  if (!fanoutTopics.includes(events))
    problems.push(`no subscription of the events topic ${events} pushes to ${FANOUT_ENTRY_POINTS.fanout}`);
  if (others.length !== 1)
    problems.push(
      `expected one Cloud Monitoring topic pushed to ${FANOUT_ENTRY_POINTS.fanout}, found ${others.length}`,
    );
  const deadLetters = new Set(
    loadTopics(paths?.topics)
      .topics.flatMap((t) => t.subscriptions)
      .filter((s) => s.pushTo === FANOUT_ENTRY_POINTS.fanout)
      .map((s) => s.deadLetterTopic),
  );
  const [deadLetter] = [...deadLetters];
  if (deadLetters.size !== 1 || !deadLetter)
    problems.push(`the subscriptions pushing to ${FANOUT_ENTRY_POINTS.fanout} must share one deadLetterTopic`);
  const digest = pushedTo(FANOUT_ENTRY_POINTS.digest);
  if (digest.length !== 1)
    problems.push(`expected one topic pushed to ${FANOUT_ENTRY_POINTS.digest}, found ${digest.length}`);
  const sweepTopics = pushedTo(FANOUT_ENTRY_POINTS.sweep);
  if (sweepTopics.length !== 1)
    problems.push(`expected one topic pushed to ${FANOUT_ENTRY_POINTS.sweep}, found ${sweepTopics.length}`);
  if (problems.length > 0)
    throw new UsageError(`infra/ does not declare the alert fan-out's topics: ${problems.join('; ')}`, problems);
  const topics = {
    events,
    monitoring: others[0]!,
    deadLetter: deadLetter!,
    digestTrigger: digest[0]!,
    sweepTrigger: sweepTopics[0]!,
  };
  if (!paths) cached = topics;
  return topics;
}
