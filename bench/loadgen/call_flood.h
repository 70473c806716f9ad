/*
 * call_flood.h: what the parts of the call generator share (call_flood.c has the whole story):
 * its limits, a call's and a socket's state, a parsed message, the run's state `g`, and the
 * functions one part calls in another.
 */
#ifndef CALL_FLOOD_H
#define CALL_FLOOD_H

#include "loadgen.h"

#define MAX_MSG 2000
#define MAX_SOCKETS 32
#define MAX_LIST 8
#define UAS_TIMER 0x80000000u

enum { C_WAIT_407, C_WAIT_200, C_WAIT_BYE, C_DONE };
enum { U_NONE, U_ANSWERED, U_CONFIRMED, U_ENDED };

/*
 * One call: the caller's side (state, the request it retransmits) and the callee's (its
 * 200, retransmitted until the ACK). Timers carry a generation, bumped when what they
 * retransmit is answered.
 */
typedef struct {
  int64_t start_ns;
  char *msg, *uas_msg;
  uint16_t msg_len, uas_len;
  uint8_t state, sends, uas_state, uas_sends;
  uint32_t gen, uas_gen;
} call_t;

/* One socket and its outgoing batch. */
typedef struct {
  int fd, port;
  batch_t batch;
} sock_t;

/* The parts of a SIP message the generator reads; values point into the datagram. */
typedef struct {
  const char *v;
  size_t n;
} span_t;
typedef struct {
  int status; /* 0 for a request */
  span_t method, call_id, cseq, cseq_method, to, from, contact_uri, challenge;
  long cseq_num;
  span_t via[MAX_LIST], rr[MAX_LIST];
  int nvia, nrr;
} msg_t;

/* The run: its options, calls, timers and totals (one per process). */
typedef struct {
  const char *domain, *callee;
  cred_t caller, callee_cred;
  struct sockaddr_in target;
  sock_t *socks; /* nsock caller sockets, then the UAS socket */
  sock_t *uas;
  int nsock;
  long pid;
  call_t *calls;
  uint32_t total, started, open;
  fifo_t timers[4]; /* 500, 1000, 2000, 4000 ms */
  fifo_t deadlines; /* each call's --call-timeout */
  int64_t call_timeout_ns;
  uint64_t completed, failed, shed, timeouts, retransmits, stray, sends;
  uint64_t uas_invites, uas_repeats, uas_retransmits, uas_timeouts;
  uint64_t statuses[700];
  uint32_t *latency_us;
  int64_t t0_ns, last_end_ns;
} call_flood_t;
extern call_flood_t g;

/* call_flood.c: the clock, and the sockets' outgoing batches. */
int64_t now_ns(void);
void flush(void);
/* The next outgoing slot of socket `k`; `queue` sends its first `len` bytes with the batch. */
char *slot(sock_t *k);
void queue(sock_t *k, int len);
void send_copy(sock_t *k, const char *msg, int len);

/* call_flood_messages.c: writing requests, answers and digest credentials. */
int build_invite(char *buf, uint32_t idx, long cseq, const char *auth, size_t auth_len);
int build_in_dialog(char *buf, uint32_t idx, const msg_t *m, int bye);
int build_response(char *buf, const msg_t *m, int status, uint32_t idx);
int digest(char *out, size_t cap, const char *name, cred_t *cred, const char *method,
           const char *uri, span_t ch, uint32_t seed);

/* call_flood_parse.c: reading a message, and the call its Call-ID names. */
int parse(const char *m, size_t n, msg_t *out);
long call_of(span_t id);

/* call_flood_uac.c: the caller's side. */
void send_current(uint32_t idx, int64_t now);
void finish(uint32_t idx, int ok, int64_t at);
void on_response(const msg_t *m, int64_t now);

/* call_flood_uas.c: the callee's side and its registration. */
void uas_done(call_t *c, uint8_t state);
void on_request(const msg_t *m, int64_t now);
int register_callee(int expires);

#endif
