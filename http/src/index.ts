// @skiff/http: the one HTTP engine of Skiff's data path (node only). The router's Node shell and
// the queue-proxy plug their decisions into it (`Hop`, `Route`); the bytes are moved here.
export { acceptEither, startsHttp2 } from './h2/accept.ts';
export { FrameExchange, H2Forwarder } from './h2/forward.ts';
export { h2cUpgradeSettings, isH2cUpgrade } from './h2/upgrade.ts';
export { ChunkedScanner } from './http1/chunked.ts';
export {
  type Head,
  type HeadError,
  isHeadError,
  keepsAlive,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from './http1/parse.ts';
export { forwardRequestHead, forwardResponseHead, type OwnHeader, plainResponse, reasons } from './http1/write.ts';
export { Deadlines, type Timed } from './proxy/deadlines.ts';
export {
  type Answer,
  Exchange,
  type Hop,
  headersTooLarge,
  headerTimeout,
  headerValue,
  isAnswer,
  maxRequestHeadBytes,
  type Pending,
  ProxyConnection,
  type Route,
} from './proxy/engine.ts';
export { EndpointPool, UpstreamConnection, type UpstreamUser } from './proxy/pool.ts';
