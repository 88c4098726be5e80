import type { RevisionWorkload } from '../backends/backend.ts';
import type { RevisionRow } from '../store/schema.ts';

/** Knative's labels naming a revision's owners (`serving.ServiceLabelKey`, `ConfigurationLabelKey`). */
const serviceLabel = 'serving.knative.dev/service';
const configurationLabel = 'serving.knative.dev/configuration';

/**
 * What a backend runs for a revision. The owners' names come from the revision's labels, as
 * Knative's `getKnativeEnvVar` and queue-proxy env do (`K_SERVICE`/`SERVING_SERVICE`,
 * `K_CONFIGURATION`/`SERVING_CONFIGURATION`): a revision of a Configuration created directly has
 * no Service label, so its `K_SERVICE` is empty.
 */
export function revisionWorkload(row: RevisionRow): RevisionWorkload {
  return {
    namespace: row.namespace,
    service: row.labels[serviceLabel] ?? '',
    configuration: row.labels[configurationLabel] ?? row.service,
    revision: row.name,
    uid: row.uid,
    spec: row.spec,
    labels: row.labels,
    annotations: row.annotations,
  };
}
