import { parseAcmeDirectory, parseAcmeForgetAfter, parseHttpProtocol } from '@skiff/shared';
import { loadStoreKey } from './acme/seal.ts';
import type { WorkloadBackend } from './backends/backend.ts';
import { MemoryBackend } from './backends/memory/memory-backend.ts';
import type { TlsSecretSource } from './certificates/secrets.ts';
import { type AcmeOptions, startControlPlane } from './server.ts';

// skiff-control-plane: the control plane on its own, configured by environment.
//   SKIFF_DATA_DIR (.skiff), SKIFF_API_PORT (8090), SKIFF_DOMAIN (localhost), SKIFF_ROUTER_PORT (8080),
//   SKIFF_API_HOST (127.0.0.1; 0.0.0.0 in a pod), SKIFF_BACKEND (memory: replicas are records only;
//   kubernetes: see kubernetesOptionsFromEnv), SKIFF_MEMORY_READY_MS (memory backend: time until a
//   replica is ready), SKIFF_API_TOKEN, SKIFF_ROUTER_TOKEN, SKIFF_HTTP_PROTOCOL (Knative's
//   config-network http-protocol for every Service without the annotation: enabled, redirected, disabled).
//   On Kubernetes the router's certificates come from TLS Secrets: DomainMappings' spec.tls.secretName
//   and SKIFF_DEFAULT_TLS_SECRET ([namespace/]name, a wildcard certificate for service hosts).
//   ACME certificates for DomainMappings: SKIFF_ACME_DIRECTORY (https URL), SKIFF_ACME_CA_FILE (a CA
//   to trust for it), SKIFF_ACME_EMAIL, SKIFF_ACME_STORE_KEY_FILE (the key sealing ACME keys in the
//   store; on Kubernetes a mounted Secret, required there), SKIFF_ACME_ROUTER_URL (the router's plain
//   HTTP address, checked to answer each challenge before the ACME server looks), SKIFF_ACME_SERVICE_HOSTS
//   (true: services' own public hosts get certificates too), SKIFF_ACME_FORGET_AFTER_SECONDS (how long
//   a certificate no DomainMapping or host wants is kept before it and its key are deleted; 3600).
//   TLS: SKIFF_TLS_CERT_FILE and SKIFF_TLS_KEY_FILE (in a cluster, a mounted Secret), else a local CA in
//   the data dir (ca.crt, kubeconfig); SKIFF_API_PLAIN_HTTP=true serves plain HTTP instead.
const env = process.env;
const backendName = env.SKIFF_BACKEND ?? 'memory';
if (backendName !== 'memory' && backendName !== 'kubernetes') {
  console.error(`skiff-control-plane: SKIFF_BACKEND=${backendName} is not available; supported: memory, kubernetes`);
  process.exit(2);
}
const port = Number(env.SKIFF_API_PORT ?? 8090);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`skiff-control-plane: SKIFF_API_PORT must be a port number, got ${JSON.stringify(env.SKIFF_API_PORT)}`);
  process.exit(2);
}
const httpProtocol = parseHttpProtocol(env.SKIFF_HTTP_PROTOCOL, 'SKIFF_HTTP_PROTOCOL');
if (!httpProtocol.ok) {
  console.error(`skiff-control-plane: ${httpProtocol.message}`);
  process.exit(2);
}
let acme: AcmeOptions | undefined;
if (env.SKIFF_ACME_DIRECTORY) {
  const directory = parseAcmeDirectory(env.SKIFF_ACME_DIRECTORY, 'SKIFF_ACME_DIRECTORY');
  if (!directory.ok) {
    console.error(`skiff-control-plane: ${directory.message}`);
    process.exit(2);
  }
  // A pod's data dir is no place for the key that seals the ACME keys beside it: a Secret is.
  if (backendName === 'kubernetes' && !env.SKIFF_ACME_STORE_KEY_FILE) {
    console.error(
      'skiff-control-plane: SKIFF_ACME_DIRECTORY on Kubernetes needs SKIFF_ACME_STORE_KEY_FILE: the store key from a mounted Secret (32 random bytes, base64)',
    );
    process.exit(2);
  }
  // The key must be there before anything starts: a pod without it (the Secret not made) says so.
  if (env.SKIFF_ACME_STORE_KEY_FILE) {
    try {
      loadStoreKey(env.SKIFF_ACME_STORE_KEY_FILE, false);
    } catch (e) {
      console.error(
        `skiff-control-plane: SKIFF_ACME_DIRECTORY needs the ACME store key: ${e instanceof Error ? e.message : String(e)}${
          backendName === 'kubernetes'
            ? ` (mounted from the Secret skiff-acme-store-key: kubectl -n ${env.SKIFF_K8S_NAMESPACE || 'skiff'} create secret generic skiff-acme-store-key --from-literal=store.key="$(openssl rand -base64 32)", see deploy/README.md)`
            : ''
        }`,
      );
      process.exit(2);
    }
  }
  const forgetAfter = parseAcmeForgetAfter(env.SKIFF_ACME_FORGET_AFTER_SECONDS, 'SKIFF_ACME_FORGET_AFTER_SECONDS');
  if (!forgetAfter.ok) {
    console.error(`skiff-control-plane: ${forgetAfter.message}`);
    process.exit(2);
  }
  acme = {
    directoryUrl: directory.value,
    forgetAfterMs: forgetAfter.ms,
    ...(env.SKIFF_ACME_CA_FILE ? { caFile: env.SKIFF_ACME_CA_FILE } : {}),
    ...(env.SKIFF_ACME_EMAIL ? { email: env.SKIFF_ACME_EMAIL } : {}),
    ...(env.SKIFF_ACME_STORE_KEY_FILE ? { storeKeyFile: env.SKIFF_ACME_STORE_KEY_FILE } : {}),
    ...(env.SKIFF_ACME_ROUTER_URL ? { routerUrl: env.SKIFF_ACME_ROUTER_URL } : {}),
    ...(env.SKIFF_ACME_SERVICE_HOSTS === 'true' ? { serviceHosts: true } : {}),
  };
}
let backend: WorkloadBackend;
let secrets: TlsSecretSource | undefined;
if (backendName === 'kubernetes') {
  const k8s = await import('./backends/kubernetes/kubernetes-backend.ts');
  const { TlsSecrets, parseSecretRef } = await import('./backends/kubernetes/tls-secrets.ts');
  const log = (m: string) => console.log(`kubernetes: ${m}`);
  const options = k8s.kubernetesOptionsFromEnv(env);
  const fallback = env.SKIFF_DEFAULT_TLS_SECRET
    ? parseSecretRef(env.SKIFF_DEFAULT_TLS_SECRET, options.namespace, 'SKIFF_DEFAULT_TLS_SECRET')
    : undefined;
  if (fallback && !fallback.ok) {
    console.error(`skiff-control-plane: ${fallback.message}`);
    process.exit(2);
  }
  const kb = await k8s.KubernetesBackend.start({ ...options, log });
  backend = kb;
  secrets = await TlsSecrets.start({
    kubeConfig: kb.kubeConfig,
    namespace: kb.namespace,
    defaultSecret: fallback?.value,
    log,
  });
} else {
  backend = new MemoryBackend({ readyAfterMs: Number(env.SKIFF_MEMORY_READY_MS ?? 50) });
}
const certFile = env.SKIFF_TLS_CERT_FILE;
const keyFile = env.SKIFF_TLS_KEY_FILE;
if (Boolean(certFile) !== Boolean(keyFile)) {
  console.error('skiff-control-plane: set both SKIFF_TLS_CERT_FILE and SKIFF_TLS_KEY_FILE, or neither');
  process.exit(2);
}
const tls =
  env.SKIFF_API_PLAIN_HTTP === 'true'
    ? 'plain-http'
    : certFile && keyFile
      ? { certFile, keyFile }
      : ('local-ca' as const);
const cp = await startControlPlane({
  tls,
  dataDir: env.SKIFF_DATA_DIR ?? '.skiff',
  backend,
  ...(env.SKIFF_API_HOST ? { apiHost: env.SKIFF_API_HOST } : {}),
  apiPort: port,
  domain: env.SKIFF_DOMAIN ?? 'localhost',
  routerPort: Number(env.SKIFF_ROUTER_PORT ?? 8080),
  httpProtocol: httpProtocol.value,
  ...(secrets ? { secrets } : {}),
  ...(acme ? { acme } : {}),
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cp.close().then(() => process.exit(0));
  });
}
