/**
 * @module Self-signed TLS certificate for loopback integration tests (TLS and WSS
 * listeners). Made once per test process with the `openssl` CLI: EC P-256, CN=127.0.0.1,
 * subjectAltName IP:127.0.0.1 and IP:::1, valid 2 days. Later calls copy the cached pair
 * into the requested directory; `makeFreshSelfSignedCert` makes a distinct pair on every call
 * (certificate reload tests). This module never trusts the certificate anywhere; clients
 * pass it as a CA (`Deno.connectTls({caCerts})`) or ignore certificate errors (Chromium).
 */

import { runCommand } from "./process.ts";

/** A certificate and its private key, as files and as PEM text. */
export interface CertPair {
  certFile: string;
  keyFile: string;
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

let cached: Promise<{ cert: string; key: string }> | undefined;

async function generate(): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "sipws-cert-" });
  try {
    const certFile = `${dir}/cert.pem`;
    const keyFile = `${dir}/key.pem`;
    const result = await runCommand("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,IP:::1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        keyFile,
        "-out",
        certFile,
      ],
      timeoutMs: 30_000,
    });
    if (result.code !== 0) {
      throw new Error(`openssl req failed (code ${result.code}): ${result.stderr}`);
    }
    return { cert: await Deno.readTextFile(certFile), key: await Deno.readTextFile(keyFile) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Write a self-signed certificate for 127.0.0.1/::1 into `dir` as `cert.pem` and
 * `key.pem` and return both paths and PEM texts. The key pair is generated once per
 * process and reused.
 */
export async function makeSelfSignedCert(dir: string): Promise<CertPair> {
  cached ??= generate();
  let pair: { cert: string; key: string };
  try {
    pair = await cached;
  } catch (e) {
    cached = undefined; // let a later call retry instead of caching the failure
    throw e;
  }
  return await writePair(dir, pair);
}

/** The PEM of the per-process certificate `makeSelfSignedCert` hands out, for clients to trust. */
export async function testCaCert(): Promise<string> {
  cached ??= generate();
  return (await cached).cert;
}

/**
 * Like `makeSelfSignedCert`, but generates a new key pair and certificate on every call
 * (never the cached one), so two calls give certificates with different fingerprints.
 */
export async function makeFreshSelfSignedCert(dir: string): Promise<CertPair> {
  return await writePair(dir, await generate());
}

async function writePair(dir: string, pair: { cert: string; key: string }): Promise<CertPair> {
  await Deno.mkdir(dir, { recursive: true });
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  await Deno.writeTextFile(certFile, pair.cert);
  await Deno.writeTextFile(keyFile, pair.key, { mode: 0o600 });
  return { certFile, keyFile, cert: pair.cert, key: pair.key };
}

/**
 * SHA-256 fingerprint of the first certificate in a PEM text, as lowercase hex without
 * separators (`openssl x509 -fingerprint -sha256` prints the same digest, upper case with
 * colons).
 */
export async function certFingerprint(pem: string): Promise<string> {
  const match = pem.match(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/);
  if (!match) throw new Error("no PEM certificate found");
  const der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}
