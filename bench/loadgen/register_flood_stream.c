/*
 * register_flood_stream.c: the REGISTER generator's TCP connections (--transport=tcp): what
 * is queued written as the kernel takes it, answers framed by Content-Length, and a
 * connection lost failing what was open on it.
 */
#define _GNU_SOURCE
#include <unistd.h>

#include "register_flood.h"

/* Connection `k` is gone: what was open on it fails, and nothing more is sent on it. */
void lose(sock_t *k, const char *why) {
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
void flush_stream(sock_t *k) {
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
void receive_stream(sock_t *k) {
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
