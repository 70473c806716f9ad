/**
 * @module Self-signed TLS certificate for loopback integration tests (TLS and WSS
 * listeners). Made once per test process with the `openssl` CLI: EC P-256, CN=127.0.0.1,
 * subjectAltName IP:127.0.0.1 and IP:::1, valid 2 days. Later calls copy the cached pair
 * into the requested directory; `makeFreshSelfSignedCert` makes a distinct pair on every call
 * (certificate reload tests); `makeCaSignedCert` makes a test CA and a certificate it issued
 * (chain checks, WSS client verification) and `makeExpiredCert` one that expired yesterday.
 * This module never trusts the certificate anywhere; clients
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

/** A test CA and a server certificate it issued for 127.0.0.1 and ::1 (fresh each call). */
export interface CaSignedPair {
  /** PEM of the CA certificate (what a client trusts). */
  ca: string;
  /** The server certificate alone, its key, and the chain file (server then CA). */
  certFile: string;
  keyFile: string;
  chainFile: string;
}

/** Makes a CA and a server certificate signed by it in `dir`, with the openssl CLI. */
export async function makeCaSignedCert(dir: string): Promise<CaSignedPair> {
  await Deno.mkdir(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const run = async (args: string[]) => {
    const result = await runCommand("openssl", { args, timeoutMs: 30_000 });
    if (result.code !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
  };
  await run([
    "req",
    "-x509",
    ...ec,
    "-days",
    "2",
    "-subj",
    "/CN=sipws test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=keyCertSign,cRLSign",
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
  ]);
  await run([
    "req",
    "-new",
    ...ec,
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/server.csr`,
  ]);
  await Deno.writeTextFile(
    `${dir}/ext.cnf`,
    "subjectAltName=IP:127.0.0.1,IP:::1\nbasicConstraints=critical,CA:FALSE\n",
  );
  await run([
    "x509",
    "-req",
    "-in",
    `${dir}/server.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    `${dir}/ext.cnf`,
    "-out",
    `${dir}/cert.pem`,
  ]);
  const ca = await Deno.readTextFile(`${dir}/ca.pem`);
  const leaf = await Deno.readTextFile(`${dir}/cert.pem`);
  await Deno.writeTextFile(`${dir}/chain.pem`, leaf + ca);
  return {
    ca,
    certFile: `${dir}/cert.pem`,
    keyFile: `${dir}/key.pem`,
    chainFile: `${dir}/chain.pem`,
  };
}

/** A self-signed certificate for 127.0.0.1 that expired yesterday. */
export async function makeExpiredCert(dir: string): Promise<{ certFile: string; keyFile: string }> {
  await Deno.mkdir(dir, { recursive: true });
  const csr = `${dir}/expired.csr`;
  const keyFile = `${dir}/expired.key`;
  const certFile = `${dir}/expired.pem`;
  for (
    const args of [
      [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        keyFile,
        "-out",
        csr,
      ],
      ["x509", "-req", "-in", csr, "-signkey", keyFile, "-days", "-1", "-out", certFile],
    ]
  ) {
    const result = await runCommand("openssl", { args, timeoutMs: 30_000 });
    if (result.code !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
  }
  return { certFile, keyFile };
}
