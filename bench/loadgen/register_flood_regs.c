/*
 * register_flood_regs.c: each registration of the REGISTER generator: its REGISTER, the
 * challenge answered with digest, its answers read and counted, its retransmissions and end.
 */
#define _GNU_SOURCE
#include "register_flood.h"

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
  p = put(p, g.cred.user);
  *p++ = '@';
  p = put(p, g.domain);
  p = put(p, ">;tag=");
  p = put_u(p, (uint64_t)g.pid);
  *p++ = 'R';
  p = put_u(p, idx);
  p = put(p, "\r\nTo: <sip:");
  p = put(p, g.cred.user);
  *p++ = '@';
  p = put(p, g.domain);
  p = put(p, ">\r\nCall-ID: ");
  p = put_u(p, idx);
  *p++ = '-';
  p = put_u(p, (uint64_t)g.pid);
  p = put(p, "@loadgen\r\nCSeq: ");
  p = put_u(p, (uint64_t)cseq);
  p = put(p, " REGISTER\r\nContact: <sip:");
  p = put(p, g.cred.user);
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
  if (!g.tcp) arm_retransmit(g.timers, idx, r->gen, r->sends, now);
  r->sends++;
}

void finish(uint32_t idx, int64_t at) {
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
  char auth[800];
  int an = digest_line(auth, sizeof auth, "Authorization", &g.cred, g.uri, g.ha2, v, end, idx);
  if (an < 0) return -1;
  reg_t *r = &g.regs[idx];
  char msg[MAX_MSG];
  int len = build_register(msg, idx, 2, auth, (size_t)an);
  r->auth_msg = must(malloc((size_t)len));
  memcpy(r->auth_msg, msg, (size_t)len);
  r->auth_len = (uint16_t)len;
  r->state = WAIT_200;
  r->sends = 0;
  r->gen++;
  send_current(idx, now);
  return 0;
}

void on_response(const char *m, size_t n, int64_t at) {
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
      const char *ch = md5_challenge(v, vend);
      if (ch) {
        chal = ch;
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

/* Starts registration number g.started on socket `sock`. */
void start(uint32_t sock, int64_t now) {
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

void fire_timers(int64_t now) {
  timer_t_ t;
  for (int k = 0; k < 4; k++) {
    while (fifo_pop_due(&g.timers[k], now, &t)) {
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
