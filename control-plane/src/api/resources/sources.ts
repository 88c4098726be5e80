import type { DomainMappingRow, RevisionRow, RouteRow, ServiceRow } from '../../store/schema.ts';
import type { Store } from '../../store/store.ts';
import { configurationObject, revisionObject, routeObject, serviceObject, standaloneRouteObject } from '../objects.ts';
import type { WatchSource } from '../watch.ts';
import { resourceInfo } from './catalog.ts';
import { domainMappingInfo, domainMappingObject } from './domain-mappings.ts';
import { routingState } from './revisions.ts';

/** Where each resource's objects and events come from, for watches. */
export function watchSources(
  store: Store,
): Record<'services' | 'configurations' | 'routes' | 'revisions' | 'domainmappings', WatchSource> {
  // `services` rows are Services and Configurations created directly (their `kind`).
  const isService = (row: ServiceRow) => (row.kind ?? 'Service') === 'Service';
  const revision = (row: RevisionRow) => revisionObject(row, routingState(store, row.namespace, row.service, row.name));
  return {
    services: {
      resource: resourceInfo('services'),
      events: ['services'],
      current: (ns) => store.listServices(ns).map(serviceObject),
      render: (e) => {
        const row = e.object as unknown as ServiceRow;
        return isService(row) ? serviceObject(row) : undefined;
      },
    },
    configurations: {
      resource: resourceInfo('configurations'),
      events: ['services'],
      current: (ns) => store.listServices(ns, 'any').map(configurationObject),
      render: (e) => configurationObject(e.object as unknown as ServiceRow),
    },
    routes: {
      resource: resourceInfo('routes'),
      events: ['services', 'routes'],
      current: (ns) => [...store.listServices(ns).map(routeObject), ...store.listRoutes(ns).map(standaloneRouteObject)],
      render: (e) => {
        if (e.resource === 'routes') return standaloneRouteObject(e.object as unknown as RouteRow);
        const row = e.object as unknown as ServiceRow;
        return isService(row) ? routeObject(row) : undefined;
      },
    },
    revisions: {
      resource: resourceInfo('revisions'),
      events: ['revisions'],
      current: (ns) => store.listRevisions(ns).map(revision),
      render: (e) => revision(e.object as unknown as RevisionRow),
    },
    domainmappings: {
      resource: domainMappingInfo,
      events: ['domainmappings'],
      current: (ns) => store.listDomainMappings(ns).map(domainMappingObject),
      render: (e) => domainMappingObject(e.object as unknown as DomainMappingRow),
    },
  };
}
