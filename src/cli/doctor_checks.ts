/**
 * @module What `sipws doctor` can tell from the configuration alone: a transport is enabled,
 * the certificate and key load and match, the certificate is not expired (a warning within
 * 14 days), names the domains browsers will use, and carries its chain; the Origin policy is
 * set and well formed. Every check returns pass, warn, fail or skip with a one-line fix.
 * It reads files only; the network probes live in doctor_probes.ts.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Config } from "../config/config.ts";
import { hasTransport } from "../config/flags.ts";
import {
  certificateInfo,
  daysLeft,
  EXPIRY_WARNING_DAYS,
  pemCertificates,
} from "../transport/certificate.ts";
import { isWildcard } from "../transport/address.ts";

export type CheckStatus = "pass" | "warn" | "fail" | "skip";

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  /** One line saying what to do, for warn and fail. */
  fix?: string;
}

const pass = (check: string, detail: string): CheckResult => ({ check, status: "pass", detail });
const fail = (check: string, detail: string, fix: string): CheckResult => ({
  check,
  status: "fail",
  detail,
  fix,
});
const warn = (check: string, detail: string, fix: string): CheckResult => ({
  check,
  status: "warn",
  detail,
  fix,
});

export function transportCheck(config: Config): CheckResult {
  if (hasTransport(config)) return pass("transports", "at least one SIP transport is enabled");
  return fail(
    "transports",
    "no SIP transport is enabled",
    "set udp_port, tcp_port, tls_port, ws_port or wss_port in sipws.toml (or -u, -t, -p, -s)",
  );
}

/** Names browsers and phones will ask the certificate for: served domains, a fixed address. */
function expectedNames(config: Config): string[] {
  const names = [...config.sip.domains];
  if (!isWildcard(config.interface)) names.push(config.interface);
  return [...new Set(names.map((n) => n.toLowerCase()))];
}

function covers(cert: X509Certificate, name: string): boolean {
  const ip = /^[0-9.]+$/.test(name) || name.includes(":");
  return ip ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined;
}

/** The certificate checks, when TLS or WSS is enabled. */
export async function certificateChecks(config: Config, now = Date.now()): Promise<CheckResult[]> {
  if (config.tlsPort === undefined && config.wssPort === undefined) {
    return [{ check: "certificate", status: "skip", detail: "TLS and WSS are not enabled" }];
  }
  let pem: string;
  let key: string;
  try {
    pem = await Deno.readTextFile(config.certificate);
    key = await Deno.readTextFile(config.privateKey);
  } catch (error) {
    return [fail(
      "certificate",
      `cannot read ${config.certificate} / ${config.privateKey}: ${String(error)}`,
      "set certificate and private_key in sipws.toml (-c, -k) to readable PEM files",
    )];
  }
  let leaf: X509Certificate;
  try {
    certificateInfo(pem);
    leaf = new X509Certificate(pemCertificates(pem)[0]);
  } catch (error) {
    return [fail(
      "certificate",
      `${config.certificate}: ${String(error)}`,
      "point certificate at a PEM file with the server certificate first",
    )];
  }
  const out: CheckResult[] = [];
  try {
    const matches = leaf.checkPrivateKey(
      createPrivateKey({ key, passphrase: config.certificatePassword }),
    );
    out.push(
      matches ? pass("certificate key", `${config.privateKey} matches the certificate`) : fail(
        "certificate key",
        `${config.privateKey} is not the key of ${config.certificate}`,
        "use the private key the certificate was issued for",
      ),
    );
  } catch (error) {
    out.push(fail(
      "certificate key",
      `${config.privateKey}: ${String(error)}`,
      "give an unencrypted PEM key, or its password with -w / certificate_password",
    ));
  }
  const info = certificateInfo(pem);
  const days = daysLeft(info, now);
  const until = new Date(info.notAfter).toISOString();
  if (info.notAfter <= now) {
    out.push(fail(
      "certificate expiry",
      `expired ${until}`,
      "renew the certificate (sipws picks up replaced files by itself)",
    ));
  } else if (days < EXPIRY_WARNING_DAYS) {
    out.push(warn("certificate expiry", `expires ${until} (${days} days)`, "renew it soon"));
  } else out.push(pass("certificate expiry", `valid until ${until} (${days} days)`));

  const names = expectedNames(config);
  if (names.length === 0) {
    out.push({
      check: "certificate names",
      status: "skip",
      detail: `certificate is for ${info.names.join(", ")}; no [sip] domains to compare with`,
    });
  } else {
    const missing = names.filter((n) => !covers(leaf, n));
    out.push(
      missing.length === 0 ? pass("certificate names", `covers ${names.join(", ")}`) : fail(
        "certificate names",
        `does not cover ${missing.join(", ")} (it is for ${info.names.join(", ")})`,
        `get a certificate whose subjectAltName lists ${missing.join(", ")}`,
      ),
    );
  }
  out.push(chainCheck(pemCertificates(pem).map((p) => new X509Certificate(p))));
  return out;
}

function chainCheck(chain: X509Certificate[]): CheckResult {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) {
      return fail(
        "certificate chain",
        `certificate ${i + 1} is not issued by certificate ${i + 2} of the file`,
        "order the file leaf first, then each issuer (a CA's fullchain.pem)",
      );
    }
  }
  const last = chain[chain.length - 1];
  const selfSigned = last.checkIssued(last) && last.verify(last.publicKey);
  if (chain.length === 1 && selfSigned) {
    return warn(
      "certificate chain",
      "self-signed certificate",
      "browsers refuse WSS until it is trusted: use a CA-issued certificate in production",
    );
  }
  if (chain.length === 1) {
    return fail(
      "certificate chain",
      `only the server certificate; its issuer (${last.issuer.replace(/\n/g, ", ")}) is missing`,
      "append the intermediate certificate(s): use the CA's fullchain.pem",
    );
  }
  return pass("certificate chain", `${chain.length} certificates, each issued by the next`);
}

/** The Origin allow-list: set, and each entry a scheme://host[:port] origin or pattern. */
export function originCheck(config: Config): CheckResult {
  if (config.wsPort === undefined && config.wssPort === undefined) {
    return { check: "origin policy", status: "skip", detail: "WS and WSS are not enabled" };
  }
  const list = config.websocket.allowedOrigins;
  const bad = list.filter((o) => !/^https?:\/\/[a-z0-9*.[\]:-]+(:\d+)?$/i.test(o));
  if (bad.length > 0) {
    return fail(
      "origin policy",
      `not an origin: ${bad.join(", ")}`,
      'write origins as scheme://host[:port] with no path, e.g. "https://app.example.com"',
    );
  }
  if (list.length === 0) {
    return warn(
      "origin policy",
      "allowed_origins is empty: any web page may open a SIP WebSocket",
      "set [websocket] allowed_origins to the origin(s) of your web app",
    );
  }
  return pass("origin policy", `allowed: ${list.join(", ")}`);
}

/** An Origin the policy allows, for the doctor's own handshake (a pattern gets a label). */
export function allowedOrigin(config: Config): string | undefined {
  const first = config.websocket.allowedOrigins[0];
  return first?.replace(/\*/g, "doctor");
}
