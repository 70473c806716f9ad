/*
 * register_flood: the bench's cheap open-loop REGISTER + digest generator over UDP (see
 * bench/support/register_flood.ts, which compiles and runs it). It starts RATE registrations
 * a second for SECONDS, each on its own Call-ID like bench/scenarios/register_digest.xml:
 * REGISTER -> 401 -> REGISTER with MD5 digest (qop=auth when offered) -> 200. A 503 ends a
 * registration as shed; any other final answer, or no answer after 7 retransmissions (sipp's
 * default for non-INVITE), as failed. Requests are retransmitted like sipp's retrans="500":
 * T1 = 500 ms doubling up to T2 = 4 s (RFC 3261 Timer E).
 * Datagrams go out with sendmmsg and come in with recvmmsg in batches, once a millisecond; the
 * kernel stamps each answer's arrival (SO_TIMESTAMPNS), so the latency (first REGISTER sent
 * -> 200 received) does not count the wait before the 200 is read (the 401 still waits for the
 * next tick before the second REGISTER leaves: up to 1 ms more). After SECONDS it waits up to
 * DRAIN seconds for the registrations still open, then prints one JSON line. With
 * --concurrency=N it runs a closed loop instead: N registrations open at a time for SECONDS
 * (RATE then only bounds how many may start), waking on each answer. --sockets=N spreads the
 * registrations over N source ports (a server's SO_REUSEPORT workers are chosen by them); in
 * the closed loop each socket keeps its share of the N in flight, so a faster server thread
 * completes more.
 * --transport=tcp runs the same over --sockets=N TCP connections (a server's SO_REUSEPORT
 * threads each take some): each registration stays on its connection, answers are framed by
 * Content-Length, nothing is retransmitted (a reliable transport, RFC 3261 §17.1.2.2), and an
 * answer's arrival is the time it was read. A registration still open at the end counts as
 * unfinished; a connection the server closes fails what was open on it (connectionsLost).
 *
 *   register_flood --target=127.0.0.1:5060 --rate=60000 --seconds=30 --user=bench
 *     --password=secret --domain=example.test [--local-port=N] [--drain=15] [--sockets=1]
 *     [--concurrency=0] [--transport=udp|tcp]
 *   register_flood --md5=TEXT     prints TEXT's MD5 in hex (the test checks RFC 1321's suite)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

/* loadgen.h brings the socket, string and stdio headers both generators use. */
#define LOADGEN_NAME "register_flood"
#include "loadgen.h"

#define BATCH 64
#define MAX_MSG 1400
#define MAX_RETRANS 7
#define T1_MS 500
#define MAX_SOCKETS 64
#define STREAM_BUF (256 << 10)
#define MAX_QUEUED (32 << 20)

enum { IDLE, WAIT_401, WAIT_200, DONE };

/* One registration: its start, its state, and the second REGISTER once challenged. */
typedef struct {
  int64_t start_ns;
  char *auth_msg;
  uint16_t auth_len;
  uint8_t state;
  uint8_t sends;
  uint8_t sock; /* the socket (connection) it is sent on */
  uint32_t gen;
} reg_t;

/* One source socket: UDP, its outgoing batch; TCP, its stream's bytes out and in. */
typedef struct {
  int fd, port;
  char out[BATCH][MAX_MSG];
  struct mmsghdr h[BATCH];
  struct iovec iov[BATCH];
  int n;
  char *obuf, *ibuf;
  size_t olen, ocap, ilen, icap;
  int lost;
  uint32_t open; /* registrations open on it */
} sock_t;

static struct {
  const char *user, *password, *domain;
  struct sockaddr_in target;
  sock_t *socks;
  int nsock, tcp;
  long pid;
  reg_t *regs;
  uint32_t total, started;
  fifo_t timers[4]; /* 500, 1000, 2000, 4000 ms */
  /* Counters. */
  uint64_t completed, shed, retry_after, failed, timeouts, retransmits, stray, sends, lost;
  uint64_t completed_in_offer; /* 200s that arrived before SECONDS were over */
  uint64_t statuses[700];
  uint32_t *latency_us;
  int64_t t0_ns, offer_end_ns, last_end_ns, max_lag_ns;
  uint32_t open;
  /* HA1 of the last realm seen, and HA2 of REGISTER sip:DOMAIN. */
  char realm[128], ha1[33], ha2[33];
} g;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* REGISTER number `idx` with CSeq `cseq`, `auth` (an Authorization line) when challenged. */
static int build_register(char *buf, uint32_t idx, int cseq, const char *auth, size_t auth_len) {
  char *p = buf;
  int port = g.socks[g.regs[idx].sock].port;
  p = put(p, "REGISTER sip:");
  p = put(p, g.domain);
  p = put(p, g.tcp ? " SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:" : " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:");
  p = put_u(p, (uint64_t)port);
  p = put(p, ";branch=z9hG4bK-");
  p = put_u(p, (uint64_t)g.pid);
  *p++ = '-';
  p = put_u(p, idx);
  *p++ = '-';
  p = put_u(p, (uint64_t)cseq);
  p = put(p, ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:");
  p = put(p, g.user);
  *p++ = '@';
  p = put(p, g.domain);
  p = put(p, ">;tag=");
  p = put_u(p, (uint64_t)g.pid);
  *p++ = 'R';
  p = put_u(p, idx);
  p = put(p, "\r\nTo: <sip:");
  p = put(p, g.user);
  *p++ = '@';
  p = put(p, g.domain);
  p = put(p, ">\r\nCall-ID: ");
  p = put_u(p, idx);
  *p++ = '-';
  p = put_u(p, (uint64_t)g.pid);
  p = put(p, "@loadgen\r\nCSeq: ");
  p = put_u(p, (uint64_t)cseq);
  p = put(p, " REGISTER\r\nContact: <sip:");
  p = put(p, g.user);
  p = put(p, "@127.0.0.1:");
  p = put_u(p, (uint64_t)port);
  p = put(p, g.tcp ? ";transport=tcp>\r\n" : ";transport=udp>\r\n");
  if (auth) {
    memcpy(p, auth, auth_len);
    p += auth_len;
  }
  p = put(p, "Expires: 3600\r\nContent-Length: 0\r\n\r\n");
  return (int)(p - buf);
}

static void flush_socket(sock_t *k) { g.sends += send_batch(k->fd, k->h, &k->n); }

static void finish(uint32_t idx, int64_t at);

/* Connection `k` is gone: what was open on it fails, and nothing more is sent on it. */
static void lose(sock_t *k, const char *why) {
  if (k->lost) return;
  fprintf(stderr, "register_flood: connection from port %d lost: %s\n", k->port, why);
  k->lost = 1;
  k->olen = k->ilen = 0;
  close(k->fd);
  g.lost++;
  int64_t now = now_ns();
  uint32_t which = (uint32_t)(k - g.socks);
  for (uint32_t i = 0; i < g.started && k->open; i++) {
    if (g.regs[i].sock == which && g.regs[i].state != DONE) {
      g.failed++;
      finish(i, now);
    }
  }
}

/* Writes what the stream holds, as much as the kernel takes now (the rest on a later turn). */
static void flush_stream(sock_t *k) {
  size_t done = 0;
  while (done < k->olen && !k->lost) {
    ssize_t n = send(k->fd, k->obuf + done, k->olen - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) lose(k, strerror(errno));
      break;
    }
    done += (size_t)n;
  }
  if (k->lost) return;
  memmove(k->obuf, k->obuf + done, k->olen - done);
  k->olen -= done;
}

static void flush(void) {
  for (int i = 0; i < g.nsock; i++) {
    if (g.tcp ? g.socks[i].olen > 0 : g.socks[i].n > 0) {
      (g.tcp ? flush_stream : flush_socket)(&g.socks[i]);
    }
  }
}

/* Where registration `idx`'s next request goes on its socket; sent with the batch. */
static char *slot(uint32_t idx, sock_t **k) {
  *k = &g.socks[g.regs[idx].sock];
  if (!g.tcp) {
    if ((*k)->n == BATCH) flush_socket(*k);
    return (*k)->out[(*k)->n];
  }
  if ((*k)->ocap - (*k)->olen < MAX_MSG) flush_stream(*k);
  if ((*k)->ocap - (*k)->olen < MAX_MSG) {
    if ((*k)->ocap >= MAX_QUEUED) { /* bounded: a server that stops reading loses the connection */
      lose(*k, "the server reads nothing (32 MiB queued)");
      (*k)->olen = 0;
      return (*k)->obuf; /* written and dropped: its registration failed with the connection */
    }
    (*k)->ocap *= 2; /* the kernel's buffer is full: hold the rest here */
    (*k)->obuf = realloc((*k)->obuf, (*k)->ocap);
    if (!(*k)->obuf) {
      perror("realloc");
      exit(2);
    }
  }
  return (*k)->obuf + (*k)->olen;
}

static void queue_len(sock_t *k, int len) {
  if (g.tcp) {
    k->olen += (size_t)len;
    g.sends++;
    return;
  }
  k->iov[k->n].iov_len = (size_t)len;
  k->n++;
}

/* (Re)sends registration `idx`'s current request and arms its next retransmission. */
static void send_current(uint32_t idx, int64_t now) {
  reg_t *r = &g.regs[idx];
  sock_t *k;
  if (g.socks[r->sock].lost) return; /* failed already, with what was open on it */
  char *buf = slot(idx, &k);
  if (r->state == WAIT_401) {
    queue_len(k, build_register(buf, idx, 1, NULL, 0));
  } else {
    memcpy(buf, r->auth_msg, r->auth_len);
    queue_len(k, r->auth_len);
  }
  int step = r->sends < 3 ? r->sends : 3; /* T1, 2·T1, 4·T1, then T2 */
  if (!g.tcp) fifo_push(&g.timers[step], idx, r->gen, now + (int64_t)(T1_MS << step) * 1000000);
  r->sends++;
}

static void finish(uint32_t idx, int64_t at) {
  reg_t *r = &g.regs[idx];
  r->state = DONE;
  r->gen++;
  free(r->auth_msg);
  r->auth_msg = NULL;
  g.open--;
  g.socks[r->sock].open--;
  if (at > g.last_end_ns) g.last_end_ns = at;
}

/* Answers challenge `v` (a WWW-Authenticate value offering MD5): 0, or -1 if unusable. */
static int answer_challenge(uint32_t idx, const char *v, const char *end, int64_t now) {
  size_t realm_n = 0, nonce_n = 0, opaque_n = 0, qop_n = 0;
  const char *realm = param(v, end, "realm", &realm_n);
  const char *nonce = param(v, end, "nonce", &nonce_n);
  const char *opaque = param(v, end, "opaque", &opaque_n);
  const char *qop = param(v, end, "qop", &qop_n);
  if (!realm || !nonce || realm_n >= sizeof g.realm || nonce_n > 200 || opaque_n > 200) return -1;
  if (strlen(g.realm) != realm_n || memcmp(g.realm, realm, realm_n) != 0) {
    memcpy(g.realm, realm, realm_n);
    g.realm[realm_n] = 0;
    char a1[512];
    int n = snprintf(a1, sizeof a1, "%s:%s:%s", g.user, g.realm, g.password);
    md5_of(g.ha1, a1, (size_t)n);
  }
  int with_qop = qop && memmem(qop, qop_n, "auth", 4) != NULL;
  char cnonce[16];
  snprintf(cnonce, sizeof cnonce, "%x", idx);
  char response[33];
  digest_response(response, g.ha1, nonce, nonce_n, cnonce, with_qop, g.ha2);
  char auth[800];
  int an = snprintf(auth, sizeof auth,
                    "Authorization: Digest username=\"%s\",realm=\"%s\",nonce=\"%.*s\","
                    "uri=\"sip:%s\",response=\"%s\",algorithm=MD5",
                    g.user, g.realm, (int)nonce_n, nonce, g.domain, response);
  if (with_qop) {
    an += snprintf(auth + an, sizeof auth - (size_t)an, ",cnonce=\"%s\",qop=auth,nc=00000001",
                   cnonce);
  }
  if (opaque) {
    an += snprintf(auth + an, sizeof auth - (size_t)an, ",opaque=\"%.*s\"", (int)opaque_n, opaque);
  }
  an += snprintf(auth + an, sizeof auth - (size_t)an, "\r\n");
  reg_t *r = &g.regs[idx];
  char msg[MAX_MSG];
  int len = build_register(msg, idx, 2, auth, (size_t)an);
  r->auth_msg = malloc((size_t)len);
  if (!r->auth_msg) {
    perror("malloc");
    exit(2);
  }
  memcpy(r->auth_msg, msg, (size_t)len);
  r->auth_len = (uint16_t)len;
  r->state = WAIT_200;
  r->sends = 0;
  r->gen++;
  send_current(idx, now);
  return 0;
}

static void on_response(const char *m, size_t n, int64_t at) {
  const char *end = m + n;
  if (n < 12 || memcmp(m, "SIP/2.0 ", 8) != 0) return;
  int status = (m[8] - '0') * 100 + (m[9] - '0') * 10 + (m[10] - '0');
  if (status < 100 || status > 699) return;
  long long idx = -1, pid = -1;
  int cseq = 0, retry_after = 0;
  const char *chal = NULL, *chal_end = NULL;
  const char *line = memchr(m, '\n', n);
  while (line && ++line < end) {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) eol = end;
    const char *vend = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
    if (vend == line) break; /* end of headers */
    const char *v;
    if ((v = header(line, vend, "call-id", 'i'))) {
      char *after;
      idx = strtoll(v, &after, 10);
      pid = *after == '-' ? strtoll(after + 1, NULL, 10) : -1;
    } else if ((v = header(line, vend, "cseq", 0))) {
      cseq = atoi(v);
    } else if ((v = header(line, vend, "retry-after", 0))) {
      retry_after = 1;
    } else if ((v = header(line, vend, "www-authenticate", 0))) {
      /* Several challenges (RFC 8760): the MD5 one, or the one naming no algorithm. */
      if (vend - v < 7 || strncasecmp(v, "Digest ", 7) != 0) {
        line = eol;
        continue;
      }
      v += 7;
      size_t an;
      const char *alg = param(v, vend, "algorithm", &an);
      if (!alg || (an == 3 && strncasecmp(alg, "MD5", 3) == 0)) {
        chal = v;
        chal_end = vend;
      }
    }
    line = eol;
  }
  if (pid != g.pid || idx < 0 || idx >= g.started) {
    g.stray++;
    return;
  }
  reg_t *r = &g.regs[idx];
  int expected = r->state == WAIT_401 ? 1 : r->state == WAIT_200 ? 2 : 0;
  if (status < 200) return;
  if (cseq != expected) {
    g.stray++; /* an answer to a retransmission already answered */
    return;
  }
  g.statuses[status]++;
  if (status == 401 && cseq == 1) {
    if (chal && answer_challenge((uint32_t)idx, chal, chal_end, at) == 0) return;
    g.failed++;
    finish((uint32_t)idx, at);
  } else if (status == 200) {
    int64_t us = (at - r->start_ns) / 1000;
    g.latency_us[g.completed++] = us > 0 ? (uint32_t)us : 0;
    if (at <= g.offer_end_ns) g.completed_in_offer++;
    finish((uint32_t)idx, at);
  } else if (status == 503) {
    g.shed++;
    g.retry_after += (uint64_t)retry_after;
    finish((uint32_t)idx, at);
  } else {
    g.failed++;
    finish((uint32_t)idx, at);
  }
}

static char in_buf[BATCH][2048];
static char in_ctl[BATCH][CMSG_SPACE(sizeof(struct timespec))];
static struct mmsghdr in_h[BATCH];
static struct iovec in_iov[BATCH];

static void receive_socket(int fd) {
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      in_h[i].msg_hdr.msg_controllen = sizeof in_ctl[i];
      in_h[i].msg_hdr.msg_flags = 0;
    }
    int n = receive_batch(fd, in_h, BATCH);
    if (n == 0) return;
    int64_t fallback = now_ns();
    for (int i = 0; i < n; i++) {
      int64_t at = fallback;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&in_h[i].msg_hdr); c;
           c = CMSG_NXTHDR(&in_h[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        }
      }
      on_response(in_buf[i], in_h[i].msg_len, at);
    }
    flush(); /* the second REGISTERs the 401s asked for */
    if (n < BATCH) return;
  }
}

/* The length of the message at `m` (its header, then Content-Length's bytes), 0 if not all in. */
static size_t frame(const char *m, size_t avail) {
  const char *hend = memmem(m, avail, "\r\n\r\n", 4);
  if (!hend) return 0;
  size_t head = (size_t)(hend + 4 - m);
  size_t body = 0;
  for (const char *line = m; line < hend;) {
    const char *eol = memchr(line, '\n', (size_t)(hend + 2 - line));
    const char *vend = eol && eol > line && eol[-1] == '\r' ? eol - 1 : hend;
    const char *v = header(line, vend, "content-length", 'l');
    if (v) body = (size_t)strtoul(v, NULL, 10);
    if (!eol) break;
    line = eol + 1;
  }
  return head + body <= avail ? head + body : 0;
}

/* Reads what connection `k` holds and handles each whole answer in it. */
static void receive_stream(sock_t *k) {
  while (!k->lost) {
    if (k->ilen == k->icap) {
      lose(k, "an answer larger than the read buffer");
      return;
    }
    ssize_t n = recv(k->fd, k->ibuf + k->ilen, k->icap - k->ilen, MSG_DONTWAIT);
    if (n == 0) lose(k, "closed by the server");
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) lose(k, strerror(errno));
      return;
    }
    k->ilen += (size_t)n;
    int64_t at = now_ns();
    size_t pos = 0;
    while (pos < k->ilen) {
      if (k->ibuf[pos] == '\r' || k->ibuf[pos] == '\n') { /* keep-alive CRLFs */
        pos++;
        continue;
      }
      size_t len = frame(k->ibuf + pos, k->ilen - pos);
      if (!len) break;
      on_response(k->ibuf + pos, len, at);
      pos += len;
    }
    memmove(k->ibuf, k->ibuf + pos, k->ilen - pos);
    k->ilen -= pos;
    flush(); /* the second REGISTERs the 401s asked for */
  }
}

static void receive_all(void) {
  for (int i = 0; i < g.nsock; i++) {
    if (g.tcp) {
      receive_stream(&g.socks[i]);
    } else {
      receive_socket(g.socks[i].fd);
    }
  }
}

/* Starts registration number g.started on socket `sock`. */
static void start(uint32_t sock, int64_t now) {
  uint32_t idx = g.started++;
  reg_t *r = &g.regs[idx];
  r->state = WAIT_401;
  r->start_ns = now;
  r->sock = (uint8_t)sock;
  if (g.socks[sock].lost) { /* an open loop still offers it, on a connection now gone */
    r->state = DONE;
    g.failed++;
    return;
  }
  g.open++;
  g.socks[sock].open++;
  send_current(idx, now);
}

static void fire_timers(int64_t now) {
  for (int k = 0; k < 4; k++) {
    fifo_t *q = &g.timers[k];
    while (q->head < q->tail && q->v[q->head].due <= now) {
      timer_t_ t = q->v[q->head++];
      reg_t *r = &g.regs[t.idx];
      if (r->gen != t.gen || r->state == DONE) continue;
      if (r->sends > MAX_RETRANS) {
        g.timeouts++;
        g.failed++;
        finish(t.idx, now);
      } else {
        g.retransmits++;
        send_current(t.idx, now);
      }
    }
  }
}

/* A UDP socket (a TCP connection) from 127.0.0.1:`port` (0: any) to the target; its port, or -1. */
static int open_socket(sock_t *k, int port) {
  k->fd = socket(AF_INET, g.tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  k->port = connect_local(k->fd, port, &g.target);
  if (k->port < 0) return -1;
  if (g.tcp) {
    int on = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK);
    k->ocap = k->icap = STREAM_BUF;
    k->obuf = malloc(k->ocap);
    k->ibuf = malloc(k->icap);
    return k->obuf && k->ibuf ? k->port : -1;
  }
  /* Answers wait in the kernel for up to a millisecond between reads: room for a burst. */
  set_buffer(k->fd, SO_RCVBUFFORCE, SO_RCVBUF, 32 << 20);
  set_buffer(k->fd, SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20);
  int on = 1;
  setsockopt(k->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  batch_setup(k->h, k->iov, k->out[0], sizeof k->out[0], BATCH, 0);
  return k->port;
}

int main(int argc, char **argv) {
  md5_init_table();
  const char *text = opt(argc, argv, "md5", "\x01");
  if (text[0] != 1) {
    char out[33];
    md5_of(out, text, strlen(text));
    printf("%s\n", out);
    return 0;
  }
  const char *target = opt(argc, argv, "target", NULL);
  double rate = atof(opt(argc, argv, "rate", NULL));
  double seconds = atof(opt(argc, argv, "seconds", NULL));
  double drain = atof(opt(argc, argv, "drain", "15"));
  g.user = opt(argc, argv, "user", NULL);
  g.password = opt(argc, argv, "password", NULL);
  g.domain = opt(argc, argv, "domain", NULL);
  int local_port = atoi(opt(argc, argv, "local-port", "0"));
  g.nsock = atoi(opt(argc, argv, "sockets", "1"));
  uint32_t concurrency = (uint32_t)atoi(opt(argc, argv, "concurrency", "0"));
  const char *transport = opt(argc, argv, "transport", "udp");
  g.tcp = strcmp(transport, "tcp") == 0;
  if (!g.tcp && strcmp(transport, "udp") != 0) {
    fprintf(stderr, "register_flood: --transport=udp or tcp\n");
    return 2;
  }
  g.pid = (long)getpid();
  if (check_run(target, rate, seconds, g.nsock, MAX_SOCKETS, &g.target) != 0) return 2;

  g.socks = calloc((size_t)g.nsock, sizeof *g.socks);
  struct pollfd polls[MAX_SOCKETS];
  for (int i = 0; i < g.nsock; i++) {
    /* --local-port names the first socket's port (the others take any free one). */
    if (!g.socks || open_socket(&g.socks[i], i == 0 ? local_port : 0) < 0) {
      perror("register_flood: socket");
      return 2;
    }
  }

  batch_setup(in_h, in_iov, in_buf[0], sizeof in_buf[0], BATCH, 1);
  for (int i = 0; i < BATCH; i++) {
    in_h[i].msg_hdr.msg_control = in_ctl[i];
  }
  char a2[300];
  int a2n = snprintf(a2, sizeof a2, "REGISTER:sip:%s", g.domain);
  md5_of(g.ha2, a2, (size_t)a2n);

  g.total = (uint32_t)(rate * seconds + 0.5);
  g.regs = calloc(g.total, sizeof *g.regs);
  g.latency_us = malloc((size_t)g.total * sizeof *g.latency_us);
  if (!g.regs || !g.latency_us) {
    perror("register_flood: memory");
    return 2;
  }

  g.t0_ns = now_ns();
  g.offer_end_ns = g.t0_ns + (int64_t)(seconds * 1e9);
  int64_t offer_end_ns = g.offer_end_ns;
  int64_t stop_ns = offer_end_ns + (int64_t)(drain * 1e9);
  double per_ns = rate / 1e9;
  for (;;) {
    receive_all();
    int64_t now = now_ns();
    /* Registrations due by now: the rate is kept by the clock, not by the answers. */
    if (concurrency) {
      /* Each socket keeps its share open: a faster server thread completes more on its own. */
      for (uint32_t i = 0; i < (uint32_t)g.nsock && now < offer_end_ns; i++) {
        uint32_t share = concurrency / (uint32_t)g.nsock + (i < concurrency % (uint32_t)g.nsock);
        while (g.socks[i].open < share && !g.socks[i].lost && g.started < g.total) start(i, now);
      }
    } else {
      uint64_t due = (uint64_t)((double)(now - g.t0_ns) * per_ns) + 1;
      if (due > g.total) due = g.total;
      if (g.started < due) {
        int64_t lag = now - (g.t0_ns + (int64_t)((double)g.started / per_ns));
        if (lag > g.max_lag_ns) g.max_lag_ns = lag;
      }
      while (g.started < due) start(g.started % (uint32_t)g.nsock, now);
    }
    fire_timers(now);
    flush();
    int offering = concurrency ? now < offer_end_ns : g.started < g.total;
    if ((!offering && g.open == 0) || now >= stop_ns) break;
    if (concurrency) {
      /* A closed loop answers each answer at once (and writes what a full stream held). */
      for (int i = 0; i < g.nsock; i++) {
        sock_t *k = &g.socks[i];
        polls[i] = (struct pollfd){.fd = k->lost ? -1 : k->fd,
                                   .events = (short)(POLLIN | (k->olen ? POLLOUT : 0))};
      }
      poll(polls, (nfds_t)g.nsock, 1);
    } else {
      struct timespec tick = {0, 1000000};
      nanosleep(&tick, NULL);
    }
  }
  int64_t end_ns = now_ns();

  qsort(g.latency_us, g.completed, sizeof *g.latency_us, cmp_u32);
  double cpu_s = cpu_seconds();
  double wall_s = (double)(end_ns - g.t0_ns) / 1e9;
  printf("{\"offered\":%u,\"started\":%u,\"completed\":%llu,\"completedInOffer\":%llu,"
         "\"shed\":%llu,"
         "\"shedWithRetryAfter\":%llu,\"failed\":%llu,\"timeouts\":%llu,\"unfinished\":%u,"
         "\"retransmits\":%llu,\"stray\":%llu,\"datagramsSent\":%llu,"
         "\"transport\":\"%s\",\"connectionsLost\":%llu,"
         "\"p50Ms\":%.1f,\"p99Ms\":%.1f,\"lastEndS\":%.3f,\"wallS\":%.3f,\"cpuS\":%.3f,"
         "\"maxLagMs\":%.1f,\"localPort\":%d,\"statuses\":{",
         concurrency ? g.started : g.total, g.started, (unsigned long long)g.completed,
         (unsigned long long)g.completed_in_offer, (unsigned long long)g.shed,
         (unsigned long long)g.retry_after, (unsigned long long)g.failed,
         (unsigned long long)g.timeouts, g.open + (concurrency ? 0 : g.total - g.started),
         (unsigned long long)g.retransmits, (unsigned long long)g.stray,
         (unsigned long long)g.sends, g.tcp ? "tcp" : "udp", (unsigned long long)g.lost,
         pct_ms(g.latency_us, g.completed, 0.5), pct_ms(g.latency_us, g.completed, 0.99),
         g.last_end_ns ? (double)(g.last_end_ns - g.t0_ns) / 1e9 : 0.0, wall_s, cpu_s,
         (double)g.max_lag_ns / 1e6, g.socks[0].port);
  print_statuses(g.statuses, 700);
  return 0;
}
