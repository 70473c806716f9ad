/*
 * register_flood.h: what the parts of the REGISTER generator share (register_flood.c has the
 * whole story): its limits, a registration's and a socket's state, the run's state `g`, and the
 * functions one part calls in another.
 */
#ifndef REGISTER_FLOOD_H
#define REGISTER_FLOOD_H

#include "loadgen.h"

#define MAX_MSG 1400
#define MAX_SOCKETS 64
#define STREAM_BUF (256 << 10)
#define MAX_QUEUED (32 << 20)

enum { IDLE, WAIT_401, WAIT_200, DONE };

/* One registration: its start, its state, and the second REGISTER once challenged. */
typedef struct {
  int64_t start_ns;
  char *auth_msg;
  uint16_t auth_len;
  uint8_t state;
  uint8_t sends;
  uint8_t sock; /* the socket (connection) it is sent on */
  uint32_t gen;
} reg_t;

/* One source socket: UDP, its outgoing batch; TCP, its stream's bytes out and in. */
typedef struct {
  int fd, port;
  batch_t batch;
  char *obuf, *ibuf;
  size_t olen, ocap, ilen, icap;
  int lost;
  uint32_t open; /* registrations open on it */
} sock_t;

/* The run: its options, registrations, timers and totals (one per process). */
typedef struct {
  const char *domain;
  cred_t cred;
  struct sockaddr_in target;
  sock_t *socks;
  int nsock, tcp;
  long pid;
  reg_t *regs;
  uint32_t total, started;
  fifo_t timers[4]; /* 500, 1000, 2000, 4000 ms */
  /* Counters. */
  uint64_t completed, shed, retry_after, failed, timeouts, retransmits, stray, sends, lost;
  uint64_t completed_in_offer; /* 200s that arrived before SECONDS were over */
  uint64_t statuses[700];
  uint32_t *latency_us;
  int64_t t0_ns, offer_end_ns, last_end_ns, max_lag_ns;
  uint32_t open;
  /* The Request-URI (sip:DOMAIN), and the HA2 of REGISTER to it. */
  char uri[200], ha2[33];
} register_flood_t;
extern register_flood_t g;

/* register_flood.c: the clock, and where requests are written and sent. */
int64_t now_ns(void);
void flush(void);
/* Where registration `idx`'s next request goes on its socket; sent with the batch. */
char *slot(uint32_t idx, sock_t **k);
void queue_len(sock_t *k, int len);

/* register_flood_stream.c: TCP connections (writing, framing answers, losing one). */
void lose(sock_t *k, const char *why);
void flush_stream(sock_t *k);
void receive_stream(sock_t *k);

/* register_flood_regs.c: each registration, from its start to its end. */
void start(uint32_t sock, int64_t now);
void on_response(const char *m, size_t n, int64_t at);
void fire_timers(int64_t now);
void finish(uint32_t idx, int64_t at);

#endif
