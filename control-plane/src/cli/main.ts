import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiError, client, Unreachable } from './client.ts';
import {
  apply,
  type Context,
  logs,
  revisionDelete,
  revisionDescribe,
  revisionList,
  rollback,
  type ServiceFlags,
  serviceCreate,
  serviceDelete,
  serviceDescribe,
  serviceList,
  serviceUpdate,
  UsageError,
  waitReady,
} from './commands.ts';
import { resolveConnection } from './connection.ts';
import { domainCreate, domainDelete, domainDescribe, domainList } from './domain.ts';
import { type Format, render } from './output.ts';
import { rolloutCommand } from './rollout.ts';

const usage = `skiff: deploy and manage serverless services (Knative Serving API)

Usage:
  skiff up [--autoscaler-KEY VALUE ...] [--api-host NAME ...] [--api-plain-http] [--rollout-duration DURATION] [--tls] [--http-protocol enabled|redirected|disabled]
           [--acme-directory URL [--acme-ca FILE] [--acme-email ADDRESS] [--acme-service-hosts]]
                                 run the platform on this machine (control plane, router, local backend);
                                 KEY is any Knative config-autoscaler key, e.g. --autoscaler-stable-window 10s
  skiff up --backend kubernetes [--kubeconfig FILE] [--namespace NS]
                                 the same with revisions on a cluster (kubeconfig: $KUBECONFIG, ~/.kube/config);
                                 NS: one namespace for every revision, else each Skiff namespace's own
  skiff ca [--path]               where the local CA (of skiff up's data dir) is and how to trust it
  skiff apply -f FILE|-
  skiff service create NAME (--image IMAGE | --cmd "COMMAND") [flags]
  skiff service update NAME [flags]
  skiff service list | describe NAME | delete NAME
  skiff revision list [-s SERVICE] | describe NAME | delete NAME
  skiff rollback SERVICE [--to REVISION]
  skiff rollout status|pause|resume|promote|abort SERVICE
                                 watch or steer a gradual/SLO-gated rollout (resume retries a rolled-back
                                 revision from its first step; promote gives it 100% now)
  skiff logs SERVICE [--revision REVISION] [--follow]
  skiff domain create DOMAIN --service NAME [--tls-secret SECRET] | list | describe DOMAIN | delete DOMAIN
                                 map a custom domain to a service (Knative DomainMapping, v1beta1)

Service flags:
  --image IMAGE                container image (Kubernetes backend)
  --cmd "COMMAND"              command to run (local backend)
  --env NAME=VALUE             set an environment variable (NAME- removes it); repeatable
  --concurrency-limit N        hard limit of requests per replica (0 = none)
  --scale-min N, --scale-max N, --scale-target N
  --timeout SECONDS            request timeout
  --revision-name NAME         name of the new revision (must start with "SERVICE-")
  --traffic REV=PERCENT        split traffic; REV is a revision, a tag or @latest; repeatable
  --tag REV=TAG                give a revision its own URL; repeatable
  --wait                       wait until the service is Ready (--wait-timeout SECONDS, default 60)

Global flags:
  -n, --namespace NS           namespace (default: the kubeconfig context's, else "default")
  -o, --output table|json|yaml output format (default table)
  --kubeconfig FILE            kubeconfig to use (default $KUBECONFIG, else .skiff/kubeconfig that skiff up
                               writes; SKIFF_DATA_DIR moves .skiff); --context NAME picks another context
  --server URL                 API server, over the kubeconfig's (env SKIFF_SERVER)
  --token TOKEN                API token, over the kubeconfig's (env SKIFF_TOKEN)
  --certificate-authority FILE CA to trust for the server (default: the kubeconfig's)
  --insecure-skip-tls-verify   do not check the server's certificate

Exit codes: 0 done, 1 the API refused or could not be reached, 2 usage error.`;

/** `skiff up [flags]`: its flags are its own (see `up.ts`), so they are parsed there. */
async function runUp(args: string[]): Promise<number> {
  const { up } = await import('./up.ts');
  const running = await up({ args, env: process.env, print: (line) => process.stdout.write(`${line}\n`) });
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        process.stdout.write('Stopping: draining replicas...\n');
        void running.stop().then(resolve);
      });
    }
  });
  return 0;
}

/**
 * `skiff ca`: the data dir's CA (it signs the API's certificate and the router's under `--tls`),
 * and how to trust it. `--path` prints only the file, for scripts (`curl --cacert "$(skiff ca --path)"`).
 */
function runCa(args: string[], env: NodeJS.ProcessEnv): number {
  if (args.some((a) => a !== '--path')) throw new UsageError(`ca: unknown argument ${JSON.stringify(args[0])}`);
  const file = resolve(env.SKIFF_DATA_DIR ?? '.skiff', 'ca.crt');
  if (!existsSync(file)) {
    process.stderr.write(`Error: no local CA at ${file}: skiff up makes it on its first start\n`);
    return 1;
  }
  if (args.includes('--path')) {
    process.stdout.write(`${file}\n`);
    return 0;
  }
  const cert = new X509Certificate(readFileSync(file));
  const port = env.SKIFF_ROUTER_TLS_PORT || '8443';
  process.stdout.write(
    [
      `Local CA: ${file}`,
      `  subject ${cert.subject.replaceAll('\n', ', ')}, valid until ${cert.validTo}`,
      `  SHA-256 fingerprint ${cert.fingerprint256}`,
      "It signs the API's certificate and, under skiff up --tls, the router's for service hosts.",
      'Trust it:',
      `  curl:           curl --cacert ${file} https://hello.default.localhost:${port}`,
      `  Node.js:        NODE_EXTRA_CA_CERTS=${file}`,
      `  Debian/Ubuntu:  sudo cp ${file} /usr/local/share/ca-certificates/skiff.crt && sudo update-ca-certificates`,
      `  Fedora/RHEL:    sudo cp ${file} /etc/pki/ca-trust/source/anchors/skiff.crt && sudo update-ca-trust`,
      `  macOS:          sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${file}`,
      '  Browsers with their own store (Firefox): Settings → Certificates → Import.',
      '',
    ].join('\n'),
  );
  return 0;
}

async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'up') return runUp(argv.slice(1));
  if (argv[0] === 'ca') return runCa(argv.slice(1), process.env);
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      output: { type: 'string', short: 'o', default: 'table' },
      server: { type: 'string' },
      token: { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      'certificate-authority': { type: 'string' },
      'insecure-skip-tls-verify': { type: 'boolean', default: false },
      filename: { type: 'string', short: 'f' },
      service: { type: 'string', short: 's' },
      to: { type: 'string' },
      'tls-secret': { type: 'string' },
      revision: { type: 'string' },
      follow: { type: 'boolean', default: false },
      image: { type: 'string' },
      cmd: { type: 'string' },
      env: { type: 'string', short: 'e', multiple: true, default: [] },
      'concurrency-limit': { type: 'string' },
      'scale-min': { type: 'string' },
      'scale-max': { type: 'string' },
      'scale-target': { type: 'string' },
      timeout: { type: 'string' },
      'revision-name': { type: 'string' },
      traffic: { type: 'string', multiple: true, default: [] },
      tag: { type: 'string', multiple: true, default: [] },
      wait: { type: 'boolean', default: false },
      'wait-timeout': { type: 'string', default: '60' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help || positionals.length === 0) {
    process.stdout.write(`${usage}\n`);
    return v.help ? 0 : 2;
  }
  const output = v.output as Format;
  if (!['table', 'json', 'yaml'].includes(output))
    throw new UsageError(`--output: expected table, json or yaml, got ${JSON.stringify(v.output)}`);
  const connection = resolveConnection(
    {
      kubeconfig: v.kubeconfig,
      context: v.context,
      server: v.server,
      token: v.token,
      certificateAuthority: v['certificate-authority'],
      insecureSkipTlsVerify: v['insecure-skip-tls-verify'] || undefined,
      namespace: v.namespace,
    },
    process.env,
  );
  const ctx: Context = {
    client: client(connection.server, connection.token, connection.fetch),
    namespace: connection.namespace,
    output,
    print: (text) => process.stdout.write(`${text}\n`),
  };
  const flags: ServiceFlags = {
    ...(v.image !== undefined ? { image: v.image } : {}),
    ...(v.cmd !== undefined ? { cmd: v.cmd } : {}),
    env: v.env as string[],
    ...(v['concurrency-limit'] !== undefined ? { concurrencyLimit: v['concurrency-limit'] } : {}),
    ...(v['scale-min'] !== undefined ? { scaleMin: v['scale-min'] } : {}),
    ...(v['scale-max'] !== undefined ? { scaleMax: v['scale-max'] } : {}),
    ...(v['scale-target'] !== undefined ? { scaleTarget: v['scale-target'] } : {}),
    ...(v.timeout !== undefined ? { timeout: v.timeout } : {}),
    ...(v['revision-name'] !== undefined ? { revisionName: v['revision-name'] } : {}),
    traffic: v.traffic as string[],
    tag: v.tag as string[],
  };
  const need = (what: string, value: string | undefined): string => {
    if (!value) throw new UsageError(`${positionals.slice(0, 2).join(' ')}: missing ${what}`);
    return value;
  };
  const [noun, verb, arg] = positionals;
  const waitMs = Number(v['wait-timeout']) * 1000;
  const finishWrite = async (name: string, svc: unknown) => {
    if (v.wait) {
      const ready = await waitReady(ctx, name, waitMs);
      if (output === 'table') ctx.print(`Service '${name}' is ready at URL:\n${ready.status?.url ?? ''}`);
      else ctx.print(render(ready, output));
    } else if (output !== 'table') ctx.print(render(svc, output));
  };
  switch (noun) {
    case 'apply':
      await apply(ctx, need('-f FILE', v.filename));
      return 0;
    case 'rollback':
      await rollback(ctx, need('SERVICE', verb), v.to);
      return 0;
    case 'rollout': {
      const verbs = ['status', 'pause', 'resume', 'promote', 'abort'];
      if (!verb || !verbs.includes(verb)) {
        throw new UsageError(`rollout: unknown command ${JSON.stringify(verb ?? '')}; use ${verbs.join(', ')}`);
      }
      await rolloutCommand(ctx, verb, need('SERVICE', arg));
      return 0;
    }
    case 'logs':
      await logs(ctx, need('SERVICE', verb), v.revision, v.follow as boolean);
      return 0;
    case 'domain':
    case 'domains':
    case 'domainmapping':
    case 'dm':
      switch (verb) {
        case 'create':
          await domainCreate(ctx, need('DOMAIN', arg), need('--service NAME', v.service), v['tls-secret']);
          return 0;
        case 'list':
        case 'ls':
          await domainList(ctx);
          return 0;
        case 'describe':
          await domainDescribe(ctx, need('DOMAIN', arg));
          return 0;
        case 'delete':
          await domainDelete(ctx, need('DOMAIN', arg));
          return 0;
      }
      throw new UsageError(
        `domain: unknown command ${JSON.stringify(verb ?? '')}; use create, list, describe or delete`,
      );
    case 'service':
    case 'services':
    case 'svc':
    case 'ksvc':
      switch (verb) {
        case 'create': {
          const name = need('NAME', arg);
          await finishWrite(name, await serviceCreate(ctx, name, flags));
          return 0;
        }
        case 'update': {
          const name = need('NAME', arg);
          await finishWrite(name, await serviceUpdate(ctx, name, flags));
          return 0;
        }
        case 'list':
        case 'ls':
          await serviceList(ctx);
          return 0;
        case 'describe':
          await serviceDescribe(ctx, need('NAME', arg));
          return 0;
        case 'delete':
          await serviceDelete(ctx, need('NAME', arg));
          return 0;
      }
      throw new UsageError(
        `service: unknown command ${JSON.stringify(verb ?? '')}; use create, update, list, describe or delete`,
      );
    case 'revision':
    case 'revisions':
    case 'rev':
      switch (verb) {
        case 'list':
        case 'ls':
          await revisionList(ctx, v.service);
          return 0;
        case 'describe':
          await revisionDescribe(ctx, need('NAME', arg));
          return 0;
        case 'delete':
          await revisionDelete(ctx, need('NAME', arg));
          return 0;
      }
      throw new UsageError(`revision: unknown command ${JSON.stringify(verb ?? '')}; use list, describe or delete`);
  }
  throw new UsageError(`unknown command ${JSON.stringify(noun)}; see skiff --help`);
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (e) {
  if (
    e instanceof UsageError ||
    (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
  ) {
    process.stderr.write(`Error: ${e.message}\nRun 'skiff --help' for usage.\n`);
    process.exitCode = 2;
  } else if (e instanceof ApiError) {
    const causes = e.status.details?.causes ?? [];
    const message = e.status.message;
    const cut = message.indexOf(' is invalid: ');
    // With causes, name the object once and then each bad field on its own line.
    process.stderr.write(`Error: ${causes.length > 0 && cut > 0 ? message.slice(0, cut + 12) : message}\n`);
    for (const c of causes) process.stderr.write(`  ${c.field}: ${c.message}\n`);
    process.exitCode = 1;
  } else if (e instanceof Unreachable) {
    process.stderr.write(`Error: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    throw e;
  }
}
