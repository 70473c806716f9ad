/*
 * call_flood: the bench's cheap call generator over UDP (see bench/support/call_flood.ts,
 * which compiles and runs it). One process is both ends of every call, as sipp's UAC
 * (bench/scenarios/uac_auth_call.xml) and UAS (uas_load.xml) are in the call ladder: it
 * first REGISTERs the callee (digest) with the UAS socket's address as its Contact, then
 * places calls as the caller through the server, each on its own Call-ID:
 *   INVITE -> 407 -> ACK -> INVITE with Proxy-Authorization (MD5, qop=auth when offered)
 *   -> (the UAS side gets the INVITE and answers 180, 200) -> ACK -> BYE -> 200,
 * and at the end removes the callee's binding (Expires: 0). A call that gets another final
 * answer, or no answer after 7 retransmissions, or does not end within --call-timeout, is
 * failed. Requests are retransmitted at T1 = 500 ms doubling up to T2 = 4 s (for an INVITE
 * only until a provisional answer); the UAS side retransmits its 200 the same way until the
 * ACK, and answers a retransmitted INVITE or BYE with the same response again.
 * With --concurrency=N it runs a closed loop: N calls in flight for SECONDS (RATE then only
 * bounds how many may start); without, it starts RATE calls a second (open loop). Calls are
 * spread over --sockets=N caller source ports (Call-IDs and sockets vary, as a server's
 * workers see from many phones). After SECONDS it waits up to DRAIN seconds for the calls
 * still open, then prints one JSON line with its totals and its own CPU per call.
 *
 *   call_flood --target=127.0.0.1:5060 --rate=100000 --seconds=10 --concurrency=200
 *     --user=bench --password=secret --callee=bob --callee-password=secret2
 *     --domain=example.test [--sockets=8] [--drain=10] [--call-timeout=32] [--uas-port=N]
 *
 * This file holds the loop, the sockets and the report; call_flood_uac.c the caller's side,
 * call_flood_uas.c the callee's, call_flood_messages.c and call_flood_parse.c the messages
 * written and read; loadgen.c what it shares with register_flood.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "call_flood.h"

const char loadgen_name[] = "call_flood";
call_flood_t g;

int64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

/* ---- sending ---- */

static void flush_socket(sock_t *k) { g.sends += send_batch(k->fd, &k->batch); }

void flush(void) {
  for (int i = 0; i <= g.nsock; i++) {
    if (g.socks[i].batch.n) flush_socket(&g.socks[i]);
  }
}

/* The next outgoing slot of socket `k`; `queue` sends its first `len` bytes with the batch. */
char *slot(sock_t *k) {
  if (k->batch.n == BATCH) flush_socket(k);
  return batch_slot(&k->batch);
}

void queue(sock_t *k, int len) {
  batch_queue(&k->batch, len);
}

void send_copy(sock_t *k, const char *msg, int len) {
  memcpy(slot(k), msg, (size_t)len);
  queue(k, len);
}

/* ---- the loop ---- */

static char in_buf[BATCH][4096];
static struct mmsghdr in_h[BATCH];
static struct iovec in_iov[BATCH];

static void receive_socket(int fd) {
  for (;;) {
    int n = receive_batch(fd, in_h, BATCH);
    if (n == 0) return;
    int64_t now = now_ns();
    for (int i = 0; i < n; i++) {
      msg_t m;
      if (parse(in_buf[i], in_h[i].msg_len, &m) != 0) {
        g.stray++;
      } else if (m.status) {
        on_response(&m, now);
      } else {
        on_request(&m, now);
      }
    }
    flush();
    if (n < BATCH) return;
  }
}

static void fire_timers(int64_t now) {
  timer_t_ t;
  for (int k = 0; k < 4; k++) {
    while (fifo_pop_due(&g.timers[k], now, &t)) {
      uint32_t idx = t.idx & ~UAS_TIMER;
      call_t *c = &g.calls[idx];
      if (t.idx & UAS_TIMER) {
        if (c->uas_gen != t.gen || c->uas_state != U_ANSWERED) continue;
        if (c->uas_sends > MAX_RETRANS) {
          g.uas_timeouts++;
          uas_done(c, U_ENDED);
        } else {
          g.uas_retransmits++;
          send_copy(g.uas, c->uas_msg, c->uas_len);
          arm_retransmit(g.timers, t.idx, c->uas_gen, c->uas_sends++, now);
        }
      } else if (c->gen == t.gen && c->state != C_DONE) {
        if (c->sends > MAX_RETRANS) {
          g.timeouts++;
          finish(idx, 0, now);
        } else {
          g.retransmits++;
          send_current(idx, now);
        }
      }
    }
  }
  while (fifo_pop_due(&g.deadlines, now, &t)) {
    if (g.calls[t.idx].state != C_DONE) {
      g.timeouts++;
      finish(t.idx, 0, now);
    }
  }
}

/* ---- setup and report ---- */

/* A UDP socket from 127.0.0.1:`port` (0: any) connected to the target; its port, or -1. */
static int open_socket(sock_t *k, int port) {
  k->fd = socket(AF_INET, SOCK_DGRAM, 0);
  k->port = connect_local(k->fd, port, &g.target);
  if (k->port < 0) return -1;
  set_buffer(k->fd, SO_RCVBUFFORCE, SO_RCVBUF, 8 << 20);
  set_buffer(k->fd, SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20);
  batch_init(&k->batch, MAX_MSG);
  return k->port;
}

int main(int argc, char **argv) {
  md5_init_table();
  const char *target = opt(argc, argv, "target", NULL);
  double rate = atof(opt(argc, argv, "rate", NULL));
  double seconds = atof(opt(argc, argv, "seconds", NULL));
  double drain = atof(opt(argc, argv, "drain", "10"));
  g.call_timeout_ns = (int64_t)(atof(opt(argc, argv, "call-timeout", "32")) * 1e9);
  g.caller.user = opt(argc, argv, "user", NULL);
  g.caller.password = opt(argc, argv, "password", NULL);
  g.callee = g.callee_cred.user = opt(argc, argv, "callee", NULL);
  g.callee_cred.password = opt(argc, argv, "callee-password", NULL);
  g.domain = opt(argc, argv, "domain", NULL);
  g.nsock = atoi(opt(argc, argv, "sockets", "8"));
  int uas_port = atoi(opt(argc, argv, "uas-port", "0"));
  uint32_t concurrency = (uint32_t)atoi(opt(argc, argv, "concurrency", "0"));
  g.pid = (long)getpid();
  if (check_run(target, rate, seconds, g.nsock, MAX_SOCKETS, &g.target) != 0) return 2;

  g.socks = must(calloc((size_t)g.nsock + 1, sizeof *g.socks));
  g.uas = &g.socks[g.nsock];
  struct pollfd polls[MAX_SOCKETS + 1];
  for (int i = 0; i <= g.nsock; i++) {
    if (open_socket(&g.socks[i], i == g.nsock ? uas_port : 0) < 0) {
      perror("call_flood: socket");
      return 2;
    }
    polls[i] = (struct pollfd){.fd = g.socks[i].fd, .events = POLLIN};
  }
  batch_setup(in_h, in_iov, in_buf[0], sizeof in_buf[0], BATCH, 1);
  int reg = register_callee(3600);
  if (reg != 200) {
    fprintf(stderr, "call_flood: REGISTER of the callee %s answered %d\n", g.callee, reg);
    return 3;
  }

  g.total = (uint32_t)(rate * seconds + 0.5);
  g.calls = must(calloc(g.total, sizeof *g.calls));
  g.latency_us = must(malloc((size_t)g.total * sizeof *g.latency_us));
  double cpu0 = cpu_seconds();
  g.t0_ns = now_ns();
  int64_t offer_end_ns = g.t0_ns + (int64_t)(seconds * 1e9);
  int64_t stop_ns = offer_end_ns + (int64_t)(drain * 1e9);
  double per_ns = rate / 1e9;
  for (int i = 0; i <= g.nsock; i++) polls[i].revents = POLLIN;
  for (;;) {
    /* Only the sockets poll found readable: an empty read is a system call for nothing. */
    for (int i = 0; i <= g.nsock; i++) {
      if (polls[i].revents || !concurrency) receive_socket(g.socks[i].fd);
    }
    int64_t now = now_ns();
    uint64_t due = concurrency ? (now < offer_end_ns ? g.started - g.open + concurrency : 0)
                               : (uint64_t)((double)(now - g.t0_ns) * per_ns) + 1;
    if (due > g.total) due = g.total;
    while (g.started < due) {
      uint32_t idx = g.started++;
      call_t *c = &g.calls[idx];
      c->state = C_WAIT_407;
      c->start_ns = now;
      g.open++;
      fifo_push(&g.deadlines, idx, 0, now + g.call_timeout_ns);
      send_current(idx, now);
    }
    fire_timers(now);
    flush();
    int offering = concurrency ? now < offer_end_ns : g.started < g.total;
    if ((!offering && g.open == 0) || now >= stop_ns) break;
    if (concurrency) {
      /* A closed loop answers each answer at once. */
      if (poll(polls, (nfds_t)g.nsock + 1, 1) < 0 && errno != EINTR) {
        perror("poll");
        exit(2);
      }
    } else {
      struct timespec tick = {0, 1000000};
      nanosleep(&tick, NULL);
    }
  }
  int64_t end_ns = now_ns();
  double cpu_s = cpu_seconds() - cpu0;
  int unreg = register_callee(0);

  qsort(g.latency_us, g.completed, sizeof *g.latency_us, cmp_u32);
  double wall_s = (double)(end_ns - g.t0_ns) / 1e9;
  double busy_s = g.last_end_ns ? (double)(g.last_end_ns - g.t0_ns) / 1e9 : wall_s;
  printf("{\"offered\":%u,\"started\":%u,\"completed\":%llu,\"failed\":%llu,\"shed\":%llu,"
         "\"timeouts\":%llu,"
         "\"unfinished\":%u,\"retransmits\":%llu,\"stray\":%llu,\"datagramsSent\":%llu,"
         "\"uasInvites\":%llu,\"uasRepeats\":%llu,\"uasRetransmits\":%llu,\"uasTimeouts\":%llu,"
         "\"p50Ms\":%.1f,\"p99Ms\":%.1f,\"lastEndS\":%.3f,\"wallS\":%.3f,\"callsPerSec\":%.0f,"
         "\"cpuS\":%.3f,\"cpuUsPerCall\":%.1f,\"unregister\":%d,\"uasPort\":%d,\"statuses\":{",
         concurrency ? g.started : g.total, g.started, (unsigned long long)g.completed,
         (unsigned long long)g.failed, (unsigned long long)g.shed, (unsigned long long)g.timeouts,
         g.open + (concurrency ? 0 : g.total - g.started), (unsigned long long)g.retransmits,
         (unsigned long long)g.stray, (unsigned long long)g.sends,
         (unsigned long long)g.uas_invites, (unsigned long long)g.uas_repeats,
         (unsigned long long)g.uas_retransmits, (unsigned long long)g.uas_timeouts,
         pct_ms(g.latency_us, g.completed, 0.5), pct_ms(g.latency_us, g.completed, 0.99), busy_s,
         wall_s, busy_s > 0 ? (double)g.completed / busy_s : 0.0, cpu_s,
         g.completed ? cpu_s * 1e6 / (double)g.completed : 0.0, unreg, g.uas->port);
  print_statuses(g.statuses, 700);
  return 0;
}
