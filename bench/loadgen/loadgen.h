/*
 * loadgen.h: what the bench's C generators (register_flood.c, call_flood.c) share: retransmission
 * timer FIFOs, writing numbers and strings into a message, finding a header's value and a digest
 * challenge's parameter, MD5 hex, command-line options and the report's percentiles. Header-only
 * (static functions), like md5.h, so each generator still compiles from one `cc` call.
 * LOADGEN_NAME (the including program's name) prefixes its error messages.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "md5.h"

/* Retransmission timers of one interval: appended in time order, so a FIFO is sorted. */
typedef struct {
  uint32_t idx, gen;
  int64_t due;
} timer_t_;
typedef struct {
  timer_t_ *v;
  size_t head, tail, cap;
} fifo_t;

/* `p`, or the end of the run when memory is out. */
static void *must(void *p) {
  if (!p) {
    perror(LOADGEN_NAME ": memory");
    exit(2);
  }
  return p;
}

static void fifo_push(fifo_t *q, uint32_t idx, uint32_t gen, int64_t due) {
  if (q->tail == q->cap) {
    if (q->head > q->cap / 2) {
      memmove(q->v, q->v + q->head, (q->tail - q->head) * sizeof *q->v);
      q->tail -= q->head;
      q->head = 0;
    } else {
      q->cap = q->cap ? q->cap * 2 : 4096;
      q->v = must(realloc(q->v, q->cap * sizeof *q->v));
    }
  }
  q->v[q->tail++] = (timer_t_){idx, gen, due};
}

static char *put(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

static char *put_u(char *p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10));
  while (n) *p++ = tmp[--n];
  return p;
}

/* The value of header line `line` if it is named `name` (or its compact form), else NULL. */
static const char *header(const char *line, const char *end, const char *name, char compact) {
  size_t n = strlen(name);
  const char *p;
  if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0) {
    p = line + n;
  } else if (compact && end - line > 1 && (line[0] | 0x20) == compact &&
             (line[1] == ':' || line[1] == ' ' || line[1] == '\t')) {
    p = line + 1;
  } else {
    return NULL;
  }
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  if (p >= end || *p != ':') return NULL;
  p++;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

/* The value of digest parameter `name` in `v` (quoted or token), or NULL. */
static const char *param(const char *v, const char *end, const char *name, size_t *len) {
  size_t n = strlen(name);
  const char *p = v;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ',' || *p == '\t')) p++;
    const char *key = p;
    while (p < end && *p != '=' && *p != ',') p++;
    if (p >= end || *p != '=') continue;
    const char *kend = p;
    while (kend > key && kend[-1] == ' ') kend--;
    p++;
    while (p < end && *p == ' ') p++;
    const char *val, *vend;
    if (p < end && *p == '"') {
      val = ++p;
      while (p < end && *p != '"') p++;
      vend = p;
      if (p < end) p++;
    } else {
      val = p;
      while (p < end && *p != ',' && *p != ' ') p++;
      vend = p;
    }
    if ((size_t)(kend - key) == n && strncasecmp(key, name, n) == 0) {
      *len = (size_t)(vend - val);
      return val;
    }
  }
  return NULL;
}

static void md5_of(char out[33], const char *a, size_t n) {
  md5_ctx c;
  md5_begin(&c);
  md5_add(&c, a, n);
  md5_hex(&c, out);
  out[32] = 0;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Quantile `q` of the `n` sorted latencies `us` (µs), in ms. */
static double pct_ms(const uint32_t *us, uint64_t n, double q) {
  if (!n) return 0;
  uint64_t i = (uint64_t)(q * (double)n);
  if (i >= n) i = n - 1;
  return us[i] / 1000.0;
}

/* The value of `--name=value`; `dflt` when absent, or the end of the run when NULL. */
static const char *opt(int argc, char **argv, const char *name, const char *dflt) {
  size_t n = strlen(name);
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, n) == 0 &&
        argv[i][2 + n] == '=') {
      return argv[i] + 3 + n;
    }
  }
  if (!dflt) {
    fprintf(stderr, LOADGEN_NAME ": --%s= is required\n", name);
    exit(2);
  }
  return dflt;
}

/* A socket buffer of `bytes`, past the system's limit where the process may (`force`). */
static void set_buffer(int fd, int force, int plain, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
  }
}

/* Sends the `*n` datagrams of `h` on `fd` and empties the batch: how many it held. A refused
 * send (the server gone) ends it: the requests' timeouts then say so. */
static uint64_t send_batch(int fd, struct mmsghdr *h, int *n) {
  int done = 0, total = *n;
  *n = 0;
  while (done < total) {
    int sent = sendmmsg(fd, h + done, (unsigned)(total - done), 0);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) break;
      perror(LOADGEN_NAME ": sendmmsg");
      exit(2);
    }
    done += sent;
  }
  return (uint64_t)total;
}

/* Reads up to `max` datagrams queued on `fd` into `h` without waiting: how many (0: none). */
static int receive_batch(int fd, struct mmsghdr *h, int max) {
  for (;;) {
    int n = recvmmsg(fd, h, (unsigned)max, MSG_DONTWAIT, NULL);
    if (n >= 0) return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == EINTR || errno == ECONNREFUSED) continue;
    perror(LOADGEN_NAME ": recvmmsg");
    exit(2);
  }
}

/* Points each of the `n` headers of `h` at its own buffer in `bufs` (`size` bytes apart). */
static void batch_setup(struct mmsghdr *h, struct iovec *iov, char *bufs, size_t size, int n,
                        int full) {
  for (int i = 0; i < n; i++) {
    iov[i].iov_base = bufs + (size_t)i * size;
    if (full) iov[i].iov_len = size;
    h[i].msg_hdr.msg_iov = &iov[i];
    h[i].msg_hdr.msg_iovlen = 1;
  }
}

/* Binds `fd` to 127.0.0.1:`port` (0: any) and connects it to `target`: its port, or -1. */
static int connect_local(int fd, int port, const struct sockaddr_in *target) {
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
  if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof local) != 0 ||
      connect(fd, (const struct sockaddr *)target, sizeof *target) != 0) {
    return -1;
  }
  socklen_t sl = sizeof local;
  getsockname(fd, (struct sockaddr *)&local, &sl);
  return ntohs(local.sin_port);
}

/*
 * The digest `response` (RFC 2617) for HA1 `ha1` and HA2 `ha2` (32 hex digits each) to `nonce`,
 * with qop=auth, nonce-count 1 and `cnonce` when `with_qop`.
 */
static void digest_response(char out[33], const char *ha1, const char *nonce, size_t nonce_n,
                            const char *cnonce, int with_qop, const char *ha2) {
  md5_ctx c;
  md5_begin(&c);
  md5_add(&c, ha1, 32);
  md5_add(&c, ":", 1);
  md5_add(&c, nonce, nonce_n);
  if (with_qop) {
    md5_add(&c, ":00000001:", 10);
    md5_add(&c, cnonce, strlen(cnonce));
    md5_add(&c, ":auth", 5);
  }
  md5_add(&c, ":", 1);
  md5_add(&c, ha2, 32);
  md5_hex(&c, out);
  out[32] = 0;
}

/* The report's last member: each status answered and how often, closing the JSON line. */
static void print_statuses(const uint64_t *statuses, int end) {
  const char *sep = "";
  for (int s = 100; s < end; s++) {
    if (statuses[s]) {
      printf("%s\"%d\":%llu", sep, s, (unsigned long long)statuses[s]);
      sep = ",";
    }
  }
  printf("}}\n");
}

/* The process's CPU time so far (user and system), seconds. */
static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/*
 * The options every generator takes, checked: `target` (`host:port`, an IPv4 literal) into
 * `out`, a positive rate and length, 1 to `max_sockets` sockets. 0, or -1 after saying why.
 */
static int check_run(const char *target, double rate, double seconds, int sockets,
                     int max_sockets, struct sockaddr_in *out) {
  if (sockets < 1 || sockets > max_sockets) {
    fprintf(stderr, LOADGEN_NAME ": --sockets= from 1 to %d\n", max_sockets);
    return -1;
  }
  char host[64];
  const char *colon = strrchr(target, ':');
  if (!colon || (size_t)(colon - target) >= sizeof host || rate <= 0 || seconds <= 0) {
    fprintf(stderr, LOADGEN_NAME ": bad --target, --rate or --seconds\n");
    return -1;
  }
  memcpy(host, target, (size_t)(colon - target));
  host[colon - target] = 0;
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
    fprintf(stderr, LOADGEN_NAME ": --target needs an IPv4 literal\n");
    return -1;
  }
  return 0;
}

#endif
