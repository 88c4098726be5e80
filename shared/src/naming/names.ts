import { md5Hex } from './md5.ts';

const longest = 63;
const md5Length = 32;
const head = longest - md5Length;

/**
 * The name of an object derived from `parent` (knative.dev/pkg/kmeta.ChildName): `parent + suffix`,
 * or, when that would pass 63 characters, the parent shortened and made unique with its MD5.
 */
export function childName(parent: string, suffix: string): string {
  if (parent.length + suffix.length <= longest) return parent + suffix;
  if (head - suffix.length <= 0) {
    const hashed = (parent.length > head ? parent.slice(0, head) : parent) + md5Hex(parent + suffix);
    const padded = hashed.length < longest ? hashed + suffix.slice(0, longest - hashed.length) : hashed;
    return padded.replace(/-+$/, '');
  }
  return parent.slice(0, head - suffix.length) + md5Hex(parent) + suffix;
}

/** A generated revision name: `<configuration>-<generation, five digits>` (`hello-00001`). */
export function revisionName(configurationName: string, generation: number): string {
  return childName(configurationName, `-${String(generation).padStart(5, '0')}`);
}

/** Names of the Kubernetes objects that serve one revision. */
export function deploymentName(revision: string): string {
  return childName(revision, '-deployment');
}
