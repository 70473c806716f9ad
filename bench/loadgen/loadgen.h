/*
 * loadgen.h: what the bench's C generators (register_flood, call_flood) share: retransmission
 * timer FIFOs, writing numbers and strings into a message, finding a header's value and a digest
 * challenge's parameter, MD5 hex, command-line options and the report's percentiles. The small
 * helpers every message goes through are inline here; the rest is in loadgen.c. `loadgen_name`
 * (each program defines it) prefixes the error messages.
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
#include <sys/socket.h>
#include <time.h>

#include "md5.h"

/* The program's name, before each of its error messages. */
extern const char loadgen_name[];

/* Says `what` failed (with errno's text, as perror does) and ends the run. */
__attribute__((noreturn)) void loadgen_fail(const char *what);

/* Retransmission timers of one interval: appended in time order, so a FIFO is sorted. */
typedef struct {
  uint32_t idx, gen;
  int64_t due;
} timer_t_;
typedef struct {
  timer_t_ *v;
  size_t head, tail, cap;
} fifo_t;

/* How many datagrams go out (sendmmsg) or come in (recvmmsg) in one system call. */
#define BATCH 64

/* A UDP socket's outgoing datagrams, sent together: BATCH slots of `size` bytes at `out`. */
typedef struct {
  char *out;
  size_t size;
  struct mmsghdr h[BATCH];
  struct iovec iov[BATCH];
  int n;
} batch_t;

/* `ts` in nanoseconds. */
static inline int64_t ns_of(struct timespec ts) {
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Clock `id`'s time now, in nanoseconds. */
static inline int64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ns_of(ts);
}

/* `p`, or the end of the run when memory is out. */
static inline void *must(void *p) {
  if (!p) loadgen_fail("memory");
  return p;
}

static inline void fifo_push(fifo_t *q, uint32_t idx, uint32_t gen, int64_t due) {
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

/* Takes the next timer of `q` due by `now` into `*t`: 1, or 0 when none is due. */
static inline int fifo_pop_due(fifo_t *q, int64_t now, timer_t_ *t) {
  if (q->head >= q->tail || q->v[q->head].due > now) return 0;
  *t = q->v[q->head++];
  return 1;
}

/*
 * RFC 3261 Timers A and E: a request goes again after T1 = 500 ms, doubling up to T2 = 4 s,
 * at most MAX_RETRANS times (sipp's default for non-INVITE), from one FIFO per interval.
 */
#define T1_MS 500
#define MAX_RETRANS 7

/* Arms the retransmission of `idx` (generation `gen`) that follows its `sends`th send. */
static inline void arm_retransmit(fifo_t timers[4], uint32_t idx, uint32_t gen, uint8_t sends,
                                  int64_t now) {
  int step = sends < 3 ? sends : 3; /* T1, 2·T1, 4·T1, then T2 */
  fifo_push(&timers[step], idx, gen, now + (int64_t)(T1_MS << step) * 1000000);
}

static inline char *put(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

static inline char *put_u(char *p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10));
  while (n) *p++ = tmp[--n];
  return p;
}

/* The value of header line `line` if it is named `name` (or its compact form), else NULL. */
static inline const char *header(const char *line, const char *end, const char *name,
                                 char compact) {
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

/* A user's HA1 for the last realm it was challenged in. */
typedef struct {
  const char *user, *password;
  char realm[128], ha1[33];
} cred_t;

/* The value of digest parameter `name` in `v` (quoted or token), or NULL. */
const char *param(const char *v, const char *end, const char *name, size_t *len);

void md5_of(char out[33], const char *a, size_t n);

int cmp_u32(const void *a, const void *b);

/* Quantile `q` of the `n` sorted latencies `us` (µs), in ms. */
double pct_ms(const uint32_t *us, uint64_t n, double q);

/* The value of `--name=value`; `dflt` when absent, or the end of the run when NULL. */
const char *opt(int argc, char **argv, const char *name, const char *dflt);

/* A socket buffer of `bytes`, past the system's limit where the process may (`force`). */
void set_buffer(int fd, int force, int plain, int bytes);

/* Sends the datagrams of `b` on `fd` and empties it: how many it held. A refused send (the
 * server gone) ends it: the requests' timeouts then say so. */
uint64_t send_batch(int fd, batch_t *b);

/* Slots of `size` bytes for `b`'s datagrams. */
void batch_init(batch_t *b, size_t size);

/* Where the next datagram of `b` is written (send a full batch first). */
static inline char *batch_slot(batch_t *b) { return b->out + (size_t)b->n * b->size; }

/* Adds the first `len` bytes written at `batch_slot` to the batch. */
static inline void batch_queue(batch_t *b, int len) {
  b->iov[b->n].iov_len = (size_t)len;
  b->n++;
}

/* Reads up to `max` datagrams queued on `fd` into `h` without waiting: how many (0: none). */
int receive_batch(int fd, struct mmsghdr *h, int max);

/* Points each of the `n` headers of `h` at its own buffer in `bufs` (`size` bytes apart). */
void batch_setup(struct mmsghdr *h, struct iovec *iov, char *bufs, size_t size, int n,
                 int full);

/* Binds `fd` to 127.0.0.1:`port` (0: any) and connects it to `target`: its port, or -1. */
int connect_local(int fd, int port, const struct sockaddr_in *target);

/*
 * The digest `response` (RFC 2617) for HA1 `ha1` and HA2 `ha2` (32 hex digits each) to `nonce`,
 * with qop=auth, nonce-count 1 and `cnonce` when `with_qop`.
 */
void digest_response(char out[33], const char *ha1, const char *nonce, size_t nonce_n,
                     const char *cnonce, int with_qop, const char *ha2);

/*
 * The parameters of `v` (a WWW- or Proxy-Authenticate value) if it is a Digest challenge
 * offering MD5 or naming no algorithm (of several challenges, RFC 8760, the one to answer),
 * else NULL.
 */
const char *md5_challenge(const char *v, const char *end);

/* The HA2 (32 hex digits) of `method` and `uri`, for qop=auth or none. */
void digest_ha2(char out[33], const char *method, const char *uri);

/*
 * The `name` line (Authorization or Proxy-Authorization) answering the challenge whose
 * parameters are [`ch`, `end`) for `uri` (HA2 `ha2`) as `cred`, with cnonce `seed` in hex,
 * into `out`; its length, or -1 if the challenge is unusable.
 */
int digest_line(char *out, size_t cap, const char *name, cred_t *cred, const char *uri,
                const char *ha2, const char *ch, const char *end, uint32_t seed);

/* The report's last member: each status answered and how often, closing the JSON line. */
void print_statuses(const uint64_t *statuses, int end);

/* The process's CPU time so far (user and system), seconds. */
double cpu_seconds(void);

/*
 * The options every generator takes, checked: `target` (`host:port`, an IPv4 literal) into
 * `out`, a positive rate and length, 1 to `max_sockets` sockets. 0, or -1 after saying why.
 */
int check_run(const char *target, double rate, double seconds, int sockets,
              int max_sockets, struct sockaddr_in *out);

#endif
