/**
 * The `status` section of the operator file: whether the status page, its JSON and its badges are served without
 * authentication, what the page is called, how often it refreshes itself, and which host names are internal (never
 * shown: masked wherever a probe's error or an alert's text would carry them).
 */
import { z } from 'zod';

/** A host name, or a pattern whose `*` stands for one or more labels: `*.internal`, `db.example.com`. */
const HostPattern = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/, 'a host name, or *.domain');

export const DEFAULT_INTERNAL_HOSTS = [
  'localhost',
  '*.internal',
  '*.local',
  '*.lan',
  '*.localdomain',
  '*.cluster.local',
];

export const StatusSectionSchema = z
  .object({
    /** Serve /status, /status.json and /badge/... without authentication (the only routes that ever are). */
    public: z.boolean().default(false),
    title: z.string().min(1).max(100).default('Missing Table status'),
    /** The page reloads itself (meta refresh) this often. */
    refreshSeconds: z.number().int().min(10).max(3600).default(60),
    /** Host names never shown on the page (besides every IP address and the database URLs' hosts, which never are). */
    internalHosts: z.array(HostPattern).default(DEFAULT_INTERNAL_HOSTS),
    /** Probes left off the page (and their badges). */
    hideProbes: z.array(z.string().min(1)).default([]),
  })
  .strict();
export type StatusSection = z.infer<typeof StatusSectionSchema>;
