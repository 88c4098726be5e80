import type { KubeObject, ResourceInfo } from './resources/catalog.ts';

/** `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` asks first). */
export function wantsTable(req: Request): boolean {
  return (req.headers.get('accept') ?? '')
    .split(',')
    .some((part) => /(^|;)\s*as=Table\b/.test(part) && /(^|;)\s*g=meta\.k8s\.io\b/.test(part));
}

type IncludeObject = 'None' | 'Object' | 'PartialObjectMetadata';

/** `?includeObject=`: what each row carries (kubectl's default: the object's metadata only). */
export function includeObject(url: URL): IncludeObject | string {
  const v = url.searchParams.get('includeObject') ?? 'PartialObjectMetadata';
  return v === 'None' || v === 'Object' || v === 'PartialObjectMetadata' ? v : `includeObject: unknown value ${v}`;
}

/**
 * A `meta.k8s.io/v1` Table of `objects` with the resource's printer columns, as kube-apiserver
 * serves a CRD's `additionalPrinterColumns` (NAME first).
 */
export function toTable(
  resource: ResourceInfo,
  objects: KubeObject[],
  listMeta: Record<string, unknown>,
  include: IncludeObject,
) {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: [
      {
        name: 'Name',
        type: 'string',
        format: 'name',
        description: 'Name must be unique within a namespace.',
        priority: 0,
      },
      ...resource.columns.map((c) => ({
        name: c.name,
        type: c.type,
        format: '',
        description: c.description,
        priority: c.priority,
      })),
    ],
    rows: objects.map((o) => ({
      cells: [o.metadata.name ?? '', ...resource.columns.map((c) => c.cell(o) ?? null)],
      ...(include === 'None'
        ? {}
        : {
            object:
              include === 'Object'
                ? o
                : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
          }),
    })),
  };
}
