/** The email channel (SMTP through nodemailer). */
import type { Transporter } from 'nodemailer';
import { COLOUR, statusWord, type Channel, type Notification, type SendResult } from './types';

export interface EmailSettings {
  /** `smtp://[user:pass@]host[:port]` (STARTTLS when offered; `?requireTLS=true` insists) or `smtps://...` (TLS). */
  smtpUrl: string;
  /** Overrides the URL's password (SMTP_PASSWORD). */
  password?: string;
  from: string;
  to: string[];
}

/**
 * Email over SMTP (nodemailer): TLS (smtps) or STARTTLS (smtp), authentication, an HTML and a text part, and a
 * subject that says the severity and the status. SMTP 4xx answers and connection failures are retryable; 5xx
 * (a rejected recipient, bad credentials) are not.
 */
export class EmailChannel implements Channel {
  readonly name = 'email' as const;
  private transport?: Transporter;

  constructor(private readonly settings: EmailSettings) {}

  accepts(): boolean {
    return true;
  }

  /** nodemailer is loaded on first send, so nothing else pays for it at start-up. */
  private async open(): Promise<Transporter> {
    if (this.transport) return this.transport;
    const { createTransport } = await import('nodemailer');
    const url = new URL(this.settings.smtpUrl);
    const secure = url.protocol === 'smtps:';
    const user = decodeURIComponent(url.username);
    const pass = this.settings.password ?? decodeURIComponent(url.password);
    const q = url.searchParams;
    this.transport = createTransport({
      host: url.hostname,
      port: url.port ? Number(url.port) : secure ? 465 : 587,
      secure,
      requireTLS: q.get('requireTLS') === 'true',
      ignoreTLS: q.get('ignoreTLS') === 'true',
      ...(user ? { auth: { user, pass } } : {}),
      // For a private CA or a test server's self-signed certificate only.
      tls: { rejectUnauthorized: q.get('rejectUnauthorized') !== 'false' },
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
    return this.transport;
  }

  async send(n: Notification, signal: AbortSignal): Promise<SendResult> {
    const message = emailMessage(n);
    try {
      const sending = (await this.open()).sendMail({ from: this.settings.from, to: this.settings.to, ...message });
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      const info = await Promise.race([sending, aborted]);
      return { ok: true, detail: String((info as { response?: string }).response ?? '') };
    } catch (err) {
      const e = err as { responseCode?: number; code?: string; message?: string; name?: string };
      if (e.name === 'TimeoutError' || e.name === 'AbortError')
        return { ok: false, retryable: true, error: 'SMTP: timed out' };
      const retryable =
        e.responseCode !== undefined
          ? e.responseCode < 500
          : ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET'].includes(e.code ?? '');
      return {
        ok: false,
        retryable,
        error: `SMTP: ${e.responseCode ? `${e.responseCode} ` : ''}${(e.message ?? String(err)).split('\n')[0]}`,
      };
    }
  }

  async close(): Promise<void> {
    this.transport?.close();
  }
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function emailMessage(n: Notification): { subject: string; text: string; html: string } {
  if (n.kind === 'digest') {
    const d = n.digest;
    const lines = d.notices.map((x) => `- ${x.time} ${x.title}: ${x.summary}`);
    return {
      subject: `[DIGEST] Missing Table ops (${d.env}): ${d.notices.length} notice(s)`,
      text: `Daily digest for ${d.env}, ${d.from} - ${d.to}\n\n${lines.join('\n') || 'Nothing to report.'}\n`,
      html: `<h2>Daily digest (${escape(d.env)})</h2><p>${escape(d.from)} - ${escape(d.to)}</p><ul>${d.notices.map((x) => `<li><b>${escape(x.title)}</b>: ${escape(x.summary)} <small>${escape(x.time)}</small></li>`).join('')}</ul>`,
    };
  }
  const a = n.alert;
  const word = statusWord(n);
  const subject = `[${a.severity.toUpperCase()}] [${word}] ${a.title}`;
  const details = Object.entries(a.details);
  const text = [
    `${word}: ${a.title}`,
    `Severity: ${a.severity}   Source: ${a.source}   Environment: ${a.env}`,
    `Started: ${a.startsAt}${a.endsAt ? `   Ended: ${a.endsAt}` : ''}`,
    '',
    a.summary,
    '',
    ...details.map(([k, v]) => `${k}: ${v}`),
    ...a.links.map((l) => `${l.title}: ${l.url}`),
  ].join('\n');
  const colour = n.kind === 'resolved' ? COLOUR.resolved : COLOUR[a.severity];
  const html = `<div style="border-left:6px solid ${colour};padding-left:12px"><h2>${escape(word)}: ${escape(a.title)}</h2><p><b>${escape(a.severity)}</b> · ${escape(a.source)} · ${escape(a.env)} · since ${escape(a.startsAt)}</p><p>${escape(a.summary)}</p>${details.length ? `<table>${details.map(([k, v]) => `<tr><th align="left">${escape(k)}</th><td>${escape(v)}</td></tr>`).join('')}</table>` : ''}${a.links.map((l) => `<p><a href="${escape(l.url)}">${escape(l.title)}</a></p>`).join('')}</div>`;
  return { subject, text, html };
}
