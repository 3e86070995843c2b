/**
 * The base of the protocol-level fake receivers (Slack, PagerDuty, a JSON webhook): a real HTTP server on 127.0.0.1
 * that records what it is sent and answers per the service's documented wire format, with scripted failures
 * (429 with Retry-After, 5xx, 4xx, or hanging without answering).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Scripted {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Never answer (the client must time out). */
  hang?: boolean;
}

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json?: any;
  at: number;
}

export interface FakeHttp {
  url: string;
  received: Received[];
  /** The next answers, in order; afterwards the service's normal answer. */
  script(...answers: Scripted[]): void;
  /** Requests left hanging whose connection the client has not closed. */
  openHanging(): number;
  close(): Promise<void>;
}

export async function startFakeHttp(answer: (req: Received) => Scripted): Promise<FakeHttp> {
  const queue: Scripted[] = [];
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const r: Received = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json,
        at: Date.now(),
      };
      const next = queue.shift() ?? answer(r);
      // only requests that were answered successfully count as delivered; failed ones are recorded too, marked by status
      received.push(Object.assign(r, { status: next.status }));
      if (next.hang) {
        hanging.add(res);
        res.once('close', () => hanging.delete(res));
        return;
      }
      res.writeHead(next.status, {
        'content-type': next.body?.startsWith('{') ? 'application/json' : 'text/plain',
        ...next.headers,
      });
      res.end(next.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    script: (...answers) => queue.push(...answers),
    openHanging: () => hanging.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Requests the fake answered with 2xx. */
export function delivered(fake: FakeHttp): Received[] {
  return fake.received.filter((r) => ((r as Received & { status?: number }).status ?? 0) < 300);
}
