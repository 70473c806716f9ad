import assert from "node:assert/strict";
import { type AuthenticatorOptions, DigestAuthenticator } from "./auth.ts";
import { computeHa1, type DigestAlgorithm } from "../sip/digest_hash.ts";
import {
  computeDigestResponse,
  type DigestCredentials,
  formatDigestChallenge,
  formatDigestCredentials,
  parseDigest,
} from "../sip/digest.ts";
import type { SipRequest } from "../sip/message.ts";
import { parseMessage } from "../sip/parse.ts";

const REALM = "example.com";
const PASSWORDS: Record<string, string> = { alice: "secret", bob: "hunter2" };

function lookup(realm = REALM) {
  return (user: string, algorithm: DigestAlgorithm): string | undefined => {
    const password = PASSWORDS[user];
    return password === undefined ? undefined : computeHa1(algorithm, user, realm, password);
  };
}

/** A test clock plus an authenticator built on it. */
function setup(options: Partial<AuthenticatorOptions> = {}) {
  const clock = { now: 1_700_000_000_000 };
  const auth = new DigestAuthenticator({
    algorithms: ["MD5", "SHA-256"],
    nonceTtlSeconds: 300,
    now: () => clock.now,
    ...options,
  });
  return { clock, auth };
}

/** verify() of REGISTER credentials for REALM: "ok" or the refusal's cause. */
function verdictOf(auth: DigestAuthenticator, credentials: string[]): string {
  const r = auth.verify("REGISTER", credentials, REALM, lookup());
  return r.ok ? "ok" : r.cause;
}

interface Answer {
  user?: string;
  password?: string;
  method?: string;
  uri?: string;
  qop?: boolean;
  nc?: number;
  cnonce?: string;
  /** Overrides applied to the credentials after computing the response. */
  patch?: Partial<DigestCredentials>;
}

/** Answers a challenge value the way a UAC does (RFC 7616 §3.4). */
function answer(challenge: string, a: Answer = {}): string {
  const c = parseDigest(challenge);
  assert.ok(c, "challenge parses");
  const algorithm = (c.algorithm ?? "MD5") as DigestAlgorithm;
  const user = a.user ?? "alice";
  const method = a.method ?? "REGISTER";
  const uri = a.uri ?? "sip:example.com";
  const qop = a.qop ?? true;
  const nc = (a.nc ?? 1).toString(16).padStart(8, "0");
  const cnonce = a.cnonce ?? "0a4f113b";
  const ha1 = computeHa1(algorithm, user, c.realm, a.password ?? PASSWORDS[user] ?? "x");
  const response = computeDigestResponse({
    algorithm,
    ha1,
    nonce: c.nonce,
    method,
    uri,
    ...(qop ? { qop: "auth", nc, cnonce } : {}),
  });
  return formatDigestCredentials({
    username: user,
    realm: c.realm,
    nonce: c.nonce,
    uri,
    response,
    algorithm,
    opaque: c.opaque,
    ...(qop ? { qop: "auth" as const, nc, cnonce } : {}),
    ...a.patch,
  });
}

Deno.test("challenge: one value per algorithm in configured order, one nonce, qop and opaque", () => {
  for (
    const algorithms of [["MD5", "SHA-256"], ["SHA-256", "MD5"], ["SHA-256"]] as DigestAlgorithm[][]
  ) {
    const { auth } = setup({ algorithms });
    const values = auth.challenge(REALM);
    assert.equal(values.length, algorithms.length);
    const parsed = values.map((v) => parseDigest(v)!);
    assert.deepEqual(parsed.map((p) => p.algorithm), algorithms);
    for (const p of parsed) {
      assert.equal(p.realm, REALM);
      assert.equal(p.qop, "auth");
      assert.equal(p.nonce, parsed[0].nonce);
      assert.ok(p.opaque);
      assert.equal(p.stale, undefined);
      assert.match(p.nonce, /^[A-Za-z0-9_-]{32}$/);
    }
  }
  const { auth } = setup();
  assert.ok(auth.challenge(REALM, true).every((v) => parseDigest(v)!.stale === "true"));
  assert.notEqual(
    parseDigest(auth.challenge(REALM)[0])!.nonce,
    parseDigest(auth.challenge(REALM)[0])!.nonce,
  );
});

Deno.test("challenge text is the formatted challenge, stale or not, with the current key's opaque", () => {
  const { auth } = setup({ algorithms: ["SHA-256", "MD5"] });
  const check = (stale: boolean) => {
    const values = auth.challenge(REALM, stale);
    const { nonce, opaque } = parseDigest(values[0])!;
    const algorithms = ["SHA-256", "MD5"] as const;
    values.forEach((v, i) =>
      assert.equal(
        v,
        formatDigestChallenge({
          realm: REALM,
          nonce,
          opaque,
          algorithm: algorithms[i],
          qop: "auth",
          stale,
        }),
      )
    );
    return opaque;
  };
  assert.equal(check(false), check(true));
  const before = check(false);
  auth.setSecrets(new Uint8Array(32).fill(9));
  assert.notEqual(check(false), before, "a new key brings a new opaque");
  assert.equal(check(true), check(false));
});

Deno.test("constructor refuses an empty or unknown algorithm list", () => {
  assert.throws(() => setup({ algorithms: [] }));
  assert.throws(() => setup({ algorithms: ["MD5-sess" as DigestAlgorithm] }));
});

Deno.test("verify accepts a correct answer for MD5 and SHA-256", () => {
  const { auth } = setup();
  const [md5] = auth.challenge(REALM);
  const [, sha256] = auth.challenge(REALM);
  assert.deepEqual(auth.verify("REGISTER", [answer(md5)], REALM, lookup()), {
    ok: true,
    user: "alice",
    algorithm: "MD5",
    repeat: false,
  });
  assert.deepEqual(auth.verify("REGISTER", [answer(sha256, { user: "bob" })], REALM, lookup()), {
    ok: true,
    user: "bob",
    algorithm: "SHA-256",
    repeat: false,
  });
});

Deno.test("verify: the RFC 2617 §3.5 and RFC 7616 §3.9.1 responses are valid (nonce not ours → stale)", () => {
  // These nonces were not issued by us, so the best possible answer is `stale`; a wrong
  // response computation would give `wrong_password` instead.
  const { auth } = setup();
  const rfc2617 = `Digest username="Mufasa", realm="testrealm@host.com",
    nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001,
    cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",
    opaque="5ccc069c403ebaf9f0171e9517f40e41"`;
  const ha1For = (realm: string, password: string) => (user: string, a: DigestAlgorithm) =>
    user === "Mufasa" ? computeHa1(a, user, realm, password) : undefined;
  assert.deepEqual(
    auth.verify(
      "GET",
      [rfc2617],
      "testrealm@host.com",
      ha1For("testrealm@host.com", "Circle Of Life"),
    ),
    { ok: false, cause: "stale", user: "Mufasa" },
  );
  assert.deepEqual(
    auth.verify(
      "GET",
      [rfc2617],
      "testrealm@host.com",
      ha1For("testrealm@host.com", "Circle of Life"),
    ),
    { ok: false, cause: "wrong_password", user: "Mufasa" },
  );

  const rfc7616 = (algorithm: string, response: string) =>
    `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html",
    algorithm=${algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001,
    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="${response}",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`;
  const lookup7616 = ha1For("http-auth@example.org", "Circle of Life");
  assert.deepEqual(
    auth.verify(
      "GET",
      [rfc7616("MD5", "8ca523f5e9506fed4657c9700eebdbec")],
      "http-auth@example.org",
      lookup7616,
    ),
    { ok: false, cause: "stale", user: "Mufasa" },
  );
  const sha = auth.verify(
    "GET",
    [rfc7616("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")],
    "http-auth@example.org",
    lookup7616,
  );
  assert.deepEqual(sha, { ok: false, cause: "stale", user: "Mufasa" });
  const shaWrong = auth.verify(
    "GET",
    [rfc7616("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c0")],
    "http-auth@example.org",
    lookup7616,
  );
  assert.deepEqual(shaWrong, { ok: false, cause: "wrong_password", user: "Mufasa" });
});

Deno.test("verify: wrong password, unknown user, wrong method", () => {
  const { auth } = setup();
  const [c] = auth.challenge(REALM);
  assert.deepEqual(auth.verify("REGISTER", [answer(c, { password: "nope" })], REALM, lookup()), {
    ok: false,
    cause: "wrong_password",
    user: "alice",
  });
  assert.deepEqual(auth.verify("REGISTER", [answer(c, { user: "mallory" })], REALM, lookup()), {
    ok: false,
    cause: "unknown_user",
    user: "mallory",
  });
  // The response covers the method: REGISTER credentials do not authorize an INVITE.
  assert.deepEqual(auth.verify("INVITE", [answer(c, { nc: 2 })], REALM, lookup()), {
    ok: false,
    cause: "wrong_password",
    user: "alice",
  });
});

Deno.test("verify: digest-uri is accepted as sent, response hex case-insensitive", () => {
  const { auth } = setup();
  const [c] = auth.challenge(REALM);
  const odd = answer(c, { uri: "sip:somewhere-else.example;transport=tcp", method: "INVITE" });
  assert.equal(auth.verify("INVITE", [odd], REALM, lookup()).ok, true);
  const p = parseDigest(answer(c, { nc: 2 }))!;
  const upper = answer(c, { nc: 2, patch: { response: p.response.toUpperCase() } });
  assert.equal(auth.verify("REGISTER", [upper], REALM, lookup()).ok, true);
});

Deno.test("verify: nonce older than the TTL is stale; stale challenge then succeeds", () => {
  const { auth, clock } = setup({ nonceTtlSeconds: 60 });
  const [c] = auth.challenge(REALM);
  clock.now += 60_000;
  assert.equal(auth.verify("REGISTER", [answer(c)], REALM, lookup()).ok, true);
  clock.now += 1;
  assert.deepEqual(auth.verify("REGISTER", [answer(c, { nc: 2 })], REALM, lookup()), {
    ok: false,
    cause: "stale",
    user: "alice",
  });
  // Expired nonce with a wrong password is not stale (RFC 7616 §3.3): the user must re-enter.
  assert.equal(
    (auth.verify("REGISTER", [answer(c, { nc: 3, password: "x" })], REALM, lookup()) as {
      cause: string;
    }).cause,
    "wrong_password",
  );
  const [fresh] = auth.challenge(REALM, true);
  assert.equal(parseDigest(fresh)!.stale, "true");
  assert.equal(auth.verify("REGISTER", [answer(fresh)], REALM, lookup()).ok, true);
});

Deno.test("verify: forged, foreign-realm and foreign-secret nonces are stale, never accepted", () => {
  const secret = new Uint8Array(32).fill(7);
  const { auth } = setup({ secret });
  const [c] = auth.challenge(REALM);
  const nonce = parseDigest(c)!.nonce;
  const flipped = nonce.slice(0, 5) + (nonce[5] === "A" ? "B" : "A") + nonce.slice(6);
  for (const forged of [flipped, "A".repeat(32), "short", nonce + "x", "!".repeat(32)]) {
    const value = c.replace(nonce, forged);
    const result = auth.verify("REGISTER", [answer(value)], REALM, lookup());
    assert.deepEqual(result, { ok: false, cause: "stale", user: "alice" }, forged);
  }
  // Issued for another realm: the HMAC covers the realm.
  const [other] = auth.challenge("other.example");
  const moved = other.replace("other.example", REALM);
  assert.equal(verdictOf(auth, [answer(moved)]), "stale");
  // Another instance with another secret does not accept it; one sharing the secret does.
  const stranger = setup().auth;
  assert.equal(verdictOf(stranger, [answer(c)]), "stale");
  const sibling = setup({ secret }).auth;
  assert.equal(sibling.verify("REGISTER", [answer(c)], REALM, lookup()).ok, true);
  // A changed opaque means the challenge was not ours either.
  const badOpaque = answer(c, { nc: 2, patch: { opaque: "zzz" } });
  assert.equal(verdictOf(auth, [badOpaque]), "stale");
});

Deno.test("verify: replayed or non-increasing nonce-count is refused", () => {
  const { auth } = setup();
  const [c] = auth.challenge(REALM);
  const verdict = (nc: number, cnonce?: string) => verdictOf(auth, [answer(c, { nc, cnonce })]);
  assert.equal(verdict(1), "ok");
  assert.equal(verdict(1), "replay");
  assert.equal(verdict(1, "othercnonce"), "replay");
  assert.equal(verdict(3), "ok");
  assert.equal(verdict(2), "replay");
  assert.equal(verdict(3), "replay");
  assert.equal(verdict(4), "ok");
  // nc starts at 1.
  const [c2] = auth.challenge(REALM);
  const zero = auth.verify("REGISTER", [answer(c2, { nc: 0 })], REALM, lookup());
  assert.deepEqual(zero, { ok: false, cause: "replay", user: "alice" });
  // A failed attempt does not consume a count.
  const [c3] = auth.challenge(REALM);
  assert.equal(auth.verify("REGISTER", [answer(c3, { password: "x" })], REALM, lookup()).ok, false);
  assert.equal(auth.verify("REGISTER", [answer(c3)], REALM, lookup()).ok, true);
});

Deno.test("verify: RFC 2069 style (no qop) is accepted and may reuse the nonce until it expires", () => {
  const { auth, clock } = setup();
  const [c] = auth.challenge(REALM);
  const creds = answer(c, { qop: false });
  assert.equal(parseDigest(creds)!.qop, undefined);
  assert.equal(auth.verify("REGISTER", [creds], REALM, lookup()).ok, true);
  assert.equal(auth.verify("REGISTER", [creds], REALM, lookup()).ok, true);
  clock.now += 301_000;
  assert.equal(verdictOf(auth, [creds]), "stale");
});

Deno.test("verify: algorithm param — MD5 by default, -sess and unconfigured ones refused", () => {
  const { auth } = setup({ algorithms: ["MD5"] });
  const [c] = auth.challenge(REALM);
  // No algorithm parameter at all means MD5.
  const noAlgorithm = answer(c).replace(/, algorithm=MD5/, "");
  assert.equal(parseDigest(noAlgorithm)!.algorithm, undefined);
  assert.equal(auth.verify("REGISTER", [noAlgorithm], REALM, lookup()).ok, true);
  const sess = answer(c, { nc: 2 }).replace("algorithm=MD5", "algorithm=MD5-sess");
  assert.deepEqual(auth.verify("REGISTER", [sess], REALM, lookup()), {
    ok: false,
    cause: "algorithm",
    user: "alice",
  });
  // SHA-256 is valid Digest but not configured here.
  const sha = answer(c.replace("algorithm=MD5", "algorithm=SHA-256"), { nc: 3 });
  assert.equal(verdictOf(auth, [sha]), "algorithm");
});

Deno.test("verify: missing, other realm, malformed", () => {
  const { auth } = setup();
  const [c] = auth.challenge(REALM);
  const cause = (creds: string[]) => verdictOf(auth, creds);
  assert.equal(cause([]), "missing");
  assert.equal(cause(["Basic YWxpY2U6c2VjcmV0"]), "missing");
  const [foreign] = auth.challenge("other.example");
  assert.equal(cause([answer(foreign)]), "realm");
  assert.equal(cause([`Digest username="alice", realm="${REALM}", nonce="x`]), "malformed");
  assert.equal(
    cause([answer(c, { patch: { response: undefined } }).replace(/, response="[^"]*"/, "")]),
    "malformed",
  );
  assert.equal(cause([answer(c).replace(/, uri="[^"]*"/, "")]), "malformed");
  assert.equal(cause([answer(c).replace(/, cnonce="[^"]*"/, "")]), "malformed");
  assert.equal(cause([answer(c).replace("nc=00000001", "nc=1")]), "malformed");
  assert.equal(cause([answer(c).replace("nc=00000001", "nc=0000000g")]), "malformed");
  assert.equal(cause([answer(c).replace("nc=00000001", "nc=+0000001")]), "malformed");
  assert.equal(cause([answer(c).replace("qop=auth", "qop=auth-int")]), "malformed");
  assert.equal(cause([answer(c).replace(/username="alice", /, "")]), "malformed");
});

Deno.test("verify picks the credentials whose realm matches among several", () => {
  const { auth } = setup();
  const [mine] = auth.challenge(REALM);
  const [theirs] = auth.challenge("upstream.example");
  const creds = [answer(theirs, { password: "whatever" }), "Basic Zm9v", answer(mine)];
  assert.deepEqual(auth.verify("REGISTER", creds, REALM, lookup()), {
    ok: true,
    user: "alice",
    algorithm: "MD5",
    repeat: false,
  });
});

Deno.test("nonce-count state is a fixed ring: a nonce whose slot a newer one took is stale", () => {
  const { auth, clock } = setup({ maxNonceCounts: 2 });
  const ok = (c: string, nc = 1) => auth.verify("REGISTER", [answer(c, { nc })], REALM, lookup());
  const a = auth.challenge(REALM)[0];
  const b = auth.challenge(REALM)[0];
  assert.equal(ok(a).ok, true);
  assert.equal(ok(b).ok, true);
  clock.now += 5;
  const c = auth.challenge(REALM)[0]; // takes a's slot
  assert.equal(ok(c).ok, true);
  assert.equal(ok(c, 2).ok, true);
  assert.equal((ok(c, 2) as { cause: string }).cause, "replay");
  // a lost its history: refused as stale rather than replayable; b keeps its own.
  assert.equal((ok(a) as { cause: string }).cause, "stale");
  assert.equal((ok(a, 2) as { cause: string }).cause, "stale");
  assert.equal((ok(b) as { cause: string }).cause, "replay");
  assert.equal(ok(b, 2).ok, true);
  // Issued but never used, then overtaken: stale as well.
  clock.now += 5;
  const d = auth.challenge(REALM)[0]; // b's slot
  const e = auth.challenge(REALM)[0]; // c's slot
  assert.equal((ok(b, 3) as { cause: string }).cause, "stale");
  assert.equal(ok(d).ok, true);
  assert.equal(ok(e).ok, true);
});

Deno.test("nonce-count: a nonce of another instance with the same secret takes its slot once", () => {
  const secret = new Uint8Array(32).fill(9);
  const { auth: other } = setup({ secret });
  const { auth, clock } = setup({ secret });
  const foreign = other.challenge(REALM)[0];
  const ok = (nc: number) => auth.verify("REGISTER", [answer(foreign, { nc })], REALM, lookup());
  assert.equal(ok(1).ok, true);
  assert.equal((ok(1) as { cause: string }).cause, "replay");
  assert.equal(ok(2).ok, true);
  // A newer nonce of this instance takes the slot: the foreign one's history is gone.
  clock.now += 10;
  auth.challenge(REALM);
  assert.equal((ok(3) as { cause: string }).cause, "stale");
});

Deno.test("nonce-count: workers with their own slots keep each other's nonces valid", () => {
  const secret = new Uint8Array(32).fill(9);
  const { auth: first } = setup({ secret, maxNonceCounts: 8, slots: { index: 0, count: 2 } });
  const { auth: second, clock } = setup({
    secret,
    maxNonceCounts: 8,
    slots: { index: 1, count: 2 },
  });
  const foreign = first.challenge(REALM)[0];
  const ok = (nc: number) => second.verify("REGISTER", [answer(foreign, { nc })], REALM, lookup());
  assert.equal(ok(1).ok, true);
  // The second issues nonces later, round its whole ring: none takes the first's slot.
  for (let i = 0; i < 8; i++) {
    clock.now += 10;
    second.challenge(REALM);
  }
  assert.equal(ok(2).ok, true);
  assert.equal((ok(2) as { cause: string }).cause, "replay");
});

Deno.test("nonce MAC is SHA-256(secret block | issued-at | random | realm) cut to 12 bytes, as node:crypto computes it", async () => {
  const { createHash } = await import("node:crypto");
  const { Buffer } = await import("node:buffer");
  const secret = new Uint8Array(32).map((_, i) => i * 7);
  const { auth } = setup({ secret });
  for (const realm of [REALM, "ünïcode.example", "x".repeat(300)]) {
    const nonce = parseDigest(auth.challenge(realm)[0])!.nonce;
    const bytes = Buffer.from(nonce, "base64url");
    // The key zero-padded to one 64-byte block (AMAC), then the signed bytes and the realm.
    const block = new Uint8Array(64);
    block.set(secret);
    const expected = createHash("sha256").update(block).update(bytes.subarray(0, 12))
      .update(realm).digest().subarray(0, 12);
    assert.deepEqual([...bytes.subarray(12)], [...expected], realm);
  }
});

Deno.test("verify: after a key rotation nonces of the previous key pass, older ones do not", () => {
  const oldKey = new Uint8Array(32).fill(1);
  const newKey = new Uint8Array(32).fill(2);
  const { auth: before } = setup({ secret: oldKey });
  const [issuedBefore] = before.challenge(REALM);
  const { auth } = setup({ secret: oldKey });
  auth.setSecrets(newKey, oldKey);
  assert.equal(auth.verify("REGISTER", [answer(issuedBefore)], REALM, lookup()).ok, true);
  const [issuedAfter] = auth.challenge(REALM);
  assert.notEqual(parseDigest(issuedAfter)!.opaque, parseDigest(issuedBefore)!.opaque);
  assert.equal(auth.verify("REGISTER", [answer(issuedAfter)], REALM, lookup()).ok, true);
  // A second rotation drops the first key: its nonces are no longer ours.
  auth.setSecrets(new Uint8Array(32).fill(3), newKey);
  const replay = answer(issuedBefore, { nc: 2 });
  assert.equal(verdictOf(auth, [replay]), "stale");
  assert.equal(auth.verify("REGISTER", [answer(issuedAfter, { nc: 2 })], REALM, lookup()).ok, true);
});

Deno.test("verify: the REGISTER accepted last for a nonce, received again, is a repeat; the same credentials in another request are a replay", () => {
  const { auth, clock } = setup();
  const registerWith = (credentials: string) => (cseq: number, callId = "reg-1") =>
    parseMessage(
      new TextEncoder().encode(
        `REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK${cseq}\r\n` +
          `From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: ${callId}\r\n` +
          `CSeq: ${cseq} REGISTER\r\nContact: <sip:alice@127.0.0.1:5070>\r\n` +
          `Authorization: ${credentials}\r\nContent-Length: 0\r\n\r\n`,
      ),
    ) as SipRequest;
  const phone = { host: "127.0.0.1", port: 5070 };
  const verify = (request: SipRequest, method = "REGISTER", source = phone) => {
    const credentials = request.getAll("authorization");
    const r = auth.verify(method, credentials, REALM, lookup(), request, source);
    return r.ok ? (r.repeat ? "repeat" : "ok") : r.cause;
  };
  const register = registerWith(answer(auth.challenge(REALM)[0]));
  assert.equal(verify(register(2)), "ok");
  clock.now += 4_000; // after Timer J: its transaction is gone
  assert.equal(verify(register(2)), "repeat", "a retransmission");
  assert.equal(verify(register(2)), "repeat", "and another");
  assert.equal(verify(register(3)), "replay", "another CSeq");
  // The replay disarmed the repeat.
  assert.equal(verify(register(2)), "replay");
  // Another Call-ID, or the same request from another address: a replay.
  const next = registerWith(answer(auth.challenge(REALM)[0]));
  assert.equal(verify(next(2)), "ok");
  assert.equal(verify(next(2, "reg-2")), "replay");
  const moved = registerWith(answer(auth.challenge(REALM)[0]));
  assert.equal(verify(moved(2)), "ok");
  assert.equal(verify(moved(2), "REGISTER", { host: "127.0.0.9", port: 5070 }), "replay");
  // Past 64·T1 (32 s) a client has stopped retransmitting: a replay.
  const late = registerWith(answer(auth.challenge(REALM)[0]));
  assert.equal(verify(late(2)), "ok");
  clock.now += 40_000;
  assert.equal(verify(late(2)), "replay");
  // Only REGISTER repeats: the same exchange for another method is a replay.
  const [c2] = auth.challenge(REALM);
  const invite = parseMessage(
    new TextEncoder().encode(
      `INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKd1\r\n` +
        `Call-ID: inv-1\r\nCSeq: 1 INVITE\r\n` +
        `Authorization: ${answer(c2, { method: "INVITE" })}\r\nContent-Length: 0\r\n\r\n`,
    ),
  ) as SipRequest;
  assert.equal(verify(invite, "INVITE"), "ok");
  assert.equal(verify(invite, "INVITE"), "replay");
});
