/*
 * call_flood_messages.c: the call generator's messages: the caller's INVITE, ACK and BYE, the
 * callee's 180 and 200, and a digest Authorization or Proxy-Authorization line.
 */
#define _GNU_SOURCE
#include "call_flood.h"

static const char SDP[] = "v=0\r\no=caller 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
                          "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
                          "a=rtpmap:0 PCMU/8000\r\n";

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
int build_invite(char *buf, uint32_t idx, long cseq, const char *auth, size_t auth_len) {
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
int build_in_dialog(char *buf, uint32_t idx, const msg_t *m, int bye) {
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
int build_response(char *buf, const msg_t *m, int status, uint32_t idx) {
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

/*
 * The `name` line (Authorization or Proxy-Authorization) answering challenge `ch` for
 * `method` `uri` as `cred`, into `out`; its length, or -1 if the challenge is unusable.
 */
int digest(char *out, size_t cap, const char *name, cred_t *cred, const char *method,
           const char *uri, span_t ch, uint32_t seed) {
  char ha2[33];
  digest_ha2(ha2, method, uri);
  return digest_line(out, cap, name, cred, uri, ha2, ch.v, ch.v + ch.n, seed);
}
