/*
 * call_flood_uac.c: the caller's side of each call: (re)sending its current request, the
 * INVITE answered (challenge, 2xx, failure) and the BYE's answer, and its end.
 */
#define _GNU_SOURCE
#include "call_flood.h"

static sock_t *caller_sock(uint32_t idx) { return &g.socks[idx % (uint32_t)g.nsock]; }

/* (Re)sends call `idx`'s current request and arms its next retransmission. */
void send_current(uint32_t idx, int64_t now) {
  call_t *c = &g.calls[idx];
  sock_t *k = caller_sock(idx);
  if (c->state == C_WAIT_407) {
    char *buf = slot(k);
    queue(k, build_invite(buf, idx, 1, NULL, 0));
  } else {
    send_copy(k, c->msg, c->msg_len);
  }
  arm_retransmit(g.timers, idx, c->gen, c->sends, now);
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

void finish(uint32_t idx, int ok, int64_t at) {
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

void on_response(const msg_t *m, int64_t now) {
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
