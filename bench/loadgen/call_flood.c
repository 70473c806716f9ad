/*
 * call_flood: the bench's cheap call generator over UDP (see bench/support/call_flood.ts,
 * which compiles and runs it). One process is both ends of every call, as sipp's UAC
 * (bench/scenarios/uac_auth_call.xml) and UAS (uas_load.xml) are in the call ladder: it
 * first REGISTERs the callee (digest) with the UAS socket's address as its Contact, then
 * places calls as the caller through the server, each on its own Call-ID:
 *   INVITE -> 407 -> ACK -> INVITE with Proxy-Authorization (MD5, qop=auth when offered)
 *   -> (the UAS side gets the INVITE and answers 180, 200) -> ACK -> BYE -> 200,
 * and at the end removes the callee's binding (Expires: 0). A call that gets another final
 * answer, or no answer after 7 retransmissions, or does not end within --call-timeout, is
 * failed. Requests are retransmitted at T1 = 500 ms doubling up to T2 = 4 s (for an INVITE
 * only until a provisional answer); the UAS side retransmits its 200 the same way until the
 * ACK, and answers a retransmitted INVITE or BYE with the same response again.
 * With --concurrency=N it runs a closed loop: N calls in flight for SECONDS (RATE then only
 * bounds how many may start); without, it starts RATE calls a second (open loop). Calls are
 * spread over --sockets=N caller source ports (Call-IDs and sockets vary, as a server's
 * workers see from many phones). After SECONDS it waits up to DRAIN seconds for the calls
 * still open, then prints one JSON line with its totals and its own CPU per call.
 *
 *   call_flood --target=127.0.0.1:5060 --rate=100000 --seconds=10 --concurrency=200
 *     --user=bench --password=secret --callee=bob --callee-password=secret2
 *     --domain=example.test [--sockets=8] [--drain=10] [--call-timeout=32] [--uas-port=N]
 */
#define _GNU_SOURCE
#include <poll.h>
#include <time.h>
#include <unistd.h>

/* loadgen.h brings the socket, string and stdio headers both generators use. */
#define LOADGEN_NAME "call_flood"
#include "loadgen.h"

#define BATCH 64
#define MAX_MSG 2000
#define MAX_RETRANS 7
#define T1_MS 500
#define MAX_SOCKETS 32
#define MAX_LIST 8
#define UAS_TIMER 0x80000000u

enum { C_WAIT_407, C_WAIT_200, C_WAIT_BYE, C_DONE };
enum { U_NONE, U_ANSWERED, U_CONFIRMED, U_ENDED };

/*
 * One call: the caller's side (state, the request it retransmits) and the callee's (its
 * 200, retransmitted until the ACK). Timers carry a generation, bumped when what they
 * retransmit is answered.
 */
typedef struct {
  int64_t start_ns;
  char *msg, *uas_msg;
  uint16_t msg_len, uas_len;
  uint8_t state, sends, uas_state, uas_sends;
  uint32_t gen, uas_gen;
} call_t;

/* One socket and its outgoing batch. */
typedef struct {
  int fd, port;
  char out[BATCH][MAX_MSG];
  struct mmsghdr h[BATCH];
  struct iovec iov[BATCH];
  int n;
} sock_t;

/* A user's HA1 for the last realm it was challenged in. */
typedef struct {
  const char *user, *password;
  char realm[128], ha1[33];
} cred_t;

/* The parts of a SIP message the generator reads; values point into the datagram. */
typedef struct {
  const char *v;
  size_t n;
} span_t;
typedef struct {
  int status; /* 0 for a request */
  span_t method, call_id, cseq, cseq_method, to, from, contact_uri, challenge;
  long cseq_num;
  span_t via[MAX_LIST], rr[MAX_LIST];
  int nvia, nrr;
} msg_t;

static struct {
  const char *domain, *callee;
  cred_t caller, callee_cred;
  struct sockaddr_in target;
  sock_t *socks; /* nsock caller sockets, then the UAS socket */
  sock_t *uas;
  int nsock;
  long pid;
  call_t *calls;
  uint32_t total, started, open;
  fifo_t timers[4]; /* 500, 1000, 2000, 4000 ms */
  fifo_t deadlines; /* each call's --call-timeout */
  int64_t call_timeout_ns;
  uint64_t completed, failed, shed, timeouts, retransmits, stray, sends;
  uint64_t uas_invites, uas_repeats, uas_retransmits, uas_timeouts;
  uint64_t statuses[700];
  uint32_t *latency_us;
  int64_t t0_ns, last_end_ns;
} g;

static const char SDP[] = "v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
                          "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
                          "a=rtpmap:0 PCMU/8000\r\n";

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- writing messages ---- */

static char *put_span(char *p, span_t s) {
  memcpy(p, s.v, s.n);
  return p + s.n;
}

static int port_of(uint32_t idx) { return g.socks[idx % (uint32_t)g.nsock].port; }

/* Via (branch named by the call, `tag` and CSeq), From, Call-ID and Max-Forwards. */
static char *put_caller_head(char *p, uint32_t idx, const char *tag, long cseq) {
  p = put(p, " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:");
  p = put_u(p, (uint64_t)port_of(idx));
  p = put(p, ";branch=z9hG4bK-");
  p = put_u(p, (uint64_t)g.pid);
  *p++ = '-';
  p = put_u(p, idx);
  *p++ = '-';
  p = put(p, tag);
  p = put_u(p, (uint64_t)cseq);
  p = put(p, ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:");
  p = put(p, g.caller.user);
  *p++ = '@';
  p = put(p, g.domain);
  p = put(p, ">;tag=");
  p = put_u(p, (uint64_t)g.pid);
  *p++ = 'c';
  p = put_u(p, idx);
  p = put(p, "\r\nCall-ID: ");
  p = put_u(p, idx);
  *p++ = '-';
  p = put_u(p, (uint64_t)g.pid);
  p = put(p, "@callflood\r\n");
  return p;
}

static char *put_ruri(char *p, const char *method) {
  p = put(p, method);
  p = put(p, " sip:");
  p = put(p, g.callee);
  *p++ = '@';
  return put(p, g.domain);
}

/* The INVITE with CSeq `cseq`; `auth` (a Proxy-Authorization line) once challenged. */
static int build_invite(char *buf, uint32_t idx, long cseq, const char *auth, size_t auth_len) {
  char *p = put_ruri(buf, "INVITE");
  p = put_caller_head(p, idx, "i", cseq);
  p = put(p, "To: <sip:");
  p = put(p, g.callee);
  *p++ = '@';
  p = put(p, g.domain);
  p = put(p, ">\r\nCSeq: ");
  p = put_u(p, (uint64_t)cseq);
  p = put(p, " INVITE\r\nContact: <sip:");
  p = put(p, g.caller.user);
  p = put(p, "@127.0.0.1:");
  p = put_u(p, (uint64_t)port_of(idx));
  p = put(p, ";transport=udp>\r\n");
  if (auth) {
    memcpy(p, auth, auth_len);
    p += auth_len;
  }
  p = put(p, "Content-Type: application/sdp\r\nContent-Length: ");
  p = put_u(p, sizeof SDP - 1);
  p = put(p, "\r\n\r\n");
  p = put(p, SDP);
  return (int)(p - buf);
}

/*
 * The ACK of INVITE `cseq` answered by `m`: for a failure, in its transaction (the INVITE's
 * Request-URI and branch); for a 2xx, a request of the dialog (to the Contact, along the
 * Record-Route reversed, a new branch). With `bye`, the dialog's BYE (CSeq + 1) instead.
 */
static int build_in_dialog(char *buf, uint32_t idx, const msg_t *m, int bye) {
  int ok = m->status < 300;
  const char *method = bye ? "BYE" : "ACK";
  char *p;
  if (ok && m->contact_uri.n) {
    p = put(put(buf, method), " ");
    p = put_span(p, m->contact_uri);
  } else {
    p = put_ruri(buf, method);
  }
  p = put_caller_head(p, idx, ok ? (bye ? "b" : "a") : "i", m->cseq_num);
  p = put(p, "To: ");
  p = put_span(p, m->to);
  p = put(p, "\r\n");
  if (ok) {
    for (int i = m->nrr - 1; i >= 0; i--) {
      p = put(p, "Route: ");
      p = put_span(p, m->rr[i]);
      p = put(p, "\r\n");
    }
  }
  p = put(p, "CSeq: ");
  p = put_u(p, (uint64_t)(m->cseq_num + bye));
  p = put(p, bye ? " BYE\r\n" : " ACK\r\n");
  p = put(p, "Content-Length: 0\r\n\r\n");
  return (int)(p - buf);
}

/* The UAS side's answer `status` to request `m` (a 200 to an INVITE carries SDP). */
static int build_response(char *buf, const msg_t *m, int status, uint32_t idx) {
  char *p = put(buf, status == 180 ? "SIP/2.0 180 Ringing\r\n" : "SIP/2.0 200 OK\r\n");
  for (int i = 0; i < m->nvia; i++) {
    p = put(p, "Via: ");
    p = put_span(p, m->via[i]);
    p = put(p, "\r\n");
  }
  p = put(p, "From: ");
  p = put_span(p, m->from);
  p = put(p, "\r\nTo: ");
  p = put_span(p, m->to);
  int invite = m->cseq_method.n == 6 && memcmp(m->cseq_method.v, "INVITE", 6) == 0;
  if (invite) { /* the INVITE's To has no tag yet: the UAS's, named by the call */
    p = put(p, ";tag=");
    p = put_u(p, (uint64_t)g.pid);
    *p++ = 'u';
    p = put_u(p, idx);
  }
  p = put(p, "\r\nCall-ID: ");
  p = put_span(p, m->call_id);
  p = put(p, "\r\nCSeq: ");
  p = put_span(p, m->cseq);
  p = put(p, "\r\n");
  if (invite) {
    for (int i = 0; i < m->nrr; i++) {
      p = put(p, "Record-Route: ");
      p = put_span(p, m->rr[i]);
      p = put(p, "\r\n");
    }
    p = put(p, "Contact: <sip:");
    p = put(p, g.callee);
    p = put(p, "@127.0.0.1:");
    p = put_u(p, (uint64_t)g.uas->port);
    p = put(p, ";transport=udp>\r\n");
  }
  if (invite && status == 200) {
    p = put(p, "Content-Type: application/sdp\r\nContent-Length: ");
    p = put_u(p, sizeof SDP - 1);
    p = put(p, "\r\n\r\n");
    p = put(p, SDP);
  } else {
    p = put(p, "Content-Length: 0\r\n\r\n");
  }
  return (int)(p - buf);
}

/* ---- sending ---- */

static void flush_socket(sock_t *k) { g.sends += send_batch(k->fd, k->h, &k->n); }

static void flush(void) {
  for (int i = 0; i <= g.nsock; i++) {
    if (g.socks[i].n) flush_socket(&g.socks[i]);
  }
}

/* The next outgoing slot of socket `k`; `queue` sends its first `len` bytes with the batch. */
static char *slot(sock_t *k) {
  if (k->n == BATCH) flush_socket(k);
  return k->out[k->n];
}

static void queue(sock_t *k, int len) {
  k->iov[k->n].iov_len = (size_t)len;
  k->n++;
}

static void send_copy(sock_t *k, const char *msg, int len) {
  memcpy(slot(k), msg, (size_t)len);
  queue(k, len);
}

static sock_t *caller_sock(uint32_t idx) { return &g.socks[idx % (uint32_t)g.nsock]; }

static void arm(uint32_t idx, uint32_t gen, uint8_t sends, int64_t now) {
  int step = sends < 3 ? sends : 3; /* T1, 2·T1, 4·T1, then T2 */
  fifo_push(&g.timers[step], idx, gen, now + (int64_t)(T1_MS << step) * 1000000);
}

/* (Re)sends call `idx`'s current request and arms its next retransmission. */
static void send_current(uint32_t idx, int64_t now) {
  call_t *c = &g.calls[idx];
  sock_t *k = caller_sock(idx);
  if (c->state == C_WAIT_407) {
    char *buf = slot(k);
    queue(k, build_invite(buf, idx, 1, NULL, 0));
  } else {
    send_copy(k, c->msg, c->msg_len);
  }
  arm(idx, c->gen, c->sends, now);
  c->sends++;
}

/* Keeps `len` bytes of `buf` as call `idx`'s request to retransmit, and sends it. */
static void start_request(uint32_t idx, uint8_t state, const char *buf, int len, int64_t now) {
  call_t *c = &g.calls[idx];
  free(c->msg);
  c->msg = must(malloc((size_t)len));
  memcpy(c->msg, buf, (size_t)len);
  c->msg_len = (uint16_t)len;
  c->state = state;
  c->sends = 0;
  c->gen++;
  send_current(idx, now);
}

static void finish(uint32_t idx, int ok, int64_t at) {
  call_t *c = &g.calls[idx];
  if (ok) {
    int64_t us = (at - c->start_ns) / 1000;
    g.latency_us[g.completed++] = us > 0 ? (uint32_t)us : 0;
  } else {
    g.failed++;
  }
  c->state = C_DONE;
  c->gen++;
  free(c->msg);
  c->msg = NULL;
  g.open--;
  if (at > g.last_end_ns) g.last_end_ns = at;
}

/* ---- reading messages ---- */

/* Appends the comma-separated values of one Via or Record-Route line to `list`. */
static void split_list(const char *v, const char *end, span_t *list, int *n) {
  while (v < end && *n < MAX_LIST) {
    const char *s = v;
    int angle = 0, quote = 0;
    while (v < end && (angle || quote || *v != ',')) {
      if (*v == '"') quote = !quote;
      else if (!quote && *v == '<') angle = 1;
      else if (!quote && *v == '>') angle = 0;
      v++;
    }
    const char *e = v;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    list[(*n)++] = (span_t){s, (size_t)(e - s)};
    if (v < end) v++;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
  }
}

/* Parses the head of `n` bytes at `m`; 0, or -1 if it is not a SIP message we can read. */
static int parse(const char *m, size_t n, msg_t *out) {
  const char *end = m + n;
  memset(out, 0, sizeof *out);
  const char *eol = memchr(m, '\n', n);
  /* What is copied from a message into an answer fits an outgoing slot. */
  if (!eol || n < 12 || n > MAX_MSG - 600) return -1;
  if (memcmp(m, "SIP/2.0 ", 8) == 0) {
    out->status = (m[8] - '0') * 100 + (m[9] - '0') * 10 + (m[10] - '0');
    if (out->status < 100 || out->status > 699) return -1;
  } else {
    const char *sp = memchr(m, ' ', (size_t)(eol - m));
    if (!sp) return -1;
    out->method = (span_t){m, (size_t)(sp - m)};
  }
  const char *line = eol;
  while (++line < end) {
    eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) eol = end;
    const char *vend = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
    if (vend == line) break; /* end of headers */
    const char *v;
    if ((v = header(line, vend, "via", 'v'))) {
      split_list(v, vend, out->via, &out->nvia);
    } else if ((v = header(line, vend, "record-route", 0))) {
      split_list(v, vend, out->rr, &out->nrr);
    } else if ((v = header(line, vend, "call-id", 'i'))) {
      out->call_id = (span_t){v, (size_t)(vend - v)};
    } else if ((v = header(line, vend, "cseq", 0))) {
      out->cseq = (span_t){v, (size_t)(vend - v)};
      char *after;
      out->cseq_num = strtol(v, &after, 10);
      while (after < vend && *after == ' ') after++;
      out->cseq_method = (span_t){after, (size_t)(vend - after)};
    } else if ((v = header(line, vend, "to", 't'))) {
      out->to = (span_t){v, (size_t)(vend - v)};
    } else if ((v = header(line, vend, "from", 'f'))) {
      out->from = (span_t){v, (size_t)(vend - v)};
    } else if ((v = header(line, vend, "contact", 'm'))) {
      const char *lt = memchr(v, '<', (size_t)(vend - v));
      const char *gt = lt ? memchr(lt, '>', (size_t)(vend - lt)) : NULL;
      if (lt && gt) out->contact_uri = (span_t){lt + 1, (size_t)(gt - lt - 1)};
    } else if ((v = header(line, vend, "proxy-authenticate", 0)) ||
               (v = header(line, vend, "www-authenticate", 0))) {
      /* Several challenges (RFC 8760): the MD5 one, or the one naming no algorithm. */
      size_t an;
      const char *alg = vend - v >= 7 && strncasecmp(v, "Digest ", 7) == 0
                            ? param(v + 7, vend, "algorithm", &an)
                            : v;
      if (!alg || (alg != v && an == 3 && strncasecmp(alg, "MD5", 3) == 0)) {
        out->challenge = (span_t){v + 7, (size_t)(vend - v - 7)};
      }
    }
    line = eol;
  }
  return out->call_id.n && out->cseq.n && out->to.n && out->from.n && out->nvia ? 0 : -1;
}

/* The call a Call-ID names (`<idx>-<pid>@callflood`), or -1 if not one of this run's. */
static long call_of(span_t id) {
  char tmp[48];
  if (id.n >= sizeof tmp) return -1;
  memcpy(tmp, id.v, id.n);
  tmp[id.n] = 0;
  char *after;
  long idx = strtol(tmp, &after, 10);
  if (*after != '-' || strtol(after + 1, &after, 10) != g.pid) return -1;
  return strncmp(after, "@callflood", 10) == 0 && idx >= 0 && idx < (long)g.started ? idx : -1;
}

/*
 * The `name` line (Authorization or Proxy-Authorization) answering challenge `ch` for
 * `method` `uri` as `cred`, into `out`; its length, or -1 if the challenge is unusable.
 */
static int digest(char *out, size_t cap, const char *name, cred_t *cred, const char *method,
                  const char *uri, span_t ch, uint32_t seed) {
  const char *end = ch.v + ch.n;
  size_t realm_n = 0, nonce_n = 0, opaque_n = 0, qop_n = 0, alg_n = 0;
  const char *realm = param(ch.v, end, "realm", &realm_n);
  const char *nonce = param(ch.v, end, "nonce", &nonce_n);
  const char *opaque = param(ch.v, end, "opaque", &opaque_n);
  const char *qop = param(ch.v, end, "qop", &qop_n);
  const char *alg = param(ch.v, end, "algorithm", &alg_n);
  if (!realm || !nonce || realm_n >= sizeof cred->realm || nonce_n > 200 || opaque_n > 200) {
    return -1;
  }
  if (alg && !(alg_n == 3 && strncasecmp(alg, "MD5", 3) == 0)) return -1;
  if (strlen(cred->realm) != realm_n || memcmp(cred->realm, realm, realm_n) != 0) {
    memcpy(cred->realm, realm, realm_n);
    cred->realm[realm_n] = 0;
    char a1[512];
    int n = snprintf(a1, sizeof a1, "%s:%s:%s", cred->user, cred->realm, cred->password);
    md5_of(cred->ha1, a1, (size_t)n);
  }
  char a2[300], ha2[33];
  md5_of(ha2, a2, (size_t)snprintf(a2, sizeof a2, "%s:%s", method, uri));
  int with_qop = qop && memmem(qop, qop_n, "auth", 4) != NULL;
  char cnonce[16];
  snprintf(cnonce, sizeof cnonce, "%x", seed);
  char response[33];
  digest_response(response, cred->ha1, nonce, nonce_n, cnonce, with_qop, ha2);
  int an = snprintf(out, cap,
                    "%s: Digest username=\"%s\",realm=\"%s\",nonce=\"%.*s\",uri=\"%s\","
                    "response=\"%s\",algorithm=MD5",
                    name, cred->user, cred->realm, (int)nonce_n, nonce, uri, response);
  if (with_qop) {
    an += snprintf(out + an, cap - (size_t)an, ",cnonce=\"%s\",qop=auth,nc=00000001", cnonce);
  }
  if (opaque) {
    an += snprintf(out + an, cap - (size_t)an, ",opaque=\"%.*s\"", (int)opaque_n, opaque);
  }
  an += snprintf(out + an, cap - (size_t)an, "\r\n");
  return an;
}

/* ---- the caller's side ---- */

static void send_ack(uint32_t idx, const msg_t *m) {
  sock_t *k = caller_sock(idx);
  char *buf = slot(k);
  queue(k, build_in_dialog(buf, idx, m, 0));
}

static void on_invite_response(uint32_t idx, const msg_t *m, int64_t now) {
  call_t *c = &g.calls[idx];
  long current = c->state == C_WAIT_407 ? 1 : c->state == C_WAIT_200 ? 2 : 0;
  if (m->status < 200) {
    /* A provisional answer to the INVITE in progress stops its retransmissions. */
    if (m->cseq_num == current && c->sends) {
      c->sends = 0;
      c->gen++;
    }
    return;
  }
  send_ack(idx, m); /* every final answer to an INVITE, retransmitted ones too */
  if (m->cseq_num != current) {
    g.stray++; /* a retransmitted final answer: acknowledged again above */
    return;
  }
  g.statuses[m->status]++;
  if ((m->status == 407 || m->status == 401) && current == 1 && m->challenge.n) {
    char auth[800], uri[200], buf[MAX_MSG];
    snprintf(uri, sizeof uri, "sip:%s@%s", g.callee, g.domain);
    const char *name = m->status == 407 ? "Proxy-Authorization" : "Authorization";
    int an = digest(auth, sizeof auth, name, &g.caller, "INVITE", uri, m->challenge, idx);
    if (an > 0) {
      start_request(idx, C_WAIT_200, buf, build_invite(buf, idx, 2, auth, (size_t)an), now);
      return;
    }
  }
  if (m->status >= 300) {
    g.shed += m->status == 503; /* an overloaded server's refusal: failed, counted apart */
    finish(idx, 0, now);
    return;
  }
  char buf[MAX_MSG];
  start_request(idx, C_WAIT_BYE, buf, build_in_dialog(buf, idx, m, 1), now);
}

static void on_response(const msg_t *m, int64_t now) {
  long idx = call_of(m->call_id);
  if (idx < 0) {
    g.stray++;
    return;
  }
  if (m->cseq_method.n == 6 && memcmp(m->cseq_method.v, "INVITE", 6) == 0) {
    on_invite_response((uint32_t)idx, m, now);
    return;
  }
  call_t *c = &g.calls[idx];
  if (m->status < 200) return;
  if (c->state != C_WAIT_BYE || m->cseq_method.n != 3 || memcmp(m->cseq_method.v, "BYE", 3)) {
    g.stray++;
    return;
  }
  g.statuses[m->status]++;
  finish((uint32_t)idx, m->status < 300, now);
}

/* ---- the callee's side ---- */

static void answer(const msg_t *m, int status, uint32_t idx) {
  char *buf = slot(g.uas);
  queue(g.uas, build_response(buf, m, status, idx));
}

static void uas_done(call_t *c, uint8_t state) {
  c->uas_state = state;
  c->uas_gen++;
  free(c->uas_msg);
  c->uas_msg = NULL;
}

static void on_request(const msg_t *m, int64_t now) {
  long idx = call_of(m->call_id);
  int is = (int)m->method.n;
  const char *meth = m->method.v;
  if (idx < 0) {
    g.stray++;
    return;
  }
  call_t *c = &g.calls[idx];
  if (is == 6 && memcmp(meth, "INVITE", 6) == 0) {
    if (c->uas_state != U_NONE) { /* retransmitted: the same final answer again */
      g.uas_repeats++;
      answer(m, 200, (uint32_t)idx);
      return;
    }
    g.uas_invites++;
    answer(m, 180, (uint32_t)idx);
    char buf[MAX_MSG];
    int len = build_response(buf, m, 200, (uint32_t)idx);
    send_copy(g.uas, buf, len);
    c->uas_msg = must(malloc((size_t)len));
    memcpy(c->uas_msg, buf, (size_t)len);
    c->uas_len = (uint16_t)len;
    c->uas_state = U_ANSWERED;
    c->uas_sends = 1;
    arm((uint32_t)idx | UAS_TIMER, c->uas_gen, 0, now);
  } else if (is == 3 && memcmp(meth, "ACK", 3) == 0) {
    if (c->uas_state == U_ANSWERED) uas_done(c, U_CONFIRMED);
  } else if (is == 3 && memcmp(meth, "BYE", 3) == 0) {
    if (c->uas_state == U_ENDED) g.uas_repeats++;
    else uas_done(c, U_ENDED);
    answer(m, 200, (uint32_t)idx);
  } else {
    g.stray++;
  }
}

/* ---- the loop ---- */

static char in_buf[BATCH][4096];
static struct mmsghdr in_h[BATCH];
static struct iovec in_iov[BATCH];

static void receive_socket(int fd) {
  for (;;) {
    int n = receive_batch(fd, in_h, BATCH);
    if (n == 0) return;
    int64_t now = now_ns();
    for (int i = 0; i < n; i++) {
      msg_t m;
      if (parse(in_buf[i], in_h[i].msg_len, &m) != 0) {
        g.stray++;
      } else if (m.status) {
        on_response(&m, now);
      } else {
        on_request(&m, now);
      }
    }
    flush();
    if (n < BATCH) return;
  }
}

static void fire_timers(int64_t now) {
  for (int k = 0; k < 4; k++) {
    fifo_t *q = &g.timers[k];
    while (q->head < q->tail && q->v[q->head].due <= now) {
      timer_t_ t = q->v[q->head++];
      uint32_t idx = t.idx & ~UAS_TIMER;
      call_t *c = &g.calls[idx];
      if (t.idx & UAS_TIMER) {
        if (c->uas_gen != t.gen || c->uas_state != U_ANSWERED) continue;
        if (c->uas_sends > MAX_RETRANS) {
          g.uas_timeouts++;
          uas_done(c, U_ENDED);
        } else {
          g.uas_retransmits++;
          send_copy(g.uas, c->uas_msg, c->uas_len);
          arm(t.idx, c->uas_gen, c->uas_sends++, now);
        }
      } else if (c->gen == t.gen && c->state != C_DONE) {
        if (c->sends > MAX_RETRANS) {
          g.timeouts++;
          finish(idx, 0, now);
        } else {
          g.retransmits++;
          send_current(idx, now);
        }
      }
    }
  }
  fifo_t *q = &g.deadlines;
  while (q->head < q->tail && q->v[q->head].due <= now) {
    uint32_t idx = q->v[q->head++].idx;
    if (g.calls[idx].state != C_DONE) {
      g.timeouts++;
      finish(idx, 0, now);
    }
  }
}

/* ---- the callee's registration ---- */

/*
 * One REGISTER of the callee from the UAS socket (Contact: that socket, `expires`), answered
 * with digest when challenged; the final status, or 0 on no answer.
 */
static int register_callee(int expires) {
  char buf[MAX_MSG], auth[800] = "", uri[200], in[4096];
  snprintf(uri, sizeof uri, "sip:%s", g.domain);
  int an = 0;
  long first = expires ? 1 : 3; /* one Call-ID for both: its CSeq goes up */
  for (long cseq = first; cseq <= first + 1; cseq++) {
    int len = snprintf(buf, sizeof buf,
                       "REGISTER %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%ld-"
                       "r%d-%ld;rport\r\nMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%ldr\r\n"
                       "To: <sip:%s@%s>\r\nCall-ID: reg-%ld@callflood\r\nCSeq: %ld REGISTER\r\n"
                       "Contact: <sip:%s@127.0.0.1:%d;transport=udp>\r\nExpires: %d\r\n%.*s"
                       "Content-Length: 0\r\n\r\n",
                       uri, g.uas->port, g.pid, expires, cseq, g.callee, g.domain, g.pid,
                       g.callee, g.domain, g.pid, cseq, g.callee, g.uas->port, expires, an, auth);
    int status = 0;
    msg_t m;
    for (int attempt = 0; attempt <= MAX_RETRANS && !status; attempt++) {
      if (send(g.uas->fd, buf, (size_t)len, 0) < 0 && errno != ECONNREFUSED) {
        perror("call_flood: send REGISTER");
        exit(2);
      }
      int64_t until = now_ns() + (int64_t)T1_MS * 1000000;
      for (int64_t left; !status && (left = until - now_ns()) > 0;) {
        struct pollfd p = {.fd = g.uas->fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left / 1000000) + 1) <= 0) continue;
        ssize_t n = recv(g.uas->fd, in, sizeof in, MSG_DONTWAIT);
        if (n > 0 && parse(in, (size_t)n, &m) == 0 && m.status >= 200 && m.cseq_num == cseq &&
            m.call_id.n > 4 && memcmp(m.call_id.v, "reg-", 4) == 0) {
          status = m.status;
        }
      }
    }
    if (status != 401 || cseq == first + 1) return status;
    an = m.challenge.n ? digest(auth, sizeof auth, "Authorization", &g.callee_cred, "REGISTER",
                                uri, m.challenge, 0)
                       : -1;
    if (an < 0) return status;
  }
  return 0;
}

/* ---- setup and report ---- */

/* A UDP socket from 127.0.0.1:`port` (0: any) connected to the target; its port, or -1. */
static int open_socket(sock_t *k, int port) {
  k->fd = socket(AF_INET, SOCK_DGRAM, 0);
  k->port = connect_local(k->fd, port, &g.target);
  if (k->port < 0) return -1;
  set_buffer(k->fd, SO_RCVBUFFORCE, SO_RCVBUF, 8 << 20);
  set_buffer(k->fd, SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20);
  batch_setup(k->h, k->iov, k->out[0], sizeof k->out[0], BATCH, 0);
  return k->port;
}

int main(int argc, char **argv) {
  md5_init_table();
  const char *target = opt(argc, argv, "target", NULL);
  double rate = atof(opt(argc, argv, "rate", NULL));
  double seconds = atof(opt(argc, argv, "seconds", NULL));
  double drain = atof(opt(argc, argv, "drain", "10"));
  g.call_timeout_ns = (int64_t)(atof(opt(argc, argv, "call-timeout", "32")) * 1e9);
  g.caller.user = opt(argc, argv, "user", NULL);
  g.caller.password = opt(argc, argv, "password", NULL);
  g.callee = g.callee_cred.user = opt(argc, argv, "callee", NULL);
  g.callee_cred.password = opt(argc, argv, "callee-password", NULL);
  g.domain = opt(argc, argv, "domain", NULL);
  g.nsock = atoi(opt(argc, argv, "sockets", "8"));
  int uas_port = atoi(opt(argc, argv, "uas-port", "0"));
  uint32_t concurrency = (uint32_t)atoi(opt(argc, argv, "concurrency", "0"));
  g.pid = (long)getpid();
  if (check_run(target, rate, seconds, g.nsock, MAX_SOCKETS, &g.target) != 0) return 2;

  g.socks = must(calloc((size_t)g.nsock + 1, sizeof *g.socks));
  g.uas = &g.socks[g.nsock];
  struct pollfd polls[MAX_SOCKETS + 1];
  for (int i = 0; i <= g.nsock; i++) {
    if (open_socket(&g.socks[i], i == g.nsock ? uas_port : 0) < 0) {
      perror("call_flood: socket");
      return 2;
    }
    polls[i] = (struct pollfd){.fd = g.socks[i].fd, .events = POLLIN};
  }
  batch_setup(in_h, in_iov, in_buf[0], sizeof in_buf[0], BATCH, 1);
  int reg = register_callee(3600);
  if (reg != 200) {
    fprintf(stderr, "call_flood: REGISTER of the callee %s answered %d\n", g.callee, reg);
    return 3;
  }

  g.total = (uint32_t)(rate * seconds + 0.5);
  g.calls = must(calloc(g.total, sizeof *g.calls));
  g.latency_us = must(malloc((size_t)g.total * sizeof *g.latency_us));
  double cpu0 = cpu_seconds();
  g.t0_ns = now_ns();
  int64_t offer_end_ns = g.t0_ns + (int64_t)(seconds * 1e9);
  int64_t stop_ns = offer_end_ns + (int64_t)(drain * 1e9);
  double per_ns = rate / 1e9;
  for (int i = 0; i <= g.nsock; i++) polls[i].revents = POLLIN;
  for (;;) {
    /* Only the sockets poll found readable: an empty read is a system call for nothing. */
    for (int i = 0; i <= g.nsock; i++) {
      if (polls[i].revents || !concurrency) receive_socket(g.socks[i].fd);
    }
    int64_t now = now_ns();
    uint64_t due = concurrency ? (now < offer_end_ns ? g.started - g.open + concurrency : 0)
                               : (uint64_t)((double)(now - g.t0_ns) * per_ns) + 1;
    if (due > g.total) due = g.total;
    while (g.started < due) {
      uint32_t idx = g.started++;
      call_t *c = &g.calls[idx];
      c->state = C_WAIT_407;
      c->start_ns = now;
      g.open++;
      fifo_push(&g.deadlines, idx, 0, now + g.call_timeout_ns);
      send_current(idx, now);
    }
    fire_timers(now);
    flush();
    int offering = concurrency ? now < offer_end_ns : g.started < g.total;
    if ((!offering && g.open == 0) || now >= stop_ns) break;
    if (concurrency) {
      /* A closed loop answers each answer at once. */
      if (poll(polls, (nfds_t)g.nsock + 1, 1) < 0 && errno != EINTR) {
        perror("poll");
        exit(2);
      }
    } else {
      struct timespec tick = {0, 1000000};
      nanosleep(&tick, NULL);
    }
  }
  int64_t end_ns = now_ns();
  double cpu_s = cpu_seconds() - cpu0;
  int unreg = register_callee(0);

  qsort(g.latency_us, g.completed, sizeof *g.latency_us, cmp_u32);
  double wall_s = (double)(end_ns - g.t0_ns) / 1e9;
  double busy_s = g.last_end_ns ? (double)(g.last_end_ns - g.t0_ns) / 1e9 : wall_s;
  printf("{\"offered\":%u,\"started\":%u,\"completed\":%llu,\"failed\":%llu,\"shed\":%llu,"
         "\"timeouts\":%llu,"
         "\"unfinished\":%u,\"retransmits\":%llu,\"stray\":%llu,\"datagramsSent\":%llu,"
         "\"uasInvites\":%llu,\"uasRepeats\":%llu,\"uasRetransmits\":%llu,\"uasTimeouts\":%llu,"
         "\"p50Ms\":%.1f,\"p99Ms\":%.1f,\"lastEndS\":%.3f,\"wallS\":%.3f,\"callsPerSec\":%.0f,"
         "\"cpuS\":%.3f,\"cpuUsPerCall\":%.1f,\"unregister\":%d,\"uasPort\":%d,\"statuses\":{",
         concurrency ? g.started : g.total, g.started, (unsigned long long)g.completed,
         (unsigned long long)g.failed, (unsigned long long)g.shed, (unsigned long long)g.timeouts,
         g.open + (concurrency ? 0 : g.total - g.started), (unsigned long long)g.retransmits,
         (unsigned long long)g.stray, (unsigned long long)g.sends,
         (unsigned long long)g.uas_invites, (unsigned long long)g.uas_repeats,
         (unsigned long long)g.uas_retransmits, (unsigned long long)g.uas_timeouts,
         pct_ms(g.latency_us, g.completed, 0.5), pct_ms(g.latency_us, g.completed, 0.99), busy_s,
         wall_s, busy_s > 0 ? (double)g.completed / busy_s : 0.0, cpu_s,
         g.completed ? cpu_s * 1e6 / (double)g.completed : 0.0, unreg, g.uas->port);
  print_statuses(g.statuses, 700);
  return 0;
}
