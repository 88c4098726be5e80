import { servingGroup } from '@skiff/shared';

/**
 * The serving group's resources as kube-apiserver describes Knative's CRDs: names, kinds, short
 * names, categories, verbs and printer columns. Discovery, Table output and OpenAPI read it.
 */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  /** Reads the cell from the rendered object. */
  cell(obj: KubeObject): string | number | undefined;
  description: string;
  /** 0: shown by `kubectl get`; 1: only with `-o wide`. */
  priority: 0 | 1;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    creationTimestamp?: string | null;
    resourceVersion?: string;
    [k: string]: unknown;
  };
  spec?: unknown;
  status?: { conditions?: { type: string; status?: string; reason?: string | undefined }[]; [k: string]: unknown };
}

export interface ResourceInfo {
  /** Plural, the path segment: `services`. */
  name: string;
  singular: string;
  kind: string;
  shortNames: string[];
  verbs: string[];
  /** Verbs of its `status` subresource. */
  statusVerbs: string[];
  columns: PrinterColumn[];
}

export const categories = ['all', 'knative', 'serving'];

const ready = (o: KubeObject) => o.status?.conditions?.find((c) => c.type === 'Ready');
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const int = (v: unknown) => (typeof v === 'number' ? v : undefined);

const readyColumns: PrinterColumn[] = [
  { name: 'Ready', type: 'string', cell: (o) => ready(o)?.status, description: 'The Ready condition', priority: 0 },
  { name: 'Reason', type: 'string', cell: (o) => ready(o)?.reason, description: 'Why it is not Ready', priority: 0 },
];
const latestColumns: PrinterColumn[] = [
  {
    name: 'LatestCreated',
    type: 'string',
    cell: (o) => str(o.status?.latestCreatedRevisionName),
    description: 'The latest revision created',
    priority: 0,
  },
  {
    name: 'LatestReady',
    type: 'string',
    cell: (o) => str(o.status?.latestReadyRevisionName),
    description: 'The latest revision that became Ready',
    priority: 0,
  },
];
const urlColumn: PrinterColumn = {
  name: 'URL',
  type: 'string',
  cell: (o) => str(o.status?.url),
  description: 'Where it answers',
  priority: 0,
};

const writable = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const writableStatus = ['get', 'patch', 'update'];

export const resources: ResourceInfo[] = [
  {
    name: 'services',
    singular: 'service',
    kind: 'Service',
    shortNames: ['kservice', 'ksvc'],
    verbs: writable,
    statusVerbs: writableStatus,
    columns: [urlColumn, ...latestColumns, ...readyColumns],
  },
  {
    name: 'configurations',
    singular: 'configuration',
    kind: 'Configuration',
    shortNames: ['config', 'cfg'],
    verbs: writable,
    statusVerbs: writableStatus,
    columns: [...latestColumns, ...readyColumns],
  },
  {
    name: 'revisions',
    singular: 'revision',
    kind: 'Revision',
    shortNames: ['rev'],
    // Revisions are made by their Configuration; users read and delete them.
    verbs: ['delete', 'get', 'list', 'watch'],
    statusVerbs: ['get'],
    columns: [
      {
        name: 'Config Name',
        type: 'string',
        cell: (o) => o.metadata.labels?.['serving.knative.dev/configuration'],
        description: 'The Configuration that made it',
        priority: 0,
      },
      {
        name: 'Generation',
        type: 'string',
        cell: (o) => o.metadata.labels?.['serving.knative.dev/configurationGeneration'],
        description: "The Configuration's generation it was made from",
        priority: 0,
      },
      ...readyColumns,
      {
        name: 'Actual Replicas',
        type: 'integer',
        cell: (o) => int(o.status?.actualReplicas),
        description: 'Ready replicas',
        priority: 0,
      },
      {
        name: 'Desired Replicas',
        type: 'integer',
        cell: (o) => int(o.status?.desiredReplicas),
        description: 'Replicas the autoscaler asks for',
        priority: 0,
      },
    ],
  },
  {
    name: 'routes',
    singular: 'route',
    kind: 'Route',
    shortNames: ['rt'],
    verbs: writable,
    statusVerbs: writableStatus,
    columns: [urlColumn, ...readyColumns],
  },
];

export { servingGroup };

export function resourceInfo(name: string): ResourceInfo {
  const found = resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource ${name}`);
  return found;
}
