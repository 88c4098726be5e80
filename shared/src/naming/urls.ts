/**
 * Host names and URLs of routes (networking `config-network` defaults): the domain template
 * `{{.Name}}.{{.Namespace}}.{{.Domain}}` and the tag template `{{.Tag}}-{{.Name}}`.
 */

/** The label `networking.knative.dev/visibility: cluster-local` keeps a service off the public hosts. */
export const visibilityLabel = 'networking.knative.dev/visibility';
export const clusterLocal = 'cluster-local';
export const clusterLocalDomain = 'svc.cluster.local';

export function tagHostLabel(tag: string, name: string): string {
  return `${tag}-${name}`;
}

export function serviceHost(name: string, namespace: string, domain: string): string {
  return `${name}.${namespace}.${domain}`;
}

export function tagHost(tag: string, name: string, namespace: string, domain: string): string {
  return serviceHost(tagHostLabel(tag, name), namespace, domain);
}

export function isClusterLocal(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[visibilityLabel] === clusterLocal;
}

export interface UrlOptions {
  domain: string;
  scheme?: 'http' | 'https';
  /** A port to add to URLs (`:8080` on one machine); omitted for 80/443. */
  port?: number;
}

/** The URL users reach a route at; cluster-local routes get the in-cluster domain. */
export function routeUrl(
  name: string,
  namespace: string,
  opts: UrlOptions,
  labels?: Readonly<Record<string, string>>,
  tag?: string,
): string {
  const local = isClusterLocal(labels);
  const domain = local ? clusterLocalDomain : opts.domain;
  const host = tag === undefined ? serviceHost(name, namespace, domain) : tagHost(tag, name, namespace, domain);
  const scheme = opts.scheme ?? 'http';
  const port = !local && opts.port && opts.port !== (scheme === 'https' ? 443 : 80) ? `:${opts.port}` : '';
  return `${scheme}://${host}${port}`;
}

/** The in-cluster address of a route (`status.address.url`). */
export function clusterLocalUrl(name: string, namespace: string): string {
  return `http://${serviceHost(name, namespace, clusterLocalDomain)}`;
}
