/**
 * A real SMTP server process for the email channel's tests: the `smtp-server` package in a child process
 * (test/support/smtp-server-child.mjs), STARTTLS offered with its built-in self-signed certificate, optional
 * implicit TLS and authentication, and scripted rejections (451: try later, 550: refused). Accepted messages are
 * appended to a JSON-lines file that `messages()` reads.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp';

export interface SmtpMessage {
  from: string;
  to: string[];
  user: string | null;
  secure: boolean;
  raw: string;
}

export interface SmtpServer {
  port: number;
  /** smtp:// (or smtps://) URL with the credentials, accepting the self-signed certificate. */
  url: string;
  messages(): SmtpMessage[];
  stop(): Promise<void>;
}

export async function startSmtpServer(
  options: { auth?: { user: string; pass: string }; secure?: boolean; rejectFirst?: number; rejectCode?: number } = {},
): Promise<SmtpServer> {
  const out = join(tempDir('mt-smtp-'), 'messages.jsonl');
  const script = join(fileURLToPath(new URL('.', import.meta.url)), 'smtp-server-child.mjs');
  const args = [script, out];
  if (options.secure) args.push('--secure');
  if (options.auth) args.push('--auth', `${options.auth.user}:${options.auth.pass}`);
  if (options.rejectFirst)
    args.push('--reject-first', String(options.rejectFirst), '--reject-code', String(options.rejectCode ?? 451));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d) => {
      text += String(d);
      const m = /listening (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`SMTP server exited (${code}): ${stderr}`)));
  });
  const cred = options.auth ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@` : '';
  return {
    port,
    url: `${options.secure ? 'smtps' : 'smtp'}://${cred}127.0.0.1:${port}?rejectUnauthorized=false`,
    messages: () =>
      existsSync(out)
        ? readFileSync(out, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as SmtpMessage)
        : [],
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
