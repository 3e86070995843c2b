// A real SMTP server (the `smtp-server` package) run as its own process by test/support/smtp-server.ts.
// Usage: node smtp-server-child.mjs OUT.jsonl [--secure] [--auth user:pass] [--reject-first N] [--reject-code 451]
// Prints "listening PORT" once ready; appends one JSON line per accepted message ({from, to, user, secure, raw}).
import { SMTPServer } from 'smtp-server';
import { appendFileSync } from 'node:fs';

const [out, ...args] = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const auth = value('--auth');
let rejectLeft = Number(value('--reject-first') ?? 0);
const rejectCode = Number(value('--reject-code') ?? 451);

const server = new SMTPServer({
  secure: flag('--secure'),
  authOptional: !auth,
  allowInsecureAuth: true,
  logger: false,
  disableReverseLookup: true,
  onAuth(a, session, cb) {
    if (auth && `${a.username}:${a.password}` === auth) return cb(null, { user: a.username });
    return cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
  },
  onData(stream, session, cb) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      if (rejectLeft > 0) {
        rejectLeft -= 1;
        return cb(
          Object.assign(new Error(rejectCode >= 500 ? 'Mailbox unavailable' : 'Try again later'), {
            responseCode: rejectCode,
          }),
        );
      }
      appendFileSync(
        out,
        JSON.stringify({
          from: session.envelope.mailFrom?.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user ?? null,
          secure: session.secure,
          raw: Buffer.concat(chunks).toString('utf8'),
        }) + '\n',
      );
      cb();
    });
  },
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
