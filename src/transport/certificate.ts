/**
 * @module What the loaded TLS/WSS certificate says about itself: names (subjectAltName, else
 * the CN), validity window, issuer, how many certificates the PEM carries. Read with
 * `node:crypto`'s X509Certificate. It parses only; watching and reloading live elsewhere.
 */
import { X509Certificate } from "node:crypto";

/** Days before expiry from which the certificate is reported as expiring. */
export const EXPIRY_WARNING_DAYS = 14;

export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** DNS names and IP addresses the leaf certificate is valid for. */
  names: string[];
  /** Unix ms. */
  notBefore: number;
  /** Unix ms. */
  notAfter: number;
  /** Certificates in the PEM (leaf first, then intermediates). */
  chainLength: number;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM blocks of every certificate in `pem`, leaf first. */
export function pemCertificates(pem: string): string[] {
  return pem.match(PEM_BLOCK) ?? [];
}

/** Parses the leaf (first) certificate of a PEM; throws when there is none or it is bad. */
export function certificateInfo(pem: string): CertificateInfo {
  const blocks = pemCertificates(pem);
  if (blocks.length === 0) throw new Error("no PEM certificate in the file");
  const leaf = new X509Certificate(blocks[0]);
  const alt = leaf.subjectAltName ?? "";
  const names = alt.split(/,\s*/).flatMap((entry) => {
    const m = /^(?:DNS|IP Address):(.+)$/.exec(entry.trim());
    return m ? [m[1].toLowerCase()] : [];
  });
  if (names.length === 0) {
    const cn = /(?:^|\n|,\s*)CN=([^,\n]+)/.exec(leaf.subject)?.[1];
    if (cn) names.push(cn.toLowerCase());
  }
  return {
    subject: leaf.subject.replace(/\n/g, ", "),
    issuer: leaf.issuer.replace(/\n/g, ", "),
    names,
    notBefore: new Date(leaf.validFrom).getTime(),
    notAfter: new Date(leaf.validTo).getTime(),
    chainLength: blocks.length,
  };
}

/** Whole days left before `info` expires (negative once expired). */
export function daysLeft(info: CertificateInfo, now = Date.now()): number {
  return Math.floor((info.notAfter - now) / 86_400_000);
}
