import { hostname } from 'node:os';
import { readConfig } from './config.ts';
import { QueueProxy } from './server.ts';

// skiff-queue-proxy: configured entirely by environment (Knative's variable names).
const result = readConfig(process.env, hostname());
if (!result.ok) {
  for (const e of result.errors) process.stderr.write(`queue-proxy: ${e}\n`);
  process.exit(2);
}
const config = result.config;
const log = {
  info: (m: string) => process.stdout.write(`queue-proxy ${config.revision}: ${m}\n`),
  error: (m: string) => process.stderr.write(`queue-proxy ${config.revision}: ${m}\n`),
};
const qp = new QueueProxy(config, log);
// No top-level await: the bundle is CommonJS (see package.json's build), which Node starts without
// its ES module loader (about 3 MiB less resident memory per replica).
qp.start().then(
  () =>
    log.info(
      `serving ${config.listenAddress}:${config.servingPort} -> ${config.userHost}:${config.userPort}, admin :${config.adminPort}${config.adminToken ? ' (token)' : ''}, metrics :${config.metricsPort}, containerConcurrency ${config.containerConcurrency}`,
    ),
  (e: unknown) => {
    log.error(`cannot start: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info(`${signal}: draining (quiet period ${config.drainQuietPeriodMs} ms)`);
  qp.drainAndStop().then(
    () => {
      log.info('drained, exiting');
      process.exit(0);
    },
    (e: unknown) => {
      log.error(`drain failed: ${String(e)}`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
