/*
 * call_flood_uas.c: the callee's side of each call (answering the INVITE, its 200 until the
 * ACK, the BYE) and the callee's REGISTER before the calls and its removal after.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <unistd.h>

#include "call_flood.h"

static void answer(const msg_t *m, int status, uint32_t idx) {
  char *buf = slot(g.uas);
  queue(g.uas, build_response(buf, m, status, idx));
}

void uas_done(call_t *c, uint8_t state) {
  c->uas_state = state;
  c->uas_gen++;
  free(c->uas_msg);
  c->uas_msg = NULL;
}

void on_request(const msg_t *m, int64_t now) {
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
    arm_retransmit(g.timers, (uint32_t)idx | UAS_TIMER, c->uas_gen, 0, now);
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

/*
 * One REGISTER of the callee from the UAS socket (Contact: that socket, `expires`), answered
 * with digest when challenged; the final status, or 0 on no answer.
 */
int register_callee(int expires) {
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
