import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { FoundSecret, TlsSecretData, TlsSecretSource } from '../../certificates/secrets.ts';
import { Reflector } from './reflector.ts';

export interface TlsSecretsOptions {
  kubeConfig: KubeConfig;
  /**
   * The Kubernetes namespace Secrets are read in (the backend's: where revisions run). Unset:
   * each Skiff namespace's Secrets are in the Kubernetes namespace of the same name.
   */
  namespace?: string | undefined;
  /** The platform's default wildcard Secret, `[namespace/]name` (see `parseSecretRef`). */
  defaultSecret?: { namespace: string; name: string } | undefined;
  log?: (message: string) => void;
}

/** Secrets of this type only: the control plane never reads any other Secret. */
const tlsType = 'kubernetes.io/tls';

/**
 * The TLS Secrets (type `kubernetes.io/tls`) a DomainMapping or the platform default may name,
 * kept in step with the API server by a list and watch (`Reflector`), decoded. Every change is
 * announced, so a Secret's update reaches the routers' certificates without a restart.
 */
export class TlsSecrets implements TlsSecretSource {
  readonly #o: TlsSecretsOptions;
  readonly #reflector: Reflector<V1Secret>;
  readonly #listeners: (() => void)[] = [];

  constructor(o: TlsSecretsOptions) {
    this.#o = o;
    const core = o.kubeConfig.makeApiClient(CoreV1Api);
    const ns = o.namespace;
    const page = (c: string | undefined) => ({
      fieldSelector: `type=${tlsType}`,
      limit: 500,
      ...(c ? { _continue: c } : {}),
    });
    this.#reflector = new Reflector<V1Secret>({
      kubeConfig: o.kubeConfig,
      what: 'secrets',
      path: ns === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${ns}/secrets`,
      labelSelector: '',
      fieldSelector: `type=${tlsType}`,
      list: (c) =>
        ns === undefined
          ? core.listSecretForAllNamespaces(page(c))
          : core.listNamespacedSecret({ namespace: ns, ...page(c) }),
      onEvent: () => {
        for (const l of this.#listeners) l();
      },
      ...(o.log ? { log: o.log } : {}),
    });
  }

  /** Lists and watches; resolves once the first list is in, or fails after `timeoutMs` (no rights to list?). */
  static async start(o: TlsSecretsOptions, timeoutMs = 30_000): Promise<TlsSecrets> {
    const s = new TlsSecrets(o);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        s.#reflector.start(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const where = o.namespace === undefined ? 'any namespace' : `namespace ${o.namespace}`;
            reject(
              new Error(
                `could not list TLS Secrets in ${where} within ${timeoutMs} ms (does the control plane's Role grant list and watch on secrets?)`,
              ),
            );
          }, timeoutMs);
        }),
      ]);
    } catch (e) {
      s.stop();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return s;
  }

  stop(): void {
    this.#reflector.stop();
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  secret(namespace: string, name: string): FoundSecret {
    return this.#found(this.#o.namespace ?? namespace, name);
  }

  defaultSecret(): FoundSecret | undefined {
    const d = this.#o.defaultSecret;
    return d === undefined ? undefined : this.#found(d.namespace, d.name);
  }

  #found(namespace: string, name: string): FoundSecret {
    const s = this.#reflector.get(namespace, name);
    return { namespace, name, data: s === undefined ? undefined : decode(s) };
  }
}

function decode(s: V1Secret): TlsSecretData {
  const text = (v: string | undefined) => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));
  return { cert: text(s.data?.['tls.crt']), key: text(s.data?.['tls.key']) };
}

/**
 * The default wildcard Secret's setting (`SKIFF_DEFAULT_TLS_SECRET`, `--default-tls-secret`):
 * `name` in `namespace` (where the control plane reads Secrets), or `namespace/name`; it must lie
 * where Secrets are read. An error message names the setting.
 */
export function parseSecretRef(
  value: string,
  namespace: string | undefined,
  where: string,
): { ok: true; value: { namespace: string; name: string } } | { ok: false; message: string } {
  const parts = value.split('/');
  const name = parts.at(-1) ?? '';
  const ns = parts.length === 2 ? parts[0] : namespace;
  const dns = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  if (parts.length > 2 || !dns.test(name) || (ns !== undefined && !dns.test(ns))) {
    return { ok: false, message: `${where} must be NAME or NAMESPACE/NAME of a Secret, got ${JSON.stringify(value)}` };
  }
  if (ns === undefined) {
    return {
      ok: false,
      message: `${where} must name the Secret's namespace (NAMESPACE/NAME), got ${JSON.stringify(value)}`,
    };
  }
  if (namespace !== undefined && ns !== namespace) {
    return {
      ok: false,
      message: `${where}: the Secret must be in namespace ${JSON.stringify(namespace)}, where the control plane reads Secrets; got ${JSON.stringify(value)}`,
    };
  }
  return { ok: true, value: { namespace: ns, name } };
}
