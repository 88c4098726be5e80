// The router on Node, for programs that embed it (`skiff up`, tests): the core kept current from
// the control plane, behind the raw-socket server (and its TLS listener).
export { ConfigError, parseRouterConfig, type RouterConfig } from '../config.ts';
export { type RunningCore, runCore } from '../run.ts';
export { RouterServer } from './server.ts';
export {
  type CertificateSource,
  CertificateTable,
  LocalCaCertificates,
  SnapshotCertificates,
  TlsTerminator,
  tlsCiphers,
} from './tls.ts';
