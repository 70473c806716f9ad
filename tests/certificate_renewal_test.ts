/**
 * @module Certificates that renew themselves: the certificate and key files are replaced on
 * disk (atomic renames, cert first then key, as an ACME client does) while a WSS and a TLS
 * client stay connected. Within 10 s new handshakes show the new certificate (checked with
 * `openssl s_client` and by trusting only the new or only the old one), the old connections
 * still carry SIP, and a broken file is refused with a log line while the current pair stays.
 * `/healthz` and `/metrics` report the loaded certificate's expiry (the test certificate
 * lives 2 days, so it is inside the 14-day warning).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createApiApp } from "../src/api/app.ts";
import { configureLog, type LogRecord } from "../src/log.ts";
import { certFingerprint, makeFreshSelfSignedCert } from "./support/certs.ts";
import { startTestServer } from "./support/test_server.ts";
import {
  openTls,
  openWss,
  optionsStatus,
  presentedFingerprint,
  replaceFile,
} from "./support/tls_links.ts";
import { until } from "./support/poll.ts";

Deno.test("a replaced certificate is served within 10 s; connections stay; a bad one is refused", async () => {
  const logged: LogRecord[] = [];
  configureLog({ verbosity: 3, sinks: [(record) => logged.push(record)] });
  await using ts = await startTestServer({
    transports: ["tls", "wss"],
    accounts: [{ user: "alice", domain: "example.test", password: "pw" }],
    configure: (c) => {
      c.certificatePoll = 1;
      c.keys = ["k"];
    },
  });
  try {
    const oldCert = await Deno.readTextFile(ts.config.certificate);
    const oldFp = await certFingerprint(oldCert);
    const wss = await openWss(ts.port("wss"), oldCert);
    const tls = await openTls(ts.port("tls"), oldCert);
    try {
      assert.equal(await presentedFingerprint(ts.port("wss")), oldFp);
      assert.equal(await optionsStatus(wss), 200);

      const fresh = await makeFreshSelfSignedCert(`${ts.dir}/renewed`);
      const newFp = await certFingerprint(fresh.cert);
      assert.notEqual(newFp, oldFp);
      const renewedAt = Date.now();
      await replaceFile(fresh.certFile, ts.config.certificate);
      await replaceFile(fresh.keyFile, ts.config.privateKey);
      // Each worker polls the files on its own: wait until both ports present the new pair.
      // A probe that meets a listener's swap (the old socket closed: a connection in its
      // queue is reset; the new one not bound yet: refused) sees no certificate: not yet.
      const deadline = renewedAt + 10_000;
      let seen: string | undefined = oldFp;
      let seenTls: string | undefined = oldFp;
      let probeError = "";
      const probe = (port: number) =>
        presentedFingerprint(port).catch((e) => {
          probeError = String(e);
          return undefined;
        });
      while ((seen !== newFp || seenTls !== newFp) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        seen = await probe(ts.port("wss"));
        seenTls = await probe(ts.port("tls"));
      }
      assert.equal(seen, newFp, `WSS presents the renewed certificate within 10 s ${probeError}`);
      assert.equal(seenTls, newFp, `TLS too ${probeError}`);

      // The connections opened before the renewal still carry SIP.
      assert.equal(await optionsStatus(wss), 200, "old WSS connection alive");
      assert.equal(await optionsStatus(tls), 200, "old TLS connection alive");
      // A new client trusting only the new certificate connects; trusting the old fails.
      const fresher = await openWss(ts.port("wss"), fresh.cert);
      assert.equal(await optionsStatus(fresher), 200);
      fresher.close();
      await assert.rejects(openWss(ts.port("wss"), oldCert), "the old certificate is gone");

      // Expiry of the loaded certificate in /healthz and /metrics.
      const notAfter = new Date(new X509Certificate(fresh.cert).validTo).getTime();
      const app = createApiApp(ts.server);
      const health = await (await app.request("/healthz", {
        headers: { authorization: "Bearer k" },
      })).json();
      assert.equal(health.certificate.notAfter, new Date(notAfter).toISOString());
      assert.equal(health.certificate.expiring, true, "2 days left is inside 14 days");
      assert.ok(health.certificate.daysLeft <= 2);
      assert.deepEqual(health.certificate.names, ["127.0.0.1", "::1"]);
      const metrics = await (await app.request("/metrics", {
        headers: { authorization: "Bearer k" },
      })).text();
      assert.match(
        metrics,
        new RegExp(`^sipws_certificate_not_after_seconds ${Math.floor(notAfter / 1000)}$`, "m"),
      );
      assert.match(metrics, /^sipws_certificate_expiring 1$/m);
      assert.ok(
        logged.some((r) => r.level === "warn" && /expires .*renew it/.test(r.message)),
        "a warning names the near expiry",
      );

      // A broken certificate file is refused with a log line; the renewed pair stays.
      const refusals = () => logged.filter((r) => /change refused/.test(r.message)).length;
      const before = refusals();
      await Deno.writeTextFile(`${ts.config.certificate}.new`, "not a certificate\n");
      await Deno.rename(`${ts.config.certificate}.new`, ts.config.certificate);
      await until("the refusal", () => refusals() > before || undefined, 10_000);
      assert.equal(logged.at(-1)!.level, "error");
      assert.equal(await presentedFingerprint(ts.port("wss")), newFp, "WSS keeps the good pair");
      assert.equal(await presentedFingerprint(ts.port("tls")), newFp, "TLS keeps the good pair");
      assert.equal(await optionsStatus(wss), 200, "and the old connection");
    } finally {
      wss.close();
      tls.close();
    }
  } finally {
    configureLog({ verbosity: 0, sinks: [] });
  }
});
