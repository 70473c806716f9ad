/*
 * loadgen.c: the bench's generators' shared code (loadgen.h says what each part is for).
 */
#define _GNU_SOURCE
#include "loadgen.h"

#include <sys/resource.h>

void loadgen_fail(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", loadgen_name, what, strerror(errno));
  exit(2);
}

/* The value of digest parameter `name` in `v` (quoted or token), or NULL. */
const char *param(const char *v, const char *end, const char *name, size_t *len) {
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

void md5_of(char out[33], const char *a, size_t n) {
  md5_ctx c;
  md5_begin(&c);
  md5_add(&c, a, n);
  md5_hex(&c, out);
  out[32] = 0;
}

int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Quantile `q` of the `n` sorted latencies `us` (µs), in ms. */
double pct_ms(const uint32_t *us, uint64_t n, double q) {
  if (!n) return 0;
  uint64_t i = (uint64_t)(q * (double)n);
  if (i >= n) i = n - 1;
  return us[i] / 1000.0;
}

/* The value of `--name=value`; `dflt` when absent, or the end of the run when NULL. */
const char *opt(int argc, char **argv, const char *name, const char *dflt) {
  size_t n = strlen(name);
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, n) == 0 &&
        argv[i][2 + n] == '=') {
      return argv[i] + 3 + n;
    }
  }
  if (!dflt) {
    fprintf(stderr, "%s: --%s= is required\n", loadgen_name, name);
    exit(2);
  }
  return dflt;
}

/* A socket buffer of `bytes`, past the system's limit where the process may (`force`). */
void set_buffer(int fd, int force, int plain, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
  }
}

/* Sends the datagrams of `b` on `fd` and empties it: how many it held. A refused send (the
 * server gone) ends it: the requests' timeouts then say so. */
uint64_t send_batch(int fd, batch_t *b) {
  int done = 0, total = b->n;
  b->n = 0;
  while (done < total) {
    int sent = sendmmsg(fd, b->h + done, (unsigned)(total - done), 0);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) break;
      loadgen_fail("sendmmsg");
    }
    done += sent;
  }
  return (uint64_t)total;
}

/* Reads up to `max` datagrams queued on `fd` into `h` without waiting: how many (0: none). */
int receive_batch(int fd, struct mmsghdr *h, int max) {
  for (;;) {
    int n = recvmmsg(fd, h, (unsigned)max, MSG_DONTWAIT, NULL);
    if (n >= 0) return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == EINTR || errno == ECONNREFUSED) continue;
    loadgen_fail("recvmmsg");
  }
}

/* Points each of the `n` headers of `h` at its own buffer in `bufs` (`size` bytes apart). */
void batch_setup(struct mmsghdr *h, struct iovec *iov, char *bufs, size_t size, int n,
                 int full) {
  for (int i = 0; i < n; i++) {
    iov[i].iov_base = bufs + (size_t)i * size;
    if (full) iov[i].iov_len = size;
    h[i].msg_hdr.msg_iov = &iov[i];
    h[i].msg_hdr.msg_iovlen = 1;
  }
}

void batch_init(batch_t *b, size_t size) {
  b->size = size;
  b->out = must(malloc(BATCH * size));
  batch_setup(b->h, b->iov, b->out, size, BATCH, 0);
}

/* Binds `fd` to 127.0.0.1:`port` (0: any) and connects it to `target`: its port, or -1. */
int connect_local(int fd, int port, const struct sockaddr_in *target) {
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
void digest_response(char out[33], const char *ha1, const char *nonce, size_t nonce_n,
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

const char *md5_challenge(const char *v, const char *end) {
  if (end - v < 7 || strncasecmp(v, "Digest ", 7) != 0) return NULL;
  size_t n;
  const char *alg = param(v + 7, end, "algorithm", &n);
  return !alg || (n == 3 && strncasecmp(alg, "MD5", 3) == 0) ? v + 7 : NULL;
}

void digest_ha2(char out[33], const char *method, const char *uri) {
  char a2[300];
  md5_of(out, a2, (size_t)snprintf(a2, sizeof a2, "%s:%s", method, uri));
}

int digest_line(char *out, size_t cap, const char *name, cred_t *cred, const char *uri,
                const char *ha2, const char *ch, const char *end, uint32_t seed) {
  size_t realm_n = 0, nonce_n = 0, opaque_n = 0, qop_n = 0;
  const char *realm = param(ch, end, "realm", &realm_n);
  const char *nonce = param(ch, end, "nonce", &nonce_n);
  const char *opaque = param(ch, end, "opaque", &opaque_n);
  const char *qop = param(ch, end, "qop", &qop_n);
  if (!realm || !nonce || realm_n >= sizeof cred->realm || nonce_n > 200 || opaque_n > 200) {
    return -1;
  }
  if (strlen(cred->realm) != realm_n || memcmp(cred->realm, realm, realm_n) != 0) {
    memcpy(cred->realm, realm, realm_n);
    cred->realm[realm_n] = 0;
    char a1[512];
    int n = snprintf(a1, sizeof a1, "%s:%s:%s", cred->user, cred->realm, cred->password);
    md5_of(cred->ha1, a1, (size_t)n);
  }
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

/* The report's last member: each status answered and how often, closing the JSON line. */
void print_statuses(const uint64_t *statuses, int end) {
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
double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/*
 * The options every generator takes, checked: `target` (`host:port`, an IPv4 literal) into
 * `out`, a positive rate and length, 1 to `max_sockets` sockets. 0, or -1 after saying why.
 */
int check_run(const char *target, double rate, double seconds, int sockets,
              int max_sockets, struct sockaddr_in *out) {
  if (sockets < 1 || sockets > max_sockets) {
    fprintf(stderr, "%s: --sockets= from 1 to %d\n", loadgen_name, max_sockets);
    return -1;
  }
  char host[64];
  const char *colon = strrchr(target, ':');
  if (!colon || (size_t)(colon - target) >= sizeof host || rate <= 0 || seconds <= 0) {
    fprintf(stderr, "%s: bad --target, --rate or --seconds\n", loadgen_name);
    return -1;
  }
  memcpy(host, target, (size_t)(colon - target));
  host[colon - target] = 0;
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
    fprintf(stderr, "%s: --target needs an IPv4 literal\n", loadgen_name);
    return -1;
  }
  return 0;
}
