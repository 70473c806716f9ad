/*
 * call_flood_parse.c: reading what the call generator receives: the head of a SIP message
 * (the parts it answers with), and which of this run's calls a Call-ID names.
 */
#define _GNU_SOURCE
#include "call_flood.h"

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
int parse(const char *m, size_t n, msg_t *out) {
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
      const char *ch = md5_challenge(v, vend);
      if (ch) out->challenge = (span_t){ch, (size_t)(vend - ch)};
    }
    line = eol;
  }
  return out->call_id.n && out->cseq.n && out->to.n && out->from.n && out->nvia ? 0 : -1;
}

/* The call a Call-ID names (`<idx>-<pid>@callflood`), or -1 if not one of this run's. */
long call_of(span_t id) {
  char tmp[48];
  if (id.n >= sizeof tmp) return -1;
  memcpy(tmp, id.v, id.n);
  tmp[id.n] = 0;
  char *after;
  long idx = strtol(tmp, &after, 10);
  if (*after != '-' || strtol(after + 1, &after, 10) != g.pid) return -1;
  return strncmp(after, "@callflood", 10) == 0 && idx >= 0 && idx < (long)g.started ? idx : -1;
}
