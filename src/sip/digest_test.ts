import assert from "node:assert/strict";
import {
  computeDigestResponse,
  digestAlgorithmOf,
  formatDigestChallenge,
  formatDigestCredentials,
  parseDigest,
  quoteDigestValue,
} from "./digest.ts";
import { computeHa1 } from "./digest_hash.ts";

// RFC 2617 §3.5 example.
const RFC2617_AUTHORIZATION = `Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41"`;

// RFC 7616 §3.9.1 example (password "Circle of Life", lowercase "of": errata 4495).
const RFC7616 = {
  realm: "http-auth@example.org",
  nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
  cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
  opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
};

Deno.test("parseDigest reads the RFC 2617 §3.5 Authorization across folded lines", () => {
  const p = parseDigest(RFC2617_AUTHORIZATION);
  assert.ok(p);
  assert.equal(p.username, "Mufasa");
  assert.equal(p.realm, "testrealm@host.com");
  assert.equal(p.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
  assert.equal(p.uri, "/dir/index.html");
  assert.equal(p.qop, "auth");
  assert.equal(p.nc, "00000001");
  assert.equal(p.cnonce, "0a4f113b");
  assert.equal(p.response, "6629fae49393a05397450978507c4ef1");
  assert.equal(p.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
});

Deno.test("parseDigest unescapes quoted-pairs and keeps commas inside quotes", () => {
  const p = parseDigest(
    String.raw`digest realm="a \"b\", c", nonce="x,y=z", username="back\\slash", uri=sip:a@b`,
  );
  assert.ok(p);
  assert.equal(p.realm, 'a "b", c');
  assert.equal(p.nonce, "x,y=z");
  assert.equal(p.username, "back\\slash");
  assert.equal(p.uri, "sip:a@b");
});

Deno.test("parseDigest lowercases names, tolerates spacing and empty list elements", () => {
  const p = parseDigest(`  DIGEST  Realm = "r" ,, NONCE=n ,algorithm=SHA-256,`);
  assert.ok(p);
  assert.equal(p.realm, "r");
  assert.equal(p.nonce, "n");
  assert.equal(p.algorithm, "SHA-256");
  assert.deepEqual(Object.keys(p).sort(), ["algorithm", "nonce", "realm"]);
  assert.deepEqual(Object.keys(parseDigest("Digest") ?? { x: 1 }), []);
});

Deno.test("parseDigest refuses other schemes and broken grammar", () => {
  for (
    const bad of [
      `Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`,
      `Digestrealm="r"`,
      `Digest realm="unterminated`,
      `Digest realm="r\\"`,
      `Digest realm`,
      `Digest realm=`,
      `Digest realm="r" nonce="n"`,
      `Digest realm="r", realm="s"`,
      `Digest =x`,
      ``,
    ]
  ) {
    assert.equal(parseDigest(bad), undefined, bad);
  }
});

Deno.test("parseDigest treats __proto__ as plain data", () => {
  const p = parseDigest(`Digest __proto__="x", realm="r"`);
  assert.ok(p);
  assert.equal(p["__proto__"], "x");
  assert.equal(p.realm, "r");
});

Deno.test("formatDigestChallenge output parses back, quoting the realm", () => {
  const value = formatDigestChallenge({
    realm: 'ex"ample\\.com',
    nonce: "abc",
    opaque: "op",
    algorithm: "SHA-256",
    qop: "auth",
    stale: true,
  });
  assert.equal(
    value,
    String
      .raw`Digest realm="ex\"ample\\.com", nonce="abc", opaque="op", algorithm=SHA-256, qop="auth", stale=true`,
  );
  const p = parseDigest(value);
  assert.ok(p);
  assert.equal(p.realm, 'ex"ample\\.com');
  assert.equal(p.stale, "true");
  assert.equal(
    formatDigestChallenge({ realm: "r", nonce: "n", algorithm: "MD5" }),
    `Digest realm="r", nonce="n", algorithm=MD5`,
  );
});

Deno.test("formatDigestCredentials round-trips through parseDigest", () => {
  const value = formatDigestCredentials({
    username: "Mufasa",
    realm: "testrealm@host.com",
    nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
    uri: "/dir/index.html",
    qop: "auth",
    nc: "00000001",
    cnonce: "0a4f113b",
    response: "6629fae49393a05397450978507c4ef1",
    opaque: "5ccc069c403ebaf9f0171e9517f40e41",
  });
  assert.deepEqual({ ...parseDigest(value) }, { ...parseDigest(RFC2617_AUTHORIZATION) });
});

/** RFC 2617 §3.5's request without its qop fields: Mufasa's GET of /dir/index.html. */
const RFC2617_REQUEST = {
  algorithm: "MD5",
  ha1: computeHa1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life"),
  nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
  method: "GET",
  uri: "/dir/index.html",
} as const;

Deno.test("computeDigestResponse: RFC 2617 §3.5 (MD5, qop=auth)", () => {
  assert.equal(
    computeDigestResponse({ ...RFC2617_REQUEST, qop: "auth", nc: "00000001", cnonce: "0a4f113b" }),
    "6629fae49393a05397450978507c4ef1",
  );
});

Deno.test("computeDigestResponse: RFC 7616 §3.9.1 with MD5 and SHA-256", () => {
  const expected = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
  } as const;
  for (const algorithm of ["MD5", "SHA-256"] as const) {
    const ha1 = computeHa1(algorithm, "Mufasa", RFC7616.realm, "Circle of Life");
    assert.equal(
      computeDigestResponse({
        algorithm,
        ha1,
        nonce: RFC7616.nonce,
        method: "GET",
        uri: "/dir/index.html",
        qop: "auth",
        nc: "00000001",
        cnonce: RFC7616.cnonce,
      }),
      expected[algorithm],
      algorithm,
    );
  }
});

Deno.test("computeDigestResponse without qop is the RFC 2069 form H(HA1:nonce:HA2)", () => {
  // Independently computed: MD5(HA1:nonce:MD5("GET:/dir/index.html")).
  assert.equal(computeDigestResponse(RFC2617_REQUEST), "670fd8c2df070c60b045671b8b24ff02");
  // The method is part of HA2: the same credentials for another method differ.
  assert.notEqual(
    computeDigestResponse({ ...RFC2617_REQUEST, method: "POST" }),
    "670fd8c2df070c60b045671b8b24ff02",
  );
  // HA2 is remembered for the last method and URI only: each change is hashed anew.
  assert.notEqual(
    computeDigestResponse({ ...RFC2617_REQUEST, uri: "/dir/other.html" }),
    "670fd8c2df070c60b045671b8b24ff02",
  );
  assert.equal(computeDigestResponse(RFC2617_REQUEST), "670fd8c2df070c60b045671b8b24ff02");
});

Deno.test("digestAlgorithmOf: default MD5, case-insensitive, -sess and unknown refused", () => {
  assert.equal(digestAlgorithmOf(undefined), "MD5");
  assert.equal(digestAlgorithmOf("md5"), "MD5");
  assert.equal(digestAlgorithmOf("sha-256"), "SHA-256");
  assert.equal(digestAlgorithmOf("SHA-256"), "SHA-256");
  assert.equal(digestAlgorithmOf("MD5-sess"), undefined);
  assert.equal(digestAlgorithmOf("SHA-512-256"), undefined);
});

Deno.test("quoteDigestValue escapes only quote and backslash", () => {
  assert.equal(quoteDigestValue("plain"), `"plain"`);
  assert.equal(quoteDigestValue(`a"b\\c`), String.raw`"a\"b\\c"`);
});

Deno.test("digestHash equals node:crypto for MD5 and SHA-256, ASCII and UTF-8", async () => {
  const { createHash } = await import("node:crypto");
  const { digestHash } = await import("./digest_hash.ts");
  for (const text of ["", "alice:example.com:secret", "ünï:cødé:😀", "x".repeat(200)]) {
    assert.equal(digestHash("MD5", text), createHash("md5").update(text).digest("hex"));
    assert.equal(digestHash("SHA-256", text), createHash("sha256").update(text).digest("hex"));
  }
});

Deno.test("digest: a value parsed in the text around it reads only its range", () => {
  const values = [
    'Digest username="bob", realm="example.com", nonce="n1", uri="sip:example.com", response="r"',
    'Digest username="b\\"ob",realm="example.com",nc=00000001,qop=auth',
    "Digest realm=x,",
    'Digest realm="open',
    "Digest realm",
    "Digest realm=",
    'Basic "x"',
  ];
  for (const value of values) {
    // What follows the range in a message's head must not be read: a closing quote, an `=`.
    for (const after of ['"\r\n', '="x"\r\n', "\\\r\n", "\r\n"]) {
      const head = `Authorization: ${value}${after}`;
      const from = "Authorization: ".length;
      assert.deepEqual(
        parseDigest(head, from, from + value.length),
        parseDigest(value),
        JSON.stringify(head),
      );
    }
  }
});
