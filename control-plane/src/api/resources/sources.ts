import type { DomainMappingRow, RevisionRow, ServiceRow } from '../../store/schema.ts';
import type { Store } from '../../store/store.ts';
import { configurationObject, revisionObject, routeObject, serviceObject } from '../objects.ts';
import type { WatchSource } from '../watch.ts';
import { type KubeObject, resourceInfo } from './catalog.ts';
import { domainMappingInfo, domainMappingObject } from './domain-mappings.ts';
import { routingState } from './revisions.ts';

/** Where each resource's objects and events come from, for watches. */
export function watchSources(
  store: Store,
): Record<'services' | 'configurations' | 'routes' | 'revisions' | 'domainmappings', WatchSource> {
  const view = (name: string, render: (row: ServiceRow) => KubeObject): WatchSource => ({
    resource: resourceInfo(name),
    events: 'services',
    current: (ns) => store.listServices(ns).map(render),
    render: (e) => render(e.object as unknown as ServiceRow),
  });
  const revision = (row: RevisionRow) => revisionObject(row, routingState(store, row.namespace, row.service, row.name));
  return {
    services: view('services', serviceObject),
    configurations: view('configurations', configurationObject),
    routes: view('routes', routeObject),
    revisions: {
      resource: resourceInfo('revisions'),
      events: 'revisions',
      current: (ns) => store.listRevisions(ns).map(revision),
      render: (e) => revision(e.object as unknown as RevisionRow),
    },
    domainmappings: {
      resource: domainMappingInfo,
      events: 'domainmappings',
      current: (ns) => store.listDomainMappings(ns).map(domainMappingObject),
      render: (e) => domainMappingObject(e.object as unknown as DomainMappingRow),
    },
  };
}
