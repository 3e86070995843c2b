/**
 * `npm start` / `mt-ops serve`: every function of infra/ in one process on embedded defaults (a folder as the bucket,
 * the in-process bus, or the Pub/Sub emulator when PUBSUB_EMULATOR_HOST is set), each HTTP function under /<name>
 * behind a bearer token, the schedules of infra/ played with croner, and a graceful stop on SIGINT/SIGTERM.
 * The parts: auth.ts (the token), server.ts (routes), routes.ts (extra and public routes), delivery.ts (how messages
 * move), schedules.ts (croner), work.ts (what is in flight), banner.ts (what is printed).
 */
import type { AddressInfo } from 'node:net';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { loadConfig } from '../../shared/config/load';
import { unsetReferences } from '../../shared/probes/config';
import { createLogger, setRootLogger } from '../../shared/log/logger';
import { UsageError, errorMessage } from '../../shared/errors';
import { functionRuntime } from '../../shared/functions/runtime';
import { describeBus } from '../../shared/bus/open';
import { installJsonErrors } from '../../shared/functions/framework';
import { channelsFromConfig, describeChannels } from '../../shared/alerts/settings';
import { eventsTopic, loadTopics } from '../../shared/infra/schedules';
import { configuredProbes } from '../../shared/probes/job';
import { wiring } from './wiring';
import { apiToken } from './auth';
import { extraRoutes, firstSegment, type ExtraRoutes } from './routes';
import { localServer, type Listener } from './server';
import { Work } from './work';
import { emulatorDelivery, inProcessDelivery, type Delivery } from './delivery';
import { plannedSchedules, startSchedules } from './schedules';
import { banner, type BannerInfo } from './banner';

export interface LocalSuite {
  url: string;
  /** Stops gracefully: no new work, in-flight work finished or abandoned cleanly, then everything closed. */
  stop(signal?: 'SIGINT' | 'SIGTERM'): Promise<void>;
}

export interface StartOptions {
  /** Replaces the routes of routes.ts (tests). */
  routes?: ExtraRoutes;
  /** Where the banner goes (default stdout). */
  print?: (text: string) => void;
  /** Install SIGINT/SIGTERM handlers and stop with the parent process (default true: `npm start`). */
  handleSignals?: boolean;
}

/** Starts the local suite; throws a UsageError (exit 2) for a bad configuration, a bad infra/ or a busy port. */
export async function startLocal(options: StartOptions = {}): Promise<LocalSuite> {
  // `npm start` runs the probes: one naming a variable not set is refused here
  const config = loadConfig(process.env, { check: unsetReferences });
  const logger = createLogger({ level: config.env.LOG_LEVEL, labels: { env: config.env.OPS_ENV, component: 'local' } });
  setRootLogger(logger);
  const token = apiToken(config.env.OPS_API_TOKEN);
  const work = new Work();
  const runtime = functionRuntime(config, 'local', { logger, signal: work.signal });
  const bus = runtime.bus;
  const wired = wiring(() => runtime);
  const planned = plannedSchedules(wired.jobs, config.file.schedules);
  const routes = options.routes ?? extraRoutes({ config, runtime });
  for (const route of [...routes.public, ...routes.authenticated]) {
    const segment = firstSegment(route.path);
    if ((wired.http[segment] && route.function !== segment) || segment === 'healthz' || segment === '')
      throw new UsageError(`route ${route.path} would shadow ${segment ? `/${segment}` : '/'}`);
  }
  // What could refuse to start is settled before anything listens or runs (a refusal here leaves nothing behind)
  const channels = describeChannels(config, channelsFromConfig(config));
  let probes: BannerInfo['probes'];
  try {
    probes = configuredProbes(config).map((p) => ({
      name: p.name,
      kind: p.kind,
      target: p.kind === 'backup-freshness' ? `newest backup in ${runtime.store.url}` : p.url,
      method: p.method,
      intervalSeconds: p.intervalSeconds,
    }));
  } catch (err) {
    probes = { problem: `not run: ${errorMessage(err)}` };
  }

  // HTTP: each function's own framework app (the same one Cloud Functions runs), mounted under /<name>.
  installJsonErrors();
  const apps = new Map<string, Listener>();
  for (const [name, handler] of Object.entries(wired.http)) {
    ff.http(`local-${name}`, handler);
    apps.set(name, getTestServer(`local-${name}`).listeners('request')[0] as Listener);
  }
  const topic = eventsTopic(config.env.EVENTS_TOPIC);
  const choice = bus.choice;
  const delivery: Delivery =
    choice.kind === 'pubsub' && choice.emulatorHost
      ? await emulatorDelivery(
          wired,
          {
            emulatorHost: choice.emulatorHost,
            projectId: choice.projectId,
            topics: loadTopics().topics.map((t) => t.name),
          },
          work,
          logger,
        )
      : inProcessDelivery(wired, bus, topic, work, logger);

  const server = localServer({
    apps,
    routes,
    token,
    work,
    logger,
    describe: () => ({
      env: runtime.env,
      bucket: runtime.store.url,
      functions: [...apps.keys()],
      schedules: running.map((s) => ({
        job: s.job.name,
        cron: s.cron,
        timeZone: s.timeZone,
        next: s.next()?.toISOString() ?? null,
      })),
      inFlight: work.inFlight(),
    }),
  });
  const host = config.env.HOST;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.env.PORT, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await delivery.close();
    // A second `npm start`, or another program on the port: say so in one line (exit 2: a setting to change).
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE'
        ? 'is in use'
        : code === 'EACCES'
          ? 'may not be used by this user'
          : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
            ? `cannot be listened on at ${host} (HOST)`
            : `cannot be listened on (${code ?? errorMessage(err)})`;
    throw new UsageError(
      `port ${config.env.PORT} ${why}; set ${code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? 'HOST' : 'PORT'}`,
    );
  }
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${urlHost}:${address.port}`;
  const { schedules: running, stop: stopSchedules } = startSchedules(planned, delivery, work, logger);

  const warnings: string[] = [];
  if (!config.env.DATABASE_URL) warnings.push('DATABASE_URL is not set: backups fail until it is');
  if (!/^127\./.test(host) && host !== 'localhost' && host !== '::1')
    warnings.push(`HOST=${host}: reachable from other machines; anyone with the token can start a backup`);
  const print = options.print ?? ((text: string) => process.stdout.write(text));
  print(
    banner({
      url,
      env: runtime.env,
      token,
      bucket: runtime.store.url,
      ...(config.filePath ? { operatorFile: config.filePath } : {}),
      events: `${describeBus(choice)}; ${delivery.description}`,
      channels,
      functions: [...apps.keys()],
      publicRoutes: routes.public.map((r) => `${r.method} ${r.path}`),
      schedules: running.map((s) => ({
        name: s.job.name,
        cron: s.cron,
        timeZone: s.timeZone,
        function: s.job.function!,
        overridden: s.overridden,
        next: s.next(),
      })),
      probes,
      warnings,
    }),
  );
  logger.info({ url, bucket: runtime.store.url, env: runtime.env }, `mt-ops local suite listening on ${url}`);

  let stopping: Promise<void> | undefined;
  const stop = (signal: 'SIGINT' | 'SIGTERM' = 'SIGTERM') =>
    (stopping ??= (async () => {
      stopSchedules();
      server.close(); // no new connections; requests on open ones get 503 from here on
      const waiting = work.inFlight();
      if (waiting.length > 0)
        logger.info(`waiting for ${waiting.join(', ')} to finish or stop (a second ${signal} exits at once)`);
      await work.stop(signal);
      await delivery.close();
      server.closeAllConnections();
      await bus.close();
      logger.info('stopped');
    })());

  if (options.handleSignals !== false) {
    const exit = (signal: 'SIGINT' | 'SIGTERM') => {
      if (stopping) {
        logger.warn(`${signal} again: exiting at once`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      logger.info(`${signal}: stopping`);
      void stop(signal).then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, `stopping failed: ${errorMessage(err)}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => exit('SIGINT'));
    process.on('SIGTERM', () => exit('SIGTERM'));
    // `npm start` stopped with a signal to npm's pid alone: npm exits without stopping us, and we are reparented.
    // Whatever runs under `npm start` stops with it: a parent that is gone stops the server too.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid === parent || stopping) return;
      logger.info('the process that started this one (npm) has exited: stopping');
      exit('SIGTERM');
    }, 500).unref();
  }
  return { url, stop };
}
