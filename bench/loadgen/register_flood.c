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
 *
 * This file holds the loop, the sockets and the report; register_flood_regs.c each
 * registration, register_flood_stream.c the TCP connections; loadgen.c what it shares with
 * call_flood.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "register_flood.h"

const char loadgen_name[] = "register_flood";
register_flood_t g;

/* The wall clock: the kernel stamps each answer (SO_TIMESTAMPNS) with it. */
int64_t now_ns(void) { return clock_ns(CLOCK_REALTIME); }

static void flush_socket(sock_t *k) { g.sends += send_batch(k->fd, &k->batch); }

void flush(void) {
  for (int i = 0; i < g.nsock; i++) {
    if (g.tcp ? g.socks[i].olen > 0 : g.socks[i].batch.n > 0) {
      (g.tcp ? flush_stream : flush_socket)(&g.socks[i]);
    }
  }
}

/* Where registration `idx`'s next request goes on its socket; sent with the batch. */
char *slot(uint32_t idx, sock_t **k) {
  *k = &g.socks[g.regs[idx].sock];
  if (!g.tcp) {
    if ((*k)->batch.n == BATCH) flush_socket(*k);
    return batch_slot(&(*k)->batch);
  }
  if ((*k)->ocap - (*k)->olen < MAX_MSG) flush_stream(*k);
  if ((*k)->ocap - (*k)->olen < MAX_MSG) {
    if ((*k)->ocap >= MAX_QUEUED) { /* bounded: a server that stops reading loses the connection */
      lose(*k, "the server reads nothing (32 MiB queued)");
      (*k)->olen = 0;
      return (*k)->obuf; /* written and dropped: its registration failed with the connection */
    }
    (*k)->ocap *= 2; /* the kernel's buffer is full: hold the rest here */
    (*k)->obuf = must(realloc((*k)->obuf, (*k)->ocap));
  }
  return (*k)->obuf + (*k)->olen;
}

void queue_len(sock_t *k, int len) {
  if (g.tcp) {
    k->olen += (size_t)len;
    g.sends++;
    return;
  }
  batch_queue(&k->batch, len);
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
          at = ns_of(ts);
        }
      }
      on_response(in_buf[i], in_h[i].msg_len, at);
    }
    flush(); /* the second REGISTERs the 401s asked for */
    if (n < BATCH) return;
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
  batch_init(&k->batch, MAX_MSG);
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
  g.cred.user = opt(argc, argv, "user", NULL);
  g.cred.password = opt(argc, argv, "password", NULL);
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
  snprintf(g.uri, sizeof g.uri, "sip:%s", g.domain);
  digest_ha2(g.ha2, "REGISTER", g.uri);

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
