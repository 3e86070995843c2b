/** HTTP helpers for the functions: JSON body decoding and error answers (400/500 without stacks). */
import type { Request, Response } from '@google-cloud/functions-framework';
import type { z } from 'zod';
import { formatIssues, InterruptedError, OpsError, UsageError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { safeMessage } from './framework';
import type { Logger } from '../log/logger';

/**
 * Decodes a JSON request body with a zod schema. An empty body is `{}`.
 * Answers 400 with every problem (path and reason) and returns undefined when the body is bad.
 */
export function decodeJsonBody<S extends z.ZodType>(req: Request, res: Response, schema: S): z.output<S> | undefined {
  let body: unknown = req.body;
  if (Buffer.isBuffer(body)) body = body.length ? body.toString('utf8') : undefined;
  if (typeof body === 'string') {
    if (body.trim() === '') body = undefined;
    else {
      try {
        body = JSON.parse(body);
      } catch {
        res.status(400).json({ error: 'request body is not valid JSON', issues: ['body: not valid JSON'] });
        return undefined;
      }
    }
  }
  if (
    body === undefined ||
    (typeof body === 'object' && body !== null && Object.keys(body).length === 0 && !Array.isArray(body))
  )
    body = {};
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = formatIssues(result.error, 'body');
    res.status(400).json({ error: `invalid request: ${issues.join('; ')}`, issues });
    return undefined;
  }
  return result.data;
}

/**
 * Maps an error to an HTTP answer: 400 for bad input, 503 for work stopped because the instance is stopping (try
 * again), 500 otherwise; never a secret, a stack or a server path.
 */
export function answerError(res: Response, err: unknown, logger: Logger): void {
  const message = safeMessage(errorMessage(err));
  if (err instanceof UsageError) {
    res.status(400).json({ error: message, issues: err.issues.map(redactString) });
    return;
  }
  if (err instanceof InterruptedError) {
    res.status(503).set('Retry-After', '30').json({ error: message, issues: [], code: err.code });
    return;
  }
  logger.error({ err }, message);
  res.status(500).json({ error: message, issues: [], code: err instanceof OpsError ? err.code : 'internal' });
}
