'use strict';

// The reference point: bare Fastify, same version as the service, no plugins, no logging.
// Run in its own process so that it never shares an event loop with the load generator.

const fastify = require('fastify');

const app = fastify({ logger: false });
app.get('/', async () => ({ status: 'ok' }));

const port = Number(process.env.PORT);
const host = process.env.HOST || '127.0.0.1';

app.listen({ port, host }).then(
  () => process.stdout.write(`baseline listening on ${host}:${port}\n`),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
