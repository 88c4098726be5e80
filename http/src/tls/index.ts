// Node-only: certificates, kubeconfig and a CA-trusting fetch. Not in the main entry, which the
// Workers router bundles.
export {
  certificateProblem,
  certificateServes,
  createCa,
  issueServingCertificate,
  issueServingCertificateAsync,
  type KeyPair,
} from './certificates.ts';
export { type Fetch, fetchTrusting } from './fetch.ts';
export { type ClientConfig, KubeconfigError, kubeconfigYaml, loadKubeconfig } from './kubeconfig.ts';
export { ensureLocalPki, type LocalPki, loopbackNames, pkiFiles, writeAtomically } from './local-pki.ts';
