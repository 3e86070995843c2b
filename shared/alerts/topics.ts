/** Topics of the fan-out (declared in infra/topics.yaml and infra/schedules.yaml). */
export const ALERT_TOPICS = {
  /** The suite's own events (subscription mt-ops-fanout). */
  events: 'mt-ops-events',
  /** Cloud Monitoring incident notifications (a Pub/Sub notification channel). */
  monitoring: 'mt-ops-monitoring',
  /** Deliveries a channel refused for good, or gave up on. */
  deadLetter: 'mt-ops-dead-letter',
  /** The daily digest's Scheduler job. */
  digestTrigger: 'mt-ops-digest-trigger',
} as const;
