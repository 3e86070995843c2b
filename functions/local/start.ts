/**
 * `npm start`: every function in one process on embedded defaults — a folder as the bucket, the in-process bus,
 * the schedules from infra/ (with overrides from the operator config) — and each HTTP function under /<name>.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { Cron } from 'croner';
import { loadConfig, type Config } from '../../shared/config/load';
import { MemoryBus } from '../../shared/bus/memory-bus';
import { createLogger } from '../../shared/log/logger';
import { encodeCloudEvent } from '../../shared/bus/decode';
import { UsageError, errorMessage } from '../../shared/errors';
import { functionRuntime } from '../../shared/functions/runtime';
import { describeBus } from '../../shared/bus/open';
import { scheduleOverrides, wiring } from './wiring';
import { installJsonErrors } from '../../shared/functions/framework';
import { channelsFromConfig, describeChannels } from '../../shared/alerts/settings';
import { eventsTopic } from '../../shared/infra/schedules';

export interface LocalSuite {
  url: string;
  stop(): Promise<void>;
}

export async function startLocal(): Promise<LocalSuite> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`mt-ops: ${errorMessage(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  }
  const logger = createLogger({ level: config.env.LOG_LEVEL, labels: { env: config.env.OPS_ENV, component: 'local' } });
  const runtime = functionRuntime(config, 'local', { logger });
  const bus = runtime.bus;
  logger.info(describeBus(bus.choice));
  let wired;
  let overrides = new Map<string, Config['file']['schedules'][string]>();
  try {
    wired = wiring(() => runtime);
    overrides = scheduleOverrides(wired.jobs, config.file.schedules);
  } catch (err) {
    process.stderr.write(`mt-ops: ${errorMessage(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  }
  const memory = bus.inner instanceof MemoryBus ? bus.inner : undefined;
  memory?.subscribe((m) => logger.info({ event: m.event, messageId: m.messageId }, `event ${m.event.type}`));
  // The in-process bus is the events topic: its events reach whatever infra/ pushes that topic to (the fan-out).
  logger.info(describeChannels(config, channelsFromConfig(config)));
  const topic = eventsTopic(process.env.EVENTS_TOPIC);
  const onEvents = wired.topics[topic];
  if (memory && onEvents) {
    memory.subscribe(async (m) => {
      try {
        await onEvents(encodeCloudEvent({ topic, payload: m.event, messageId: m.messageId, attributes: m.attributes }) as never);
      } catch (err) {
        logger.error({ err, messageId: m.messageId }, `fan-out of ${m.event.type} failed: ${errorMessage(err)}`);
      }
    });
  }

  // HTTP: each function's own framework app (the same one Cloud Functions runs), mounted under /<name>.
  installJsonErrors();
  const apps = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  for (const [name, handler] of Object.entries(wired.http)) {
    ff.http(`local-${name}`, handler);
    apps.set(name, getTestServer(`local-${name}`).listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void);
  }
  const server = createServer((req, res) => {
    const [, first = '', ...rest] = (req.url ?? '/').split('/');
    const [name] = first.split('?');
    if (req.method === 'GET' && (name === '' || name === 'healthz')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', functions: [...apps.keys()], bucket: runtime.store.url, env: runtime.env }));
      return;
    }
    const app = apps.get(name!);
    if (!app) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no function at /${name}; try ${[...apps.keys()].map((k) => `/${k}`).join(', ')}` }));
      return;
    }
    req.url = `/${rest.join('/')}${first.includes('?') ? `?${first.split('?')[1]}` : ''}`;
    app(req, res);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.env.PORT, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // A second `npm start`, or another program on the port: say so in one line (exit 2: a setting to change).
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'is in use' : code === 'EACCES' ? 'may not be used by this user' : `cannot be listened on (${code ?? errorMessage(err)})`;
    process.stderr.write(`mt-ops: port ${config.env.PORT} ${why}; set PORT\n`);
    process.exit(2);
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Schedules: Cloud Scheduler -> Pub/Sub -> function, played in-process with the same CloudEvent shape.
  const crons: Cron[] = [];
  for (const [jobIndex, job] of wired.jobs.entries()) {
    const handler = wired.topics[job.topic];
    if (!handler || !job.function) {
      logger.debug({ job: job.name, topic: job.topic }, 'no function receives this topic yet');
      continue;
    }
    const override = overrides.get(job.name);
    const cron = new Cron(override?.cron ?? job.cron, { timezone: override?.timeZone ?? job.timeZone, protect: true }, async (self: Cron) => {
      // A Pub/Sub message id is a decimal string: the run's time in ms and the job's position make it unique.
      const messageId = `${(self.currentRun() ?? new Date()).getTime()}${String(jobIndex).padStart(2, '0')}`;
      const event = encodeCloudEvent({ topic: job.topic, payload: job.payload, messageId, attributes: { job: job.name } });
      try {
        await handler(event as never);
      } catch (err) {
        logger.error({ err, job: job.name }, `scheduled ${job.name} failed: ${errorMessage(err)}`);
      }
    });
    crons.push(cron);
    logger.info({ job: job.name, next: cron.nextRun()?.toISOString() }, `scheduled ${job.name}`);
  }
  if (!config.env.DATABASE_URL) logger.warn('DATABASE_URL is not set: backups will fail until it is');
  logger.info({ url, bucket: runtime.store.url, env: runtime.env }, `mt-ops local suite listening on ${url} (POST ${url}/backup for a manual backup)`);

  const stop = async () => {
    for (const c of crons) c.stop();
    await new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
    await bus.close();
  };
  // `npm start` stopped with a signal to npm's pid alone: npm exits without stopping us, and we are reparented.
  // Whatever runs under `npm start` stops with it: a parent that is gone stops the server too.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid === parent) return;
    logger.info('the process that started this one (npm) has exited: stopping');
    void stop().then(() => process.exit(0));
  }, 500).unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info(`${signal}: stopping`);
      void stop().then(() => process.exit(0));
    });
  }
  return { url, stop };
}
