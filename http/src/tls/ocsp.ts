import { createHash, X509Certificate } from 'node:crypto';
import {
  BasicOCSPResponse,
  CertID,
  id_pkix_ocsp_basic,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  TBSRequest,
} from '@peculiar/asn1-ocsp';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate } from '@peculiar/asn1-x509';

// OCSP (RFC 6960) for stapling: the request a server sends its certificate's responder, and what
// the answer says. The ASN.1 is @peculiar/asn1-ocsp's (the same family acme-client brings in):
// Node parses X.509 but neither writes an OCSP request nor reads a response.

/** The OCSP responder a certificate names (its Authority Information Access), if any. */
export function ocspUrl(certPem: string | Buffer): string | undefined {
  const info = new X509Certificate(certPem).infoAccess ?? '';
  return /^OCSP - URI:(\S+)$/m.exec(info)?.[1];
}

const sha1 = '1.3.14.3.2.26';
const hash = (data: ArrayBuffer) => createHash('sha1').update(Buffer.from(data)).digest();
const bytes = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/** The certificate's identity as OCSP names it: its issuer's name and key hashes and its serial. */
function certId(certDer: Buffer, issuerDer: Buffer): CertID {
  const cert = AsnConvert.parse(bytes(certDer), Certificate);
  const issuer = AsnConvert.parse(bytes(issuerDer), Certificate);
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: sha1, parameters: null }),
    issuerNameHash: new OctetString(hash(AsnConvert.serialize(issuer.tbsCertificate.subject))),
    issuerKeyHash: new OctetString(hash(issuer.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)),
    serialNumber: cert.tbsCertificate.serialNumber,
  });
}

/** The DER OCSP request (no nonce, as a cacheable stapling request) for `cert` issued by `issuer`. */
export function ocspRequest(certDer: Buffer, issuerDer: Buffer): Buffer {
  const request = new OCSPRequest({
    tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert: certId(certDer, issuerDer) })] }),
  });
  return Buffer.from(AsnConvert.serialize(request));
}

export interface OcspAnswer {
  status: 'good' | 'revoked' | 'unknown';
  thisUpdate: Date;
  /** Absent: the responder says newer information is always available (refresh often). */
  nextUpdate?: Date;
}

/**
 * What a DER OCSP response says about `cert`, or why it cannot be stapled (not successful, not a
 * basic response, no answer for this certificate's serial). The responder's signature is checked
 * by the client that receives the staple; this only picks what to staple and until when.
 */
export function readOcspResponse(der: Buffer, certDer: Buffer): OcspAnswer | { problem: string } {
  let response: OCSPResponse;
  try {
    response = AsnConvert.parse(bytes(der), OCSPResponse);
  } catch (e) {
    return { problem: `not an OCSP response (${(e as Error).message})` };
  }
  if (response.responseStatus !== OCSPResponseStatus.successful) {
    return {
      problem: `the responder answered ${OCSPResponseStatus[response.responseStatus] ?? response.responseStatus}`,
    };
  }
  if (response.responseBytes?.responseType !== id_pkix_ocsp_basic) return { problem: 'not a basic OCSP response' };
  const basic = AsnConvert.parse(response.responseBytes.response.buffer, BasicOCSPResponse);
  const serial = Buffer.from(AsnConvert.parse(bytes(certDer), Certificate).tbsCertificate.serialNumber);
  const single = basic.tbsResponseData.responses.find((r) => Buffer.from(r.certID.serialNumber).equals(serial));
  if (single === undefined) return { problem: 'the response says nothing about this certificate' };
  const s = single.certStatus;
  const status = s.revoked !== undefined ? 'revoked' : s.good !== undefined ? 'good' : 'unknown';
  return {
    status,
    thisUpdate: single.thisUpdate,
    ...(single.nextUpdate ? { nextUpdate: single.nextUpdate } : {}),
  };
}

const minute = 60_000;

/**
 * When to fetch a fresh response (pure): halfway from `thisUpdate` to `nextUpdate`, and at least a
 * minute before `nextUpdate` (never later than it); an hour on when there is no `nextUpdate`.
 */
export function ocspRefreshAt(answer: Pick<OcspAnswer, 'thisUpdate' | 'nextUpdate'>): number {
  const from = answer.thisUpdate.getTime();
  if (answer.nextUpdate === undefined) return from + 60 * minute;
  const until = answer.nextUpdate.getTime();
  return Math.max(from, Math.min(from + (until - from) / 2, until - minute));
}
