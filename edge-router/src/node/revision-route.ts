import {
  type Answer,
  type EndpointPool,
  forwardRequestHead,
  forwardResponseHead,
  type OwnHeader,
  type Pending,
  type RequestHead,
  type ResponseHead,
  type Route,
} from '@skiff/http';
import { coldStartBreakdown, isColdStart, type SnapshotRevision, serverTiming } from '@skiff/shared';
import { answers } from '../answers.ts';
import { proxyRequestHeader, proxyRequestValue, revisionHeader } from '../forward/headers.ts';
import type { Lease, Throttler } from '../hold/throttler.ts';

/** What a route needs from the router's Node server. */
export interface RevisionRouteHost {
  readonly maxBodyBytes: number;
  /** Whether responses carry `Skiff-Revision`. */
  readonly revisionHeader: boolean;
  pool(url: string): EndpointPool;
}

/** One year, as browsers' preload lists ask; without includeSubDomains (a route owns only its host). */
const hstsValue = 'max-age=31536000';

const held: OwnHeader = { name: proxyRequestHeader, value: proxyRequestValue };
// The marker is the router's to set: a client's own copy is dropped.
const notHeld: OwnHeader = { name: proxyRequestHeader, value: undefined };

/**
 * The router's decisions for one request, for the engine in `@skiff/http`: a lease on one of the
 * revision's endpoints from its throttler (held until capacity appears), the revision's timeouts
 * counted from arrival, one retry elsewhere when an endpoint refuses, the router's own headers.
 */
export class RevisionRoute implements Route<Lease> {
  readonly maxBodyBytes: number;
  /** Revisions whose port is named h2c are reached over h2c, others over HTTP/1.1, whichever version the client speaks. */
  readonly upstreamProtocol: 'h2c' | 'http/1.1';
  readonly revision: SnapshotRevision;
  readonly throttler: Throttler;
  readonly #host: RevisionRouteHost;
  readonly #revisionHeader: OwnHeader | undefined;

  /** The scheme the client used (`X-Forwarded-Proto`, `Forwarded: proto=`). */
  readonly #scheme: 'http' | 'https';
  /** HSTS, only over HTTPS on a host whose plain HTTP redirects there (RFC 6797 §7.2: never over HTTP). */
  readonly policyHeader: OwnHeader | undefined;

  constructor(
    host: RevisionRouteHost,
    revision: SnapshotRevision,
    throttler: Throttler,
    scheme: 'http' | 'https' = 'http',
    hsts = false,
  ) {
    this.#host = host;
    this.#scheme = scheme;
    this.policyHeader = hsts ? { name: 'strict-transport-security', value: hstsValue } : undefined;
    this.maxBodyBytes = host.maxBodyBytes;
    this.revision = revision;
    this.upstreamProtocol = revision.protocol === 'h2c' ? 'h2c' : 'http/1.1';
    this.throttler = throttler;
    this.#revisionHeader = host.revisionHeader ? { name: revisionHeader, value: revision.name } : undefined;
  }

  enter(ex: Pending<Lease>): Lease | 'queued' | 'full' {
    return this.throttler.enter(ex);
  }

  cancel(ex: Pending<Lease>): void {
    this.throttler.cancel(ex);
  }

  release(lease: Lease): void {
    this.throttler.release(lease);
  }

  retryElsewhere(lease: Lease): Lease | undefined {
    return this.throttler.retryElsewhere(lease);
  }

  pool(lease: Lease): EndpointPool {
    return this.#host.pool(lease.endpoint.url);
  }

  requestHead(head: RequestHead, client: string, lease: Lease): string {
    return forwardRequestHead(head, client, lease.held ? held : notHeld, false, this.#scheme);
  }

  responseHead(head: ResponseHead, close: boolean, keepAliveFor10: boolean, lease?: Lease): string {
    const timing = lease === undefined ? undefined : this.addedResponseHeader(lease);
    const out = forwardResponseHead(head, close, keepAliveFor10, this.#revisionHeader, timing);
    const hsts = this.policyHeader;
    return hsts === undefined ? out : `${out.slice(0, -2)}${hsts.name}: ${hsts.value}\r\n\r\n`;
  }

  /**
   * A held request's `Server-Timing` (its cold start's phases, first byte now), reported once per
   * cold start for the control plane's log. Undefined for a request that was not held.
   */
  addedResponseHeader(lease: Lease): OwnHeader | undefined {
    const wait = lease.wait;
    if (wait === undefined) return undefined;
    const phases = coldStartBreakdown(wait.heldAt, wait.releasedAt, Date.now(), wait.coldStart);
    if (isColdStart(wait.heldAt, wait.coldStart))
      this.throttler.coldStarted(wait.heldAt, wait.coldStart.decidedAt, phases);
    return { name: 'server-timing', value: serverTiming(phases) };
  }

  ownRequestHeader(lease: Lease): OwnHeader {
    return lease.held ? held : notHeld;
  }

  ownResponseHeader(): OwnHeader | undefined {
    return this.#revisionHeader;
  }

  // The revision's timeouts, as Knative's timeout handler applies them; time held counts.
  expired(ex: Pending<Lease>, now: number): string | undefined {
    const r = this.revision;
    if (r.timeoutSeconds > 0 && now - ex.startedAt >= r.timeoutSeconds * 1000) return 'total';
    const start = r.responseStartTimeoutSeconds ?? 0;
    if (!ex.responseStarted && start > 0 && now - ex.startedAt >= start * 1000) return 'response-start';
    const idle = r.idleTimeoutSeconds ?? 0;
    if (ex.responseStarted && idle > 0 && now - ex.lastWriteAt >= idle * 1000) return 'idle';
    return undefined;
  }

  queueFull(): Answer {
    return answers.queueFull(this.revision.name);
  }

  timeout(): Answer {
    return answers.timeout(this.revision.name);
  }

  failed(reason: string): Answer {
    return answers.upstreamFailed(this.revision.name, reason);
  }

  bodyTooLarge(): Answer {
    return answers.bodyTooLarge(this.maxBodyBytes);
  }

  /** Counts the answer for the rollout gate (0: the client went away before one). */
  finished(_ex: unknown, status: number, durationMs: number): void {
    if (status > 0) this.throttler.answered(status, durationMs);
  }
}
