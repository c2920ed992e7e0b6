/*
 * udp_batch: UDP sockets for the media workers with batched system calls (Linux recvmmsg and
 * sendmmsg), driven by the thread's own libuv loop. Optional: src/media/transport/udp/ falls back
 * to node:dgram when this addon is not built.
 *
 * Receive: every socket has a uv_poll on its fd. A readable socket is drained with one recvmmsg
 * into a per-thread arena of slots; the arena is handed to JavaScript once per loop iteration (a
 * uv_check after the poll phase), or when it fills, in a single call: one JS entry for every
 * packet every socket of the thread received in that iteration, instead of one per packet.
 *
 * Send: send() copies the datagram into a per-thread queue and returns (the caller may reuse its
 * buffer at once). The queue is flushed with sendmmsg (one call per run of packets on the same
 * socket) after each receive batch, before the loop blocks (uv_prepare: sends queued by timers,
 * e.g. the 20 ms media clock) and after the poll phase (uv_check: sends queued by other I/O).
 *
 * Relay offload: a socket may carry a ROUTE (route()): a received datagram the route describes
 * (latched source, RTP v2 without padding, extension or CSRC, its payload type and SSRC) is not
 * put in the arena: its header is rewritten in place into the destination's outbound stream (the
 * SENDER block, shared memory RtpSender keeps its state in, guarded by a lock word because the
 * destination may live in another worker) and sent on the destination's socket before the
 * receive call returns (one sendmmsg for what one recvmmsg relayed, under the lock). JS learns of
 * it from a per-thread log it drains before each batch. Anything else goes to JS as before, and
 * once a socket has a datagram for JS in the arena its later ones follow it there (order).
 * The shared layout is src/media/transport/udp/offloadLayout.ts.
 *
 * Relay threads (relayThreads(n)): a socket whose route relays in the loop is then handed to the
 * process' native relay threads (one edge-triggered epoll set they all wait on, the same
 * recvmmsg/rewrite/sendmmsg; whichever thread is free reads a socket that has datagrams, one at a
 * time), so that relaying waits for no JavaScript, no garbage collection, no other socket of the
 * worker and no other relay thread that waits for a CPU. The first datagram the route does not
 * describe sends the socket back (it and the rest of its recvmmsg call go to the worker's arena,
 * in order, through a uv_async); the worker hands it over again after its next relayed datagram.
 * What a thread relayed is logged per worker and merged into the worker's log (takeLog(), and
 * before any datagram it sent back, oldest first across the threads), so JavaScript sees each
 * socket's packets in order.
 *
 * Context-aware (NAPI_MODULE_INIT, napi_set_instance_data): each worker thread has its own state
 * and loop. The relay threads' state (relay_*) is the only static mutable state. A relay thread
 * never waits for a worker: what it hands to a worker (its log, the datagrams it sends back) goes
 * through single-producer rings, and a worker that takes a socket back waits for the threads
 * instead (relay_wait_out).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define RX_SLOTS 64
#define RX_SLOT_BYTES 2048
#define RX_PER_CALL 32
#define META_INTS 8 /* id, length, port, family, address as 4 x int32 (network order bytes) */
#define TEXT_BYTES 64
#define TX_SLOTS 256
#define TX_SLOT_BYTES 2048

/* Relay offload layout: keep in step with src/media/transport/udp/offloadLayout.ts (offloadLayout()
 * reports these, a test compares). */
#define S_LOCK 0
#define S_RELAY_OK 1
#define S_FD 2
#define S_DST_IP 3
#define S_DST_PORT 4
#define S_SSRC 5
#define S_SEQ 6
#define S_TS 7
#define S_SOURCE 8
#define S_SEQ_OFFSET 9
#define S_TS_OFFSET 10
#define S_MARKER 11
#define S_CLOCK_RATE 12
#define S_FRAME_SAMPLES 13
#define S_PACKETS 14
#define S_PT_OUT 15
#define S_CODEC_KEY 16
#define SF_LAST_SEND_MS 0
#define SF_OCTETS 1
#define SENDER_BYTES 256
#define SENDER_INTS 32
#define SENDER_FLOAT_OFFSET 128
#define SENDER_FLOATS 16
#define R_ARMED 0
#define R_FROM_IP 1
#define R_FROM_PORT 2
#define R_PT_IN 3
#define R_SSRC_IN 4
#define R_SOURCE_TOKEN 5
#define R_CODEC_KEY 6
#define ROUTE_INTS 8
#define L_SOCKET 0
#define L_SEQ 1
#define L_TS 2
#define L_SSRC 3
#define L_PAYLOAD_BYTES 4
#define LOG_INTS 5
#define LOG_RECORDS 4096
/* Tries at the sender lock before the packet goes to JS instead (which waits for it): a thread
 * that died holding it must not hang this one. */
#define LOCK_SPINS 1024
/* Datagrams a relay thread may hold for a worker (sent back with their socket) before it drops. */
#define BOUNCE_MAX 256
#define RELAY_MAX_THREADS 16

typedef struct Instance Instance;

/* A log of relayed datagrams: L_* records, arrival times, and `count` records written. The log
 * JavaScript reads is a plain array (tail NULL: JS resets count to 0). The relay thread's log of a
 * worker is a ring of LOG_RECORDS: count is its head, `tail` what the worker has taken. */
typedef struct {
  int32_t* ints;
  double* times;
  int32_t* count;
  const uint32_t* tail;
} Log;

/* The datagrams relayed from one recvmmsg call: rewritten in their slots, sent together (one
 * sendmmsg) while `olocked` (their SENDER block) stays locked. One per thread that relays. */
typedef struct {
  int32_t* olocked;
  int on;
  struct mmsghdr omsgs[RX_PER_CALL];
  struct iovec oiov[RX_PER_CALL];
  struct sockaddr_in odst;
} OffloadBatch;

typedef struct {
  Instance* inst;
  int id;
  int fd;
  int family; /* 4 or 6 */
  uv_poll_t* poll;
  /* Relay offload (route()): raw pointers for the hot path, refs keep the memory alive. */
  int32_t* route;
  int32_t* sender;
  double* senderF;
  napi_ref routeRef, senderRef;
  /* The SENDER block this socket sends for (own()): closing the socket clears its FD first. */
  int32_t* owned;
  napi_ref ownedRef;
  /* The arena generation in which this socket last put a datagram there: while it is the current
   * one, its later datagrams go to JS too (JS drains the log before the arena: order per socket). */
  uint32_t arenaGen;
  /* Relay thread: its slot while the thread reads this socket (-1: the worker's loop does), and
   * whether it was sent back and waits for the worker to poll it again. */
  int relaySlot;
  int returning;
  uint32_t serial; /* tells a socket from a later one with the same id (datagrams sent back) */
  uint32_t relayGen; /* its slot's generation (the epoll event's tag) */
  /* A relay thread reads it: 0 none, 1 one does, 2 one does and must read once more. */
  int busy;
} Sock;

/* A datagram a relay thread sent back to the worker with its socket. */
typedef struct {
  int id;
  uint32_t serial;
  unsigned len;
  struct sockaddr_storage from;
  uint8_t data[RX_SLOT_BYTES];
} Bounce;


/* Counters readable from JS (stats()): what the batching actually achieved. */
typedef struct {
  double recvCalls, recvPackets, recvTruncated, recvErrors, deliveries;
  double sendCalls, sendPackets, sendErrors, sendImmediate;
  double offloaded, offloadSendCalls, offloadSendErrors, offloadLockBusy;
  /* The relay threads: of `offloaded` those they relayed; sockets handed to them, and sent back. */
  double threadOffloaded, threadHandoffs, threadReturns;
} Counters;

/* What one relay thread hands to one worker, written by the thread alone, taken by the worker
 * (single-producer rings: the thread never waits for the worker): the log of what it relayed for
 * the worker's sockets (LOG_RECORDS: head by the thread, tail by the worker), the datagrams it
 * sent back with their socket (BOUNCE_MAX), and its counters. */
typedef struct {
  int32_t* ints;
  double* times;
  int32_t head;
  uint32_t tail;
  int signalled;
  Bounce* bounce;
  uint32_t bounceHead, bounceTail;
  Counters tc;
} RelayQueue;

struct Instance {
  napi_env env;
  uv_loop_t* loop;
  napi_ref onBatch;
  napi_ref resource;
  napi_async_context actx;
  napi_ref rxRef, metaRef, textRef;
  uint8_t* rx;
  int32_t* meta;
  char* text;
  int rxCount;
  uint32_t gen; /* arena generation: +1 per delivery */
  napi_ref logIntsRef, logTimesRef, logCountRef;
  int32_t* logInts;
  double* logTimes;
  int32_t* logCount;
  OffloadBatch ob; /* what this thread relays from the current recvmmsg call */
  Log jsLog;       /* the log JavaScript reads (logInts, logTimes, logCount) */
  uint32_t serials;
  /* Relay threads (relayThreads(n)): what each hands to this worker (rq[i] for thread i, with
   * relayThreads on), and the wake-up they send. */
  RelayQueue* rq;
  int nrq;
  int relayOn; /* sockets go to the relay threads */
  uv_async_t* async;
  int delivering;
  int destroyed;
  struct mmsghdr rmsgs[RX_SLOTS];
  struct iovec riov[RX_SLOTS];
  struct sockaddr_storage rname[RX_SLOTS];
  struct mmsghdr tmsgs[TX_SLOTS];
  struct iovec tiov[TX_SLOTS];
  struct sockaddr_storage tname[TX_SLOTS];
  int tfd[TX_SLOTS];
  uint8_t* tbuf;
  int txCount;
  int batching; /* 0: every send() is an immediate sendto */
  uv_prepare_t* prepare;
  uv_check_t* check;
  Sock** socks;
  int nsocks;
  /* ids freed during a delivery become reusable only after it (packets of the batch name them) */
  int* freeIds;
  int nfree, capfree;
  int* lateFree;
  int nlate, caplate;
  Counters c;
};

/* ---- errors ------------------------------------------------------------------------------ */

/* Throws an Error shaped like Node's system errors: message "syscall CODE detail", code, errno, syscall. */
static void throw_errno(napi_env env, int err, const char* syscall, const char* detail) {
  const char* code = "EUNKNOWN";
  switch (err) {
#define C(x) case x: code = #x; break;
    C(EADDRINUSE) C(EACCES) C(EADDRNOTAVAIL) C(EINVAL) C(EMFILE) C(ENFILE) C(EAFNOSUPPORT) C(EBADF)
    C(ENOBUFS) C(ENOMEM) C(EPERM) C(ENETUNREACH) C(EHOSTUNREACH) C(EMSGSIZE) C(ECONNREFUSED)
#undef C
    default: break;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s%s%s", syscall, code, detail ? " " : "", detail ? detail : "");
  napi_value m, e, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_value codev;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &codev);
  napi_create_error(env, codev, m, &e);
  napi_set_named_property(env, e, "code", codev);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  napi_throw(env, e);
}

static void throw_type(napi_env env, const char* code, const char* msg) { napi_throw_type_error(env, code, msg); }
static void throw_range(napi_env env, const char* code, const char* msg) { napi_throw_range_error(env, code, msg); }

/* ---- helpers ----------------------------------------------------------------------------- */

static Instance* instance_of(napi_env env) {
  Instance* inst = NULL;
  napi_get_instance_data(env, (void**)&inst);
  return inst;
}

/* This thread's state; throws and returns NULL before init(). */
static Instance* initialised(napi_env env) {
  Instance* inst = instance_of(env);
  if (!inst) throw_type(env, "ERR_INVALID_STATE", "udp_batch: init() was not called");
  return inst;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return 1;
}

static int is_type(napi_env env, napi_value v, napi_valuetype t) {
  napi_valuetype got;
  return napi_typeof(env, v, &got) == napi_ok && got == t;
}

/* An integer argument in [lo, hi]; throws and returns 0 otherwise. */
static int get_int(napi_env env, napi_value v, int64_t lo, int64_t hi, const char* what, int64_t* out) {
  double d;
  if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok || d != d ||
      d != (double)(int64_t)d || d < (double)lo || d > (double)hi) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be an integer in [%lld, %lld]", what, (long long)lo, (long long)hi);
    throw_range(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

static Sock* get_sock(napi_env env, Instance* inst, napi_value v) {
  int64_t id;
  if (!inst) {
    throw_type(env, "ERR_INVALID_STATE", "udp_batch: init() was not called");
    return NULL;
  }
  if (!get_int(env, v, 0, 0x7fffffff, "socket id", &id)) return NULL;
  if (id >= inst->nsocks || inst->socks[id] == NULL) {
    throw_errno(env, EBADF, "udp", "(socket is closed)");
    return NULL;
  }
  return inst->socks[id];
}

/*
 * Parses an address argument into a sockaddr for a socket of `family`: a number is an IPv4
 * address in host order (the JS side caches the conversion), a string is an IPv4 or IPv6
 * literal. IPv4 destinations of an IPv6 socket are v4-mapped. Returns the length, 0 on error.
 */
static socklen_t parse_addr(napi_env env, napi_value v, int family, int port, struct sockaddr_storage* ss) {
  struct in_addr a4;
  struct in6_addr a6;
  int is6 = 0;
  if (is_type(env, v, napi_number)) {
    double d;
    napi_get_value_double(env, v, &d);
    if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
      throw_range(env, "ERR_INVALID_ARG_VALUE", "numeric address must be a uint32 IPv4 address");
      return 0;
    }
    a4.s_addr = htonl((uint32_t)d);
  } else if (is_type(env, v, napi_string)) {
    char s[64];
    size_t n = 0;
    if (napi_get_value_string_utf8(env, v, s, sizeof s, &n) != napi_ok || n >= sizeof s - 1) {
      throw_type(env, "ERR_INVALID_ARG_VALUE", "address is not an IP literal");
      return 0;
    }
    if (inet_pton(AF_INET, s, &a4) == 1) {
      is6 = 0;
    } else if (inet_pton(AF_INET6, s, &a6) == 1) {
      is6 = 1;
    } else {
      throw_type(env, "ERR_INVALID_ARG_VALUE", "address is not an IP literal");
      return 0;
    }
  } else {
    throw_type(env, "ERR_INVALID_ARG_TYPE", "address must be a string or a number");
    return 0;
  }
  memset(ss, 0, sizeof *ss);
  if (family == 4) {
    if (is6) {
      if (!IN6_IS_ADDR_V4MAPPED(&a6)) {
        throw_errno(env, EAFNOSUPPORT, "send", "(IPv6 address on an IPv4 socket)");
        return 0;
      }
      memcpy(&a4, &a6.s6_addr[12], 4);
    }
    struct sockaddr_in* sin = (struct sockaddr_in*)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr = a4;
    return sizeof *sin;
  }
  struct sockaddr_in6* sin6 = (struct sockaddr_in6*)ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons((uint16_t)port);
  if (is6) {
    sin6->sin6_addr = a6;
  } else {
    memset(&sin6->sin6_addr, 0, 16);
    sin6->sin6_addr.s6_addr[10] = 0xff;
    sin6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&sin6->sin6_addr.s6_addr[12], &a4, 4);
  }
  return sizeof *sin6;
}

/* ---- send queue -------------------------------------------------------------------------- */

static void flush(Instance* inst) {
  int n = inst->txCount;
  int i = 0;
  while (i < n) {
    int fd = inst->tfd[i];
    int j = i + 1;
    while (j < n && inst->tfd[j] == fd) j++;
    int r = sendmmsg(fd, &inst->tmsgs[i], (unsigned)(j - i), MSG_DONTWAIT);
    inst->c.sendCalls++;
    if (r < 0) {
      if (errno == EINTR) continue;
      /* This packet failed (EAGAIN, ECONNREFUSED from an ICMP error...): drop it, go on. */
      inst->c.sendErrors++;
      i++;
    } else {
      inst->c.sendPackets += r;
      i += r;
    }
  }
  inst->txCount = 0;
}

/* ---- relay offload ----------------------------------------------------------------------- */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline uint32_t be16(const uint8_t* p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t be32(const uint8_t* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put_be32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* a - b for 16-bit sequence numbers (common/seq.ts seqDiff). */
static inline int32_t seq_diff(uint32_t a, uint32_t b) { return (int16_t)(uint16_t)(a - b); }

/* JS Math.round: the nearest integer, halves toward +infinity (exact, unlike floor(x + 0.5)). */
static double js_round(double x) {
  double r = ceil(x);
  return r - 0.5 > x ? r - 1.0 : r;
}

/* RtpSender #advance(): samples from the last packet sent to one sent at `now`, at least a frame.
 * In doubles, in JS's order of operations, so both sides compute the same timestamps. */
static double advance(const int32_t* S, const double* F, double now) {
  double frame = (double)S[S_FRAME_SAMPLES];
  if (F[SF_LAST_SEND_MS] < 0) return frame;
  double elapsed = js_round(((now - F[SF_LAST_SEND_MS]) * (double)S[S_CLOCK_RATE]) / 1000 / frame) * frame;
  return elapsed > frame ? elapsed : frame;
}

/* JS (a + n) >>> 0 for an integral double n: ToUint32 of the sum (0 for NaN and infinities). */
static uint32_t ts_add(uint32_t a, double n) {
  if (!isfinite(n)) return 0;
  return a + (uint32_t)(int64_t)fmod(n, 4294967296.0);
}

/*
 * Sends what try_offload() rewrote, on the destination's socket, and only then releases its
 * SENDER lock: the destination clears FD under it before closing its socket, so the fd cannot be
 * a closed or reused one. Must run before the slots are reused (arena compaction, recvmmsg).
 */
static void offload_send(OffloadBatch* b, Counters* c) {
  int32_t* S = b->olocked;
  if (!S) return;
  int fd = S[S_FD];
  int i = 0;
  while (i < b->on) {
    int r = sendmmsg(fd, &b->omsgs[i], (unsigned)(b->on - i), MSG_DONTWAIT);
    c->offloadSendCalls++;
    if (r < 0) {
      if (errno == EINTR) continue;
      c->offloadSendErrors++; /* this one is lost (EAGAIN, ICMP unreachable...): go on */
      i++;
    } else {
      i += r;
    }
  }
  b->on = 0;
  b->olocked = NULL;
  __atomic_store_n(&S[S_LOCK], 0, __ATOMIC_RELEASE);
}

/*
 * Relays one received datagram of socket `s` (which has a route) if the route describes it:
 * rewritten in its slot as RtpSender.rewrite() would (after BridgeLink's payload type mapping)
 * into the destination's SENDER block, queued in `b` for offload_send(), logged in `log`. The
 * first of a recvmmsg call takes the block's lock. Returns 0 when the datagram is JavaScript's to
 * handle. `inLoop`: called from the worker's loop (not a relay thread), which owns the arena
 * and the send queue.
 */
static int try_offload(Instance* inst, OffloadBatch* b, Counters* c, Log* log, int inLoop, Sock* s, uint8_t* buf,
                       unsigned len, const struct sockaddr_storage* ss, double now) {
  const int32_t* R = s->route;
  uint32_t n = (uint32_t)*log->count;
  uint32_t tail = log->tail ? __atomic_load_n(log->tail, __ATOMIC_ACQUIRE) : 0;
  if (!__atomic_load_n(&R[R_ARMED], __ATOMIC_ACQUIRE) || n - tail >= LOG_RECORDS ||
      (inLoop && s->arenaGen == inst->gen))
    return 0;
  if (ss->ss_family != AF_INET) return 0;
  const struct sockaddr_in* sin = (const struct sockaddr_in*)ss;
  if (ntohl(sin->sin_addr.s_addr) != (uint32_t)R[R_FROM_IP] || (int32_t)ntohs(sin->sin_port) != R[R_FROM_PORT])
    return 0;
  /* RTP v2 without padding, extension or CSRC: the header is 12 bytes, the payload the rest. */
  if (len < 13 || buf[0] != 0x80 || (int32_t)(buf[1] & 0x7f) != R[R_PT_IN]) return 0;
  uint32_t ssrc = be32(buf + 8);
  if (ssrc != (uint32_t)R[R_SSRC_IN]) return 0;
  int32_t* S = s->sender;
  double* F = s->senderF;
  if (b->olocked != S) {
    /* The first of this call: what this thread's JS queued goes first (it may be a packet it
     * generated for the same destination), then the lock, held until offload_send(). The relay
     * thread has no queue: a socket goes to it only once its worker's queue is flushed. */
    if (inLoop && inst->txCount > 0) flush(inst);
    int spins = 0;
    for (;;) {
      int32_t expected = 0;
      if (__atomic_load_n(&S[S_LOCK], __ATOMIC_RELAXED) == 0 &&
          __atomic_compare_exchange_n(&S[S_LOCK], &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        break;
      if (++spins >= LOCK_SPINS) {
        c->offloadLockBusy++;
        return 0;
      }
      if (spins % 64 == 0) sched_yield(); /* the holder may be a preempted thread on this core */
      else cpu_relax();
    }
    if (!S[S_RELAY_OK] || S[S_FD] < 0 || S[S_CODEC_KEY] != R[R_CODEC_KEY]) {
      __atomic_store_n(&S[S_LOCK], 0, __ATOMIC_RELEASE);
      return 0;
    }
    b->olocked = S;
    memset(&b->odst, 0, sizeof b->odst);
    b->odst.sin_family = AF_INET;
    b->odst.sin_port = htons((uint16_t)S[S_DST_PORT]);
    b->odst.sin_addr.s_addr = htonl((uint32_t)S[S_DST_IP]);
  }
  buf[1] = (uint8_t)((buf[1] & 0x80) | (S[S_PT_OUT] & 0x7f));
  int32_t source = R[R_SOURCE_TOKEN];
  uint32_t seqIn = be16(buf + 2);
  uint32_t tsIn = be32(buf + 4);
  if (source != S[S_SOURCE]) {
    /* A new source: continue our numbering from the last packet sent, a talkspurt. */
    S[S_SOURCE] = source;
    S[S_SEQ_OFFSET] = seq_diff(((uint32_t)S[S_SEQ] + 1) & 0xffff, seqIn);
    S[S_TS_OFFSET] = (int32_t)(ts_add((uint32_t)S[S_TS], advance(S, F, now)) - tsIn);
    S[S_MARKER] = 1;
  }
  uint32_t seq = (seqIn + (uint32_t)S[S_SEQ_OFFSET]) & 0xffff;
  uint32_t ts = tsIn + (uint32_t)S[S_TS_OFFSET];
  if (seq_diff(seq, (uint32_t)S[S_SEQ]) > 0) {
    S[S_SEQ] = (int32_t)seq;
    S[S_TS] = (int32_t)ts;
  }
  if (S[S_MARKER]) {
    buf[1] |= 0x80;
    S[S_MARKER] = 0;
  }
  buf[2] = (uint8_t)(seq >> 8);
  buf[3] = (uint8_t)seq;
  put_be32(buf + 4, ts);
  put_be32(buf + 8, (uint32_t)S[S_SSRC]);
  F[SF_LAST_SEND_MS] = now;
  /* Counted as sent whatever the send does, as RtpSender does: a lost datagram, not a stream gap. */
  S[S_PACKETS] = (int32_t)((uint32_t)S[S_PACKETS] + 1);
  F[SF_OCTETS] += (double)(len - 12);
  int k = b->on++;
  b->oiov[k].iov_base = buf;
  b->oiov[k].iov_len = len;
  struct msghdr* h = &b->omsgs[k].msg_hdr;
  memset(h, 0, sizeof *h);
  h->msg_iov = &b->oiov[k];
  h->msg_iovlen = 1;
  h->msg_name = &b->odst;
  h->msg_namelen = sizeof b->odst;

  uint32_t at = n % LOG_RECORDS;
  int32_t* rec = &log->ints[at * LOG_INTS];
  rec[L_SOCKET] = s->id;
  rec[L_SEQ] = (int32_t)seqIn;
  rec[L_TS] = (int32_t)tsIn;
  rec[L_SSRC] = (int32_t)ssrc;
  rec[L_PAYLOAD_BYTES] = (int32_t)len - 12;
  log->times[at] = now;
  __atomic_store_n(log->count, (int32_t)(n + 1), __ATOMIC_RELEASE);
  c->offloaded++;
  return 1;
}

/* ---- receive ----------------------------------------------------------------------------- */

static void relay_promote(Instance* inst, Sock* s);

/* Fills arena slot `slot`'s meta and source text for a datagram of socket `id` from `ss`.
 * Returns 0 (the slot stays free) for an address family JavaScript cannot be told about. */
static int arena_meta(Instance* inst, int slot, int id, unsigned len, const struct sockaddr_storage* ss) {
  int32_t* m = &inst->meta[slot * META_INTS];
  char* t = &inst->text[slot * TEXT_BYTES];
  m[0] = id;
  m[1] = (int32_t)len;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in* sin = (const struct sockaddr_in*)ss;
    m[2] = ntohs(sin->sin_port);
    m[3] = 4;
    m[4] = (int32_t)ntohl(sin->sin_addr.s_addr);
    m[5] = m[6] = m[7] = 0;
    inet_ntop(AF_INET, &sin->sin_addr, t, TEXT_BYTES);
    return 1;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6* sin6 = (const struct sockaddr_in6*)ss;
    m[2] = ntohs(sin6->sin6_port);
    m[3] = 6;
    memcpy(&m[4], &sin6->sin6_addr, 16);
    inet_ntop(AF_INET6, &sin6->sin6_addr, t, TEXT_BYTES);
    return 1;
  }
  return 0;
}

static void deliver(Instance* inst) {
  if (inst->delivering || inst->destroyed) return;
  int count = inst->rxCount;
  /* Nothing for the arena but a filling log: JS drains it at the start of every batch. */
  if (count > 0 || *inst->jsLog.count >= LOG_RECORDS / 2) {
    napi_env env = inst->env;
    inst->delivering = 1;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value fn, res, arg, result;
    napi_get_reference_value(env, inst->onBatch, &fn);
    napi_get_reference_value(env, inst->resource, &res);
    napi_create_int32(env, count, &arg);
    inst->c.deliveries++;
    napi_status st = napi_make_callback(env, inst->actx, res, fn, 1, &arg, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
    napi_close_handle_scope(env, scope);
    inst->rxCount = 0;
    inst->gen++;
    inst->delivering = 0;
    for (int k = 0; k < inst->nlate; k++) inst->freeIds[inst->nfree++] = inst->lateFree[k];
    inst->nlate = 0;
  }
  if (inst->txCount > 0) flush(inst);
}

static void on_readable(uv_poll_t* handle, int status, int events) {
  Sock* s = (Sock*)handle->data;
  Instance* inst = s->inst;
  if (status < 0 || !(events & UV_READABLE) || inst->destroyed) return;
  /* A delivery in progress owns the arena (this cannot happen from libuv, but stay safe). */
  if (inst->delivering) return;
  for (int rounds = 0; rounds < 4; rounds++) {
    int start = inst->rxCount;
    int want = RX_SLOTS - start;
    if (want > RX_PER_CALL) want = RX_PER_CALL;
    for (int k = start; k < start + want; k++) {
      inst->rmsgs[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      inst->rmsgs[k].msg_hdr.msg_flags = 0;
      inst->rmsgs[k].msg_len = 0;
    }
    int r = recvmmsg(s->fd, &inst->rmsgs[start], (unsigned)want, MSG_DONTWAIT, NULL);
    inst->c.recvCalls++;
    if (r <= 0) {
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) inst->c.recvErrors++;
      return;
    }
    int out = start;
    int offloaded = 0;
    /* One clock read per call: the arrival time of the batch, and "now" of the rewrites. */
    double now = s->route ? (double)uv_hrtime() / 1e6 : 0;
    for (int k = start; k < start + r; k++) {
      struct msghdr* h = &inst->rmsgs[k].msg_hdr;
      if (h->msg_flags & MSG_TRUNC) {
        inst->c.recvTruncated++;
        continue;
      }
      if (s->route && try_offload(inst, &inst->ob, &inst->c, &inst->jsLog, 1, s, &inst->rx[k * RX_SLOT_BYTES],
                                  inst->rmsgs[k].msg_len, &inst->rname[k], now)) {
        offloaded++;
        continue;
      }
      /* Its slot may be copied over an offloaded one: those go first (none follow in this call). */
      if (inst->ob.olocked) offload_send(&inst->ob, &inst->c);
      if (!arena_meta(inst, out, s->id, inst->rmsgs[k].msg_len, &inst->rname[k])) continue;
      if (out != k) memcpy(&inst->rx[out * RX_SLOT_BYTES], &inst->rx[k * RX_SLOT_BYTES], inst->rmsgs[k].msg_len);
      out++;
      s->arenaGen = inst->gen;
    }
    offload_send(&inst->ob, &inst->c);
    inst->c.recvPackets += out - start + offloaded;
    inst->rxCount = out;
    if (r < want) {
      /* Drained. A socket that relays, with nothing of its own waiting in the arena, goes to the
       * relay threads (when they are on). */
      if (offloaded > 0 && inst->relayOn && s->arenaGen != inst->gen) relay_promote(inst, s);
      return;
    }
    if (inst->rxCount >= RX_SLOTS) {
      /* The arena is full: to JS now. Its handlers may close this very socket (s is freed then):
       * what is left on it waits for the next poll (level-triggered). */
      deliver(inst);
      return;
    }
  }
}

static void on_check(uv_check_t* h) {
  Instance* inst = (Instance*)h->data;
  deliver(inst);
}

static void on_prepare(uv_prepare_t* h) {
  Instance* inst = (Instance*)h->data;
  if (!inst->delivering && inst->txCount > 0) flush(inst);
}

static void free_handle(uv_handle_t* h) { free(h); }

/* ---- relay threads ----------------------------------------------------------------------- */

/* A socket a relay thread reads; `gen` tells a slot's present socket from a past one (an epoll
 * event may name a socket taken back since). Fixed at RELAY_SLOTS: the threads read the table
 * without a lock, so it never moves. */
#define RELAY_SLOTS 65536
typedef struct {
  Sock* s;
  uint32_t gen;
} RelaySlot;

/* One relay thread: its index (the queue it writes in each worker's rq) and its buffers for one
 * recvmmsg call. */
typedef struct {
  int index;
  OffloadBatch ob;
  uint8_t rx[RX_PER_CALL][RX_SLOT_BYTES];
  struct mmsghdr msgs[RX_PER_CALL];
  struct iovec iov[RX_PER_CALL];
  struct sockaddr_storage names[RX_PER_CALL];
} RelayThread;

/* Workers only (the threads never take it): starting the threads, the free slots. */
static pthread_mutex_t relay_mu = PTHREAD_MUTEX_INITIALIZER;
static int relay_nthreads;
/* One epoll set for all the threads (edge-triggered): whichever thread is free takes a socket
 * that has datagrams, so one thread waiting for a CPU holds up no socket another could serve. */
static int relay_ep = -1;
static RelaySlot* relay_slots;
static int* relay_free;
static int relay_nfree;

/* Waits until no relay thread reads `s`. What the caller stored before (a cleared slot, a
 * route's ARMED = 0 from JavaScript) is then what any thread that takes `s` later sees: a thread
 * takes `busy` before it looks at either. */
static void relay_wait_out(Sock* s) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  for (int spins = 0; __atomic_load_n(&s->busy, __ATOMIC_SEQ_CST) != 0; spins++) {
    if (spins % 64 == 63) sched_yield();
    else cpu_relax();
  }
}

/* Takes socket `s` for the calling relay thread: 1 when it is this thread's to read now; 0 when
 * another thread reads it, which is then told to read it again before it lets go (a datagram
 * that came after its last receive call has no edge of its own). */
static int relay_enter(Sock* s) {
  for (;;) {
    int b = __atomic_load_n(&s->busy, __ATOMIC_ACQUIRE);
    if (b == 0 && __atomic_compare_exchange_n(&s->busy, &b, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return 1;
    if (b == 2) return 0;
    if (b == 1 && __atomic_compare_exchange_n(&s->busy, &b, 2, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return 0;
  }
}

/* Lets go of `s`; 1 when another thread asked for one more pass first (the caller keeps it). */
static int relay_leave(Sock* s) {
  int one = 1;
  if (__atomic_compare_exchange_n(&s->busy, &one, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return 0;
  __atomic_store_n(&s->busy, 1, __ATOMIC_RELAXED);
  return 1;
}

/* Keeps a datagram of `s` for its worker (dropped and counted when the ring is full). */
static void relay_bounce(RelayQueue* q, Sock* s, const uint8_t* buf, unsigned len, const struct sockaddr_storage* from) {
  uint32_t head = q->bounceHead;
  if (head - __atomic_load_n(&q->bounceTail, __ATOMIC_ACQUIRE) >= BOUNCE_MAX) {
    q->tc.recvErrors++;
    return;
  }
  Bounce* b = &q->bounce[head % BOUNCE_MAX];
  b->id = s->id;
  b->serial = s->serial;
  b->len = len;
  b->from = *from;
  memcpy(b->data, buf, len);
  __atomic_store_n(&q->bounceHead, head + 1, __ATOMIC_RELEASE);
}

/* Thread `t` reads what `s` received, all of it (the set is edge-triggered): relays what its
 * route describes; the first datagram it does not, and the rest of that call, go back to the
 * worker with the socket. Returns 1 when it sent the socket back. */
static int relay_socket(RelayThread* t, Sock* s) {
  Instance* inst = s->inst;
  RelayQueue* q = &inst->rq[t->index];
  Log log = {q->ints, q->times, &q->head, &q->tail};
  int back = 0;
  int rounds = 0;
  for (; !back; rounds++) {
    if (rounds == 64) {
      /* A flood: the others' turn. Re-armed, the set reports the socket again if it still has some. */
      struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uint64_t)s->relaySlot << 32 | s->relayGen};
      epoll_ctl(relay_ep, EPOLL_CTL_MOD, s->fd, &ev);
      break;
    }
    for (int k = 0; k < RX_PER_CALL; k++) {
      t->msgs[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      t->msgs[k].msg_hdr.msg_flags = 0;
      t->msgs[k].msg_len = 0;
    }
    int r = recvmmsg(s->fd, t->msgs, RX_PER_CALL, MSG_DONTWAIT, NULL);
    q->tc.recvCalls++;
    if (r <= 0) {
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) q->tc.recvErrors++;
      break;
    }
    double now = (double)uv_hrtime() / 1e6;
    for (int k = 0; k < r; k++) {
      if (t->msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
        q->tc.recvTruncated++;
        continue;
      }
      q->tc.recvPackets++;
      if (!back && s->route &&
          try_offload(inst, &t->ob, &q->tc, &log, 0, s, t->rx[k], t->msgs[k].msg_len, &t->names[k], now)) {
        q->tc.threadOffloaded++;
        continue;
      }
      offload_send(&t->ob, &q->tc); /* what was relayed before it goes first */
      back = 1;
      relay_bounce(q, s, t->rx[k], t->msgs[k].msg_len, &t->names[k]);
    }
    offload_send(&t->ob, &q->tc);
    if (r < RX_PER_CALL) break;
  }
  if (back) {
    /* Not read here again; the worker frees the slot and polls the socket (on_relay_async). */
    epoll_ctl(relay_ep, EPOLL_CTL_DEL, s->fd, NULL);
    q->tc.threadReturns++;
    __atomic_store_n(&s->returning, 1, __ATOMIC_RELEASE);
    uv_async_send(inst->async);
  } else if ((uint32_t)q->head - __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) >= LOG_RECORDS / 2 &&
             !__atomic_load_n(&q->signalled, __ATOMIC_ACQUIRE)) {
    __atomic_store_n(&q->signalled, 1, __ATOMIC_RELEASE);
    uv_async_send(inst->async);
  }
  return back;
}

static void* relay_main(void* arg) {
  RelayThread* t = (RelayThread*)arg;
  struct epoll_event ev[16];
  for (;;) {
    int n = epoll_wait(relay_ep, ev, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    for (int i = 0; i < n; i++) {
      RelaySlot* slot = &relay_slots[ev[i].data.u64 >> 32];
      uint32_t gen = (uint32_t)ev[i].data.u64;
      Sock* s = __atomic_load_n(&slot->s, __ATOMIC_SEQ_CST);
      if (s && relay_enter(s)) {
        /* Still the slot's socket now that this thread holds it (a worker taking it back clears
         * the slot, then waits for `busy` to drop). */
        if (__atomic_load_n(&slot->s, __ATOMIC_SEQ_CST) == s && __atomic_load_n(&slot->gen, __ATOMIC_SEQ_CST) == gen &&
            !__atomic_load_n(&s->returning, __ATOMIC_ACQUIRE)) {
          while (!relay_socket(t, s) && relay_leave(s)) {
          }
          if (__atomic_load_n(&s->returning, __ATOMIC_ACQUIRE)) __atomic_store_n(&s->busy, 0, __ATOMIC_SEQ_CST);
        } else {
          __atomic_store_n(&s->busy, 0, __ATOMIC_SEQ_CST);
        }
      }
    }
  }
}

/* Starts the process' relay threads, `n` of them, once (relay_mu held). Returns how many run. */
static int relay_start_locked(int n) {
  if (relay_nthreads > 0 || n <= 0) return relay_nthreads;
  if (n > RELAY_MAX_THREADS) n = RELAY_MAX_THREADS;
  if (!relay_slots) {
    relay_slots = calloc(RELAY_SLOTS, sizeof(RelaySlot));
    relay_free = malloc(sizeof(int) * RELAY_SLOTS);
    if (!relay_slots || !relay_free) {
      free(relay_slots);
      free(relay_free);
      relay_slots = NULL;
      relay_free = NULL;
      return 0;
    }
    for (int k = RELAY_SLOTS - 1; k >= 0; k--) relay_free[relay_nfree++] = k;
  }
  if (relay_ep < 0) relay_ep = epoll_create1(EPOLL_CLOEXEC);
  if (relay_ep < 0) return 0;
  for (int i = 0; i < n; i++) {
    RelayThread* t = calloc(1, sizeof *t);
    if (!t) break;
    t->index = i;
    for (int k = 0; k < RX_PER_CALL; k++) {
      t->iov[k].iov_base = t->rx[k];
      t->iov[k].iov_len = RX_SLOT_BYTES;
      t->msgs[k].msg_hdr.msg_iov = &t->iov[k];
      t->msgs[k].msg_hdr.msg_iovlen = 1;
      t->msgs[k].msg_hdr.msg_name = &t->names[k];
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int ok = pthread_create(&th, &attr, relay_main, t) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
      free(t);
      break;
    }
    char name[16];
    snprintf(name, sizeof name, "msc-relay-%d", i);
    pthread_setname_np(th, name);
    relay_nthreads = i + 1;
  }
  return relay_nthreads;
}

/* Hands socket `s` (drained, nothing of it in the arena) from the worker's loop to the relay
 * threads. What the worker queued is sent first: the threads' datagrams must not overtake it. */
static void relay_promote(Instance* inst, Sock* s) {
  if (inst->delivering || s->relaySlot >= 0 || !inst->rq) return;
  if (inst->txCount > 0) flush(inst);
  pthread_mutex_lock(&relay_mu);
  if (relay_nfree > 0) {
    int k = relay_free[--relay_nfree];
    RelaySlot* slot = &relay_slots[k];
    /* Off the loop first, so that only the thread reads it from here on. */
    uv_poll_stop(s->poll);
    __atomic_store_n(&slot->s, s, __ATOMIC_SEQ_CST);
    s->relaySlot = k;
    s->relayGen = slot->gen;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uint64_t)k << 32 | slot->gen};
    if (epoll_ctl(relay_ep, EPOLL_CTL_ADD, s->fd, &ev) == 0) {
      inst->c.threadHandoffs++;
    } else {
      __atomic_store_n(&slot->s, NULL, __ATOMIC_SEQ_CST);
      relay_free[relay_nfree++] = k;
      s->relaySlot = -1;
      uv_poll_start(s->poll, UV_READABLE, on_readable);
    }
  }
  pthread_mutex_unlock(&relay_mu);
}

/* Takes socket `s` back from its relay thread (a worker: closing it, a new route, the thread
 * sent it back): when this returns the thread is out of it and will not read it again. */
static void relay_take_back(Sock* s) {
  int k = s->relaySlot;
  if (k < 0) return;
  RelaySlot* slot = &relay_slots[k];
  if (!__atomic_load_n(&s->returning, __ATOMIC_ACQUIRE)) epoll_ctl(relay_ep, EPOLL_CTL_DEL, s->fd, NULL);
  __atomic_store_n(&slot->s, NULL, __ATOMIC_SEQ_CST);
  relay_wait_out(s);
  pthread_mutex_lock(&relay_mu);
  __atomic_store_n(&slot->gen, slot->gen + 1, __ATOMIC_SEQ_CST);
  relay_free[relay_nfree++] = k;
  pthread_mutex_unlock(&relay_mu);
  s->relaySlot = -1;
  s->returning = 0;
}

/* Keeps the relay thread out of `s` while a worker changes what it reads there (route()): a
 * socket it reads comes back to the worker's loop; one it sent back waits for on_relay_async. */
static void relay_hold(Sock* s) {
  if (s->relaySlot < 0) return;
  if (__atomic_load_n(&s->returning, __ATOMIC_ACQUIRE)) {
    relay_wait_out(s);
    return;
  }
  relay_take_back(s);
  uv_poll_start(s->poll, UV_READABLE, on_readable);
}

/* Moves what the relay threads logged for this worker into the log JavaScript reads, as much as
 * fits, oldest first across the threads' queues (a socket read by one thread, then another, has
 * its records in both, in the order of their arrival times). Returns how many are left. */
static int relay_merge_log(Instance* inst) {
  if (!inst->rq) return 0;
  uint32_t heads[RELAY_MAX_THREADS], tails[RELAY_MAX_THREADS];
  for (int i = 0; i < inst->nrq; i++) {
    RelayQueue* q = &inst->rq[i];
    __atomic_store_n(&q->signalled, 0, __ATOMIC_RELEASE);
    heads[i] = (uint32_t)__atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    tails[i] = q->tail;
  }
  int at = *inst->jsLog.count;
  while (at < LOG_RECORDS) {
    int pick = -1;
    double oldest = 0;
    for (int i = 0; i < inst->nrq; i++) {
      if (tails[i] == heads[i]) continue;
      double t = inst->rq[i].times[tails[i] % LOG_RECORDS];
      if (pick < 0 || t < oldest) {
        pick = i;
        oldest = t;
      }
    }
    if (pick < 0) break;
    RelayQueue* q = &inst->rq[pick];
    uint32_t r = tails[pick]++ % LOG_RECORDS;
    memcpy(&inst->jsLog.ints[at * LOG_INTS], &q->ints[r * LOG_INTS], sizeof(int32_t) * LOG_INTS);
    inst->jsLog.times[at] = q->times[r];
    at++;
  }
  *inst->jsLog.count = at;
  int left = 0;
  for (int i = 0; i < inst->nrq; i++) {
    __atomic_store_n(&inst->rq[i].tail, tails[i], __ATOMIC_RELEASE);
    left += (int)(heads[i] - tails[i]);
  }
  return left;
}

/* The worker's side of a wake-up from a relay thread: the sockets it sent back are polled again,
 * after their datagrams are in the arena and, before those, the threads' logs (which hold what
 * they relayed of them earlier). */
static void on_relay_async(uv_async_t* h) {
  Instance* inst = (Instance*)h->data;
  if (inst->destroyed || !inst->rq) return;
  /* The datagrams sent back so far, read first: the log records before them are then all in. */
  uint32_t heads[RELAY_MAX_THREADS];
  int pending = 0;
  for (int i = 0; i < relay_nthreads; i++) {
    heads[i] = __atomic_load_n(&inst->rq[i].bounceHead, __ATOMIC_ACQUIRE);
    if (heads[i] != inst->rq[i].bounceTail) pending = 1;
  }
  while (relay_merge_log(inst) > 0 && pending) deliver(inst); /* JavaScript drains the log */
  for (int i = 0; i < relay_nthreads; i++) {
    RelayQueue* q = &inst->rq[i];
    uint32_t tail = q->bounceTail;
    for (; tail != heads[i]; tail++) {
      Bounce* b = &q->bounce[tail % BOUNCE_MAX];
      Sock* s = b->id >= 0 && b->id < inst->nsocks ? inst->socks[b->id] : NULL;
      if (!s || s->serial != b->serial) continue; /* closed since */
      if (inst->rxCount >= RX_SLOTS) {
        __atomic_store_n(&q->bounceTail, tail, __ATOMIC_RELEASE);
        deliver(inst); /* may close sockets: each datagram is looked up again */
      }
      int k = inst->rxCount;
      if (!arena_meta(inst, k, s->id, b->len, &b->from)) continue;
      memcpy(&inst->rx[k * RX_SLOT_BYTES], b->data, b->len);
      inst->rxCount = k + 1;
      s->arenaGen = inst->gen;
    }
    __atomic_store_n(&q->bounceTail, tail, __ATOMIC_RELEASE);
  }
  for (int id = 0; id < inst->nsocks; id++) {
    Sock* s = inst->socks[id];
    if (s && s->relaySlot >= 0 && __atomic_load_n(&s->returning, __ATOMIC_ACQUIRE)) {
      relay_take_back(s);
      uv_poll_start(s->poll, UV_READABLE, on_readable);
    }
  }
  deliver(inst);
}

/* ---- socket lifecycle -------------------------------------------------------------------- */

static void route_release(Instance* inst, Sock* s) {
  if (s->routeRef) napi_delete_reference(inst->env, s->routeRef);
  if (s->senderRef) napi_delete_reference(inst->env, s->senderRef);
  s->routeRef = s->senderRef = NULL;
  s->route = s->sender = NULL;
  s->senderF = NULL;
}

/*
 * No thread may relay into this socket's SENDER block once the fd is closed (and the number
 * reused): its FD and RELAY_OK are cleared under the block's lock before close(). JavaScript does
 * the same before it closes an endpoint; this covers a worker that dies without running it.
 */
/* Drops the socket's reference to its SENDER block (own(id, null), re-own, close). */
static void own_forget(napi_env env, Sock* s) {
  if (s->ownedRef) napi_delete_reference(env, s->ownedRef);
  s->ownedRef = NULL;
  s->owned = NULL;
}

static void own_release(Instance* inst, Sock* s) {
  int32_t* S = s->owned;
  if (S) {
    for (int spins = 0;; spins++) {
      int32_t expected = 0;
      if (__atomic_compare_exchange_n(&S[S_LOCK], &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) break;
      if (spins >= 64 * LOCK_SPINS) break; /* a holder that died inside: take it over */
      if (spins % 64 == 0) sched_yield();
      else cpu_relax();
    }
    if (S[S_FD] == s->fd) {
      S[S_RELAY_OK] = 0;
      S[S_FD] = -1;
    }
    __atomic_store_n(&S[S_LOCK], 0, __ATOMIC_RELEASE);
  }
  own_forget(inst->env, s);
}

static void close_sock(Instance* inst, Sock* s) {
  if (inst->txCount > 0) flush(inst); /* what was queued on it still goes */
  /* Off the relay thread first. What it sent back and this worker has not taken yet is dropped
   * (by serial). */
  relay_take_back(s);
  route_release(inst, s);
  own_release(inst, s);
  uv_poll_stop(s->poll);
  /* uv_close removes the fd from epoll synchronously: the fd may be closed (and reused) after. */
  uv_close((uv_handle_t*)s->poll, free_handle);
  close(s->fd);
  inst->socks[s->id] = NULL;
  /* Datagrams of this socket still waiting in the arena are not delivered to whoever gets its id next. */
  if (!inst->delivering)
    for (int k = 0; k < inst->rxCount; k++)
      if (inst->meta[k * META_INTS] == s->id) inst->meta[k * META_INTS] = -1;
  if (inst->delivering) {
    if (inst->nlate == inst->caplate) {
      int cap = inst->caplate ? inst->caplate * 2 : 64;
      int* p = realloc(inst->lateFree, sizeof(int) * (size_t)cap);
      if (!p) {
        free(s);
        return; /* the id is simply not reused */
      }
      inst->lateFree = p;
      inst->caplate = cap;
    }
    inst->lateFree[inst->nlate++] = s->id;
  } else {
    inst->freeIds[inst->nfree++] = s->id; /* capfree >= nsocks */
  }
  free(s);
}

static void destroy(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Instance* inst = (Instance*)data;
  if (!inst) return;
  free(inst->socks);
  free(inst->freeIds);
  free(inst->lateFree);
  free(inst->tbuf);
  if (inst->rq)
    for (int i = 0; i < inst->nrq; i++) {
      free(inst->rq[i].ints);
      free(inst->rq[i].times);
      free(inst->rq[i].bounce);
    }
  free(inst->rq);
  free(inst);
}

/* Environment teardown (worker exit): close every socket and the loop handles. */
static void cleanup(void* arg) {
  Instance* inst = (Instance*)arg;
  if (inst->txCount > 0) flush(inst);
  for (int i = 0; i < inst->nsocks; i++)
    if (inst->socks[i]) close_sock(inst, inst->socks[i]);
  inst->destroyed = 1;
  if (inst->async) {
    /* No socket of this worker is the relay thread's any more: it will not wake this one. */
    uv_close((uv_handle_t*)inst->async, free_handle);
    inst->async = NULL;
  }
  if (inst->prepare) {
    uv_prepare_stop(inst->prepare);
    uv_close((uv_handle_t*)inst->prepare, free_handle);
    inst->prepare = NULL;
  }
  if (inst->check) {
    uv_check_stop(inst->check);
    uv_close((uv_handle_t*)inst->check, free_handle);
    inst->check = NULL;
  }
  if (inst->actx) napi_async_destroy(inst->env, inst->actx);
  inst->actx = NULL;
}

/* ---- JS API ------------------------------------------------------------------------------ */

/* init(onBatch) -> { rx: ArrayBuffer, meta: Int32Array, text: Uint8Array, slots, slotBytes, metaInts, textBytes,
 *                    logInts: Int32Array, logTimes: Float64Array, logCount: Int32Array } */
static napi_value Init(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!is_type(env, argv[0], napi_function)) {
    throw_type(env, "ERR_INVALID_ARG_TYPE", "init(onBatch): onBatch must be a function");
    return NULL;
  }
  if (instance_of(env) != NULL) {
    throw_type(env, "ERR_INVALID_STATE", "udp_batch: init() already called in this thread");
    return NULL;
  }
  Instance* inst = calloc(1, sizeof *inst);
  if (!inst) {
    throw_errno(env, ENOMEM, "init", NULL);
    return NULL;
  }
  inst->env = env;
  inst->batching = 1;
  inst->gen = 1; /* a new socket's arenaGen (0) is never the current one */
  inst->tbuf = malloc((size_t)TX_SLOTS * TX_SLOT_BYTES);
  inst->capfree = 0;
  if (!inst->tbuf || napi_get_uv_event_loop(env, &inst->loop) != napi_ok) {
    free(inst->tbuf);
    free(inst);
    throw_errno(env, ENOMEM, "init", NULL);
    return NULL;
  }
  napi_value rx, rxab, meta, metaab, text, textab;
  void* p;
  napi_create_arraybuffer(env, (size_t)RX_SLOTS * RX_SLOT_BYTES, &p, &rxab);
  inst->rx = p;
  napi_create_arraybuffer(env, (size_t)RX_SLOTS * META_INTS * 4, &p, &metaab);
  inst->meta = p;
  napi_create_arraybuffer(env, (size_t)RX_SLOTS * TEXT_BYTES, &p, &textab);
  inst->text = p;
  rx = rxab;
  napi_value logIntsAb, logTimesAb, logCountAb, logInts, logTimes, logCount;
  napi_create_arraybuffer(env, (size_t)LOG_RECORDS * LOG_INTS * 4, &p, &logIntsAb);
  inst->logInts = p;
  napi_create_arraybuffer(env, (size_t)LOG_RECORDS * 8, &p, &logTimesAb);
  inst->logTimes = p;
  napi_create_arraybuffer(env, 4, &p, &logCountAb);
  inst->logCount = p;
  inst->jsLog.ints = inst->logInts;
  inst->jsLog.times = inst->logTimes;
  inst->jsLog.count = inst->logCount;
  napi_create_typedarray(env, napi_int32_array, (size_t)LOG_RECORDS * LOG_INTS, logIntsAb, 0, &logInts);
  napi_create_typedarray(env, napi_float64_array, (size_t)LOG_RECORDS, logTimesAb, 0, &logTimes);
  napi_create_typedarray(env, napi_int32_array, 1, logCountAb, 0, &logCount);
  napi_create_reference(env, logIntsAb, 1, &inst->logIntsRef);
  napi_create_reference(env, logTimesAb, 1, &inst->logTimesRef);
  napi_create_reference(env, logCountAb, 1, &inst->logCountRef);
  napi_create_typedarray(env, napi_int32_array, (size_t)RX_SLOTS * META_INTS, metaab, 0, &meta);
  napi_create_typedarray(env, napi_uint8_array, (size_t)RX_SLOTS * TEXT_BYTES, textab, 0, &text);
  napi_create_reference(env, rxab, 1, &inst->rxRef);
  napi_create_reference(env, metaab, 1, &inst->metaRef);
  napi_create_reference(env, textab, 1, &inst->textRef);
  napi_create_reference(env, argv[0], 1, &inst->onBatch);
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &inst->resource);
  napi_create_string_utf8(env, "UDPBATCH", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &inst->actx);
  for (int k = 0; k < RX_SLOTS; k++) {
    inst->riov[k].iov_base = &inst->rx[k * RX_SLOT_BYTES];
    inst->riov[k].iov_len = RX_SLOT_BYTES;
    inst->rmsgs[k].msg_hdr.msg_iov = &inst->riov[k];
    inst->rmsgs[k].msg_hdr.msg_iovlen = 1;
    inst->rmsgs[k].msg_hdr.msg_name = &inst->rname[k];
  }
  for (int k = 0; k < TX_SLOTS; k++) {
    inst->tiov[k].iov_base = &inst->tbuf[(size_t)k * TX_SLOT_BYTES];
    inst->tmsgs[k].msg_hdr.msg_iov = &inst->tiov[k];
    inst->tmsgs[k].msg_hdr.msg_iovlen = 1;
    inst->tmsgs[k].msg_hdr.msg_name = &inst->tname[k];
  }
  inst->prepare = malloc(sizeof(uv_prepare_t));
  inst->check = malloc(sizeof(uv_check_t));
  uv_prepare_init(inst->loop, inst->prepare);
  uv_check_init(inst->loop, inst->check);
  inst->prepare->data = inst;
  inst->check->data = inst;
  uv_prepare_start(inst->prepare, on_prepare);
  uv_check_start(inst->check, on_check);
  inst->async = malloc(sizeof(uv_async_t));
  if (inst->async && uv_async_init(inst->loop, inst->async, on_relay_async) == 0) {
    inst->async->data = inst;
    uv_unref((uv_handle_t*)inst->async);
  } else {
    free(inst->async);
    inst->async = NULL;
  }
  /* They must not keep the loop (a worker, the process) alive: the sockets' polls do. */
  uv_unref((uv_handle_t*)inst->prepare);
  uv_unref((uv_handle_t*)inst->check);
  napi_set_instance_data(env, inst, destroy, NULL);
  napi_add_env_cleanup_hook(env, cleanup, inst);

  napi_value out, v;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "rx", rx);
  napi_set_named_property(env, out, "meta", meta);
  napi_set_named_property(env, out, "text", text);
  napi_create_int32(env, RX_SLOTS, &v);
  napi_set_named_property(env, out, "slots", v);
  napi_create_int32(env, RX_SLOT_BYTES, &v);
  napi_set_named_property(env, out, "slotBytes", v);
  napi_create_int32(env, META_INTS, &v);
  napi_set_named_property(env, out, "metaInts", v);
  napi_create_int32(env, TEXT_BYTES, &v);
  napi_set_named_property(env, out, "textBytes", v);
  napi_set_named_property(env, out, "logInts", logInts);
  napi_set_named_property(env, out, "logTimes", logTimes);
  napi_set_named_property(env, out, "logCount", logCount);
  return out;
}

/* open(family: 4 | 6) -> id */
static napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Instance* inst = instance_of(env);
  if (!inst || inst->destroyed) {
    throw_type(env, "ERR_INVALID_STATE", "udp_batch: init() was not called");
    return NULL;
  }
  int64_t family;
  if (!get_int(env, argv[0], 4, 6, "family", &family)) return NULL;
  if (family != 4 && family != 6) {
    throw_range(env, "ERR_OUT_OF_RANGE", "family must be 4 or 6");
    return NULL;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL);
    return NULL;
  }
  if (family == 6) {
    int off = 0; /* dual stack, as node:dgram's udp6 */
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  int id;
  if (inst->nfree > 0) {
    id = inst->freeIds[--inst->nfree];
  } else {
    int n = inst->nsocks + 1;
    Sock** socks = realloc(inst->socks, sizeof(Sock*) * (size_t)n);
    if (socks) inst->socks = socks;
    int* freeIds = socks ? realloc(inst->freeIds, sizeof(int) * (size_t)n) : NULL;
    if (freeIds) inst->freeIds = freeIds;
    if (!socks || !freeIds) {
      close(fd);
      throw_errno(env, ENOMEM, "socket", NULL);
      return NULL;
    }
    inst->capfree = n;
    id = inst->nsocks;
    inst->socks[id] = NULL;
    inst->nsocks = n;
  }
  Sock* s = calloc(1, sizeof *s);
  uv_poll_t* poll = malloc(sizeof(uv_poll_t));
  if (!s || !poll || uv_poll_init_socket(inst->loop, poll, fd) != 0) {
    free(s);
    free(poll);
    close(fd);
    inst->freeIds[inst->nfree++] = id;
    throw_errno(env, ENOMEM, "socket", NULL);
    return NULL;
  }
  s->inst = inst;
  s->id = id;
  s->fd = fd;
  s->relaySlot = -1;
  s->serial = ++inst->serials;
  s->family = (int)family;
  s->poll = poll;
  poll->data = s;
  inst->socks[id] = s;
  napi_value out;
  napi_create_int32(env, id, &out);
  return out;
}

/* bind(id, address, port) -> bound port; starts receiving. Throws "bind EADDRINUSE ip:port" etc. */
static napi_value Bind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  Instance* inst = instance_of(env);
  Sock* s = get_sock(env, inst, argv[0]);
  if (!s) return NULL;
  int64_t port;
  if (!get_int(env, argv[2], 0, 65535, "port", &port)) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = parse_addr(env, argv[1], s->family, (int)port, &ss);
  if (!len) return NULL;
  if (bind(s->fd, (struct sockaddr*)&ss, len) != 0) {
    int err = errno;
    char ip[64] = "", detail[96];
    if (is_type(env, argv[1], napi_string)) napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, NULL);
    snprintf(detail, sizeof detail, "%s:%d", ip, (int)port);
    throw_errno(env, err, "bind", detail);
    return NULL;
  }
  int r = uv_poll_start(s->poll, UV_READABLE, on_readable);
  if (r != 0) {
    throw_errno(env, -r, "uv_poll_start", NULL);
    return NULL;
  }
  struct sockaddr_storage got;
  socklen_t gl = sizeof got;
  getsockname(s->fd, (struct sockaddr*)&got, &gl);
  napi_value out;
  napi_create_int32(env,
                    got.ss_family == AF_INET ? ntohs(((struct sockaddr_in*)&got)->sin_port)
                                             : ntohs(((struct sockaddr_in6*)&got)->sin6_port),
                    &out);
  return out;
}

/* address(id) -> { address, family: 'IPv4' | 'IPv6', port } */
static napi_value Address(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Sock* s = get_sock(env, instance_of(env), argv[0]);
  if (!s) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(s->fd, (struct sockaddr*)&ss, &len) != 0) {
    throw_errno(env, errno, "getsockname", NULL);
    return NULL;
  }
  char ip[INET6_ADDRSTRLEN] = "";
  int port;
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in*)&ss)->sin_addr, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in*)&ss)->sin_port);
  } else {
    inet_ntop(AF_INET6, &((struct sockaddr_in6*)&ss)->sin6_addr, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
  }
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "address", v);
  napi_create_string_utf8(env, ss.ss_family == AF_INET ? "IPv4" : "IPv6", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "family", v);
  napi_create_int32(env, port, &v);
  napi_set_named_property(env, out, "port", v);
  return out;
}

/*
 * send(id, data: Uint8Array, offset, length, port, address: string | uint32) -> undefined.
 * Copies the bytes: the caller may reuse `data` at once. Errors of the send itself (no route,
 * ICMP unreachable, a full socket buffer) drop the packet and are counted, as a datagram lost.
 */
static napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv)) return NULL;
  Instance* inst = instance_of(env);
  Sock* s = get_sock(env, inst, argv[0]);
  if (!s) return NULL;
  bool isTa = false;
  napi_is_typedarray(env, argv[1], &isTa);
  if (!isTa) {
    throw_type(env, "ERR_INVALID_ARG_TYPE", "data must be a Uint8Array or Buffer");
    return NULL;
  }
  napi_typedarray_type tt;
  size_t elems;
  void* data;
  napi_get_typedarray_info(env, argv[1], &tt, &elems, &data, NULL, NULL);
  if (tt != napi_uint8_array) {
    throw_type(env, "ERR_INVALID_ARG_TYPE", "data must be a Uint8Array or Buffer");
    return NULL;
  }
  int64_t off, len, port;
  if (!get_int(env, argv[2], 0, (int64_t)elems, "offset", &off)) return NULL;
  if (!get_int(env, argv[3], 0, (int64_t)elems - off, "length", &len)) return NULL;
  if (!get_int(env, argv[4], 1, 65535, "port", &port)) return NULL;
  if (len > 65507) {
    throw_errno(env, EMSGSIZE, "send", NULL);
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t alen = parse_addr(env, argv[5], s->family, (int)port, &ss);
  if (!alen) return NULL;
  const uint8_t* bytes = (const uint8_t*)data + off;
  if (!inst->batching || len > TX_SLOT_BYTES) {
    /* Immediate: keeps order with what is queued for this thread. */
    if (inst->txCount > 0) flush(inst);
    inst->c.sendImmediate++;
    inst->c.sendCalls++;
    if (sendto(s->fd, bytes, (size_t)len, MSG_DONTWAIT, (struct sockaddr*)&ss, alen) < 0) inst->c.sendErrors++;
    else inst->c.sendPackets++;
    return NULL;
  }
  int k = inst->txCount;
  memcpy(inst->tiov[k].iov_base, bytes, (size_t)len);
  inst->tiov[k].iov_len = (size_t)len;
  memcpy(&inst->tname[k], &ss, alen);
  inst->tmsgs[k].msg_hdr.msg_namelen = alen;
  inst->tfd[k] = s->fd;
  inst->txCount = k + 1;
  if (inst->txCount == TX_SLOTS) flush(inst);
  return NULL;
}

/* flush(): sends what is queued now. */
static napi_value Flush(napi_env env, napi_callback_info info) {
  (void)info;
  Instance* inst = instance_of(env);
  if (inst && inst->txCount > 0) flush(inst);
  return NULL;
}

/* close(id): idempotent on the JS side; here a closed id throws EBADF. */
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Instance* inst = instance_of(env);
  Sock* s = get_sock(env, inst, argv[0]);
  if (!s) return NULL;
  close_sock(inst, s);
  return NULL;
}

/* setBatching(on): false sends every packet at once with sendto (benchmarks compare). */
static napi_value SetBatching(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Instance* inst = initialised(env);
  if (!inst) return NULL;
  bool on = true;
  if (napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    throw_type(env, "ERR_INVALID_ARG_TYPE", "setBatching(on): on must be a boolean");
    return NULL;
  }
  if (!on && inst->txCount > 0) flush(inst);
  inst->batching = on ? 1 : 0;
  return NULL;
}

/* stats() -> counters of this thread. */
static napi_value Stats(napi_env env, napi_callback_info info) {
  (void)info;
  Instance* inst = instance_of(env);
  napi_value out, v;
  napi_create_object(env, &out);
  if (!inst) return out;
  /* The relay thread's counters of this worker: written by it alone, read here without a lock
   * (each an aligned 8-byte word: a value of a moment ago at worst). */
  Counters c = inst->c;
  double* sum = (double*)&c;
  for (int t = 0; inst->rq && t < relay_nthreads; t++) {
    const double* add = (const double*)&inst->rq[t].tc;
    for (size_t i = 0; i < sizeof c / sizeof(double); i++) {
      double v;
      __atomic_load(&add[i], &v, __ATOMIC_RELAXED);
      sum[i] += v;
    }
  }
#define S(f)                                  \
  napi_create_double(env, c.f, &v);           \
  napi_set_named_property(env, out, #f, v);
  S(recvCalls) S(recvPackets) S(recvTruncated) S(recvErrors) S(deliveries)
  S(sendCalls) S(sendPackets) S(sendErrors) S(sendImmediate)
  S(offloaded) S(offloadSendCalls) S(offloadSendErrors) S(offloadLockBusy)
  S(threadOffloaded) S(threadHandoffs) S(threadReturns)
#undef S
  napi_create_int32(env, inst->txCount, &v);
  napi_set_named_property(env, out, "queued", v);
  return out;
}

/* fd(id) -> the socket's descriptor (what a SENDER block's FD holds). */
static napi_value Fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Sock* s = get_sock(env, instance_of(env), argv[0]);
  if (!s) return NULL;
  napi_value out;
  napi_create_int32(env, s->fd, &out);
  return out;
}

/* hrtimeMs() -> the process-wide monotonic clock in ms (the offload's times; same in every thread). */
static napi_value HrtimeMs(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_double(env, (double)uv_hrtime() / 1e6, &out);
  return out;
}

typedef struct {
  const char* name;
  int value;
} Field;

static napi_value fields_object(napi_env env, const Field* f, size_t n) {
  napi_value o, v;
  napi_create_object(env, &o);
  for (size_t i = 0; i < n; i++) {
    napi_create_int32(env, f[i].value, &v);
    napi_set_named_property(env, o, f[i].name, v);
  }
  return o;
}

/* offloadLayout() -> the numbers this file was built with, for a test to compare to offloadLayout.ts. */
static napi_value OffloadLayout(napi_env env, napi_callback_info info) {
  (void)info;
#define F(prefix, x) {#x, prefix##x}
  static const Field s[] = {F(S_, LOCK),        F(S_, RELAY_OK),      F(S_, FD),         F(S_, DST_IP),
                            F(S_, DST_PORT),    F(S_, SSRC),          F(S_, SEQ),        F(S_, TS),
                            F(S_, SOURCE),      F(S_, SEQ_OFFSET),    F(S_, TS_OFFSET),  F(S_, MARKER),
                            F(S_, CLOCK_RATE),  F(S_, FRAME_SAMPLES), F(S_, PACKETS),    F(S_, PT_OUT),
                            F(S_, CODEC_KEY)};
  static const Field sf[] = {F(SF_, LAST_SEND_MS), F(SF_, OCTETS)};
  static const Field r[] = {F(R_, ARMED),   F(R_, FROM_IP),      F(R_, FROM_PORT), F(R_, PT_IN),
                            F(R_, SSRC_IN), F(R_, SOURCE_TOKEN), F(R_, CODEC_KEY)};
  static const Field l[] = {F(L_, SOCKET), F(L_, SEQ), F(L_, TS), F(L_, SSRC), F(L_, PAYLOAD_BYTES)};
  static const Field top[] = {{"SENDER_BYTES", SENDER_BYTES}, {"SENDER_INTS", SENDER_INTS},
                              {"SENDER_FLOAT_OFFSET", SENDER_FLOAT_OFFSET}, {"SENDER_FLOATS", SENDER_FLOATS},
                              {"ROUTE_INTS", ROUTE_INTS}, {"LOG_INTS", LOG_INTS}, {"LOG_RECORDS", LOG_RECORDS}};
#undef F
  napi_value out = fields_object(env, top, sizeof top / sizeof top[0]);
  napi_set_named_property(env, out, "S", fields_object(env, s, sizeof s / sizeof s[0]));
  napi_set_named_property(env, out, "SF", fields_object(env, sf, sizeof sf / sizeof sf[0]));
  napi_set_named_property(env, out, "R", fields_object(env, r, sizeof r / sizeof r[0]));
  napi_set_named_property(env, out, "L", fields_object(env, l, sizeof l / sizeof l[0]));
  return out;
}

/* An Int32Array argument: its data and length; throws and returns NULL otherwise. */
static int32_t* get_int32_array(napi_env env, napi_value v, const char* what, size_t* length, napi_value* buffer,
                                size_t* byteOffset) {
  bool isTa = false;
  napi_is_typedarray(env, v, &isTa);
  napi_typedarray_type tt;
  void* data = NULL;
  if (!isTa || napi_get_typedarray_info(env, v, &tt, length, &data, buffer, byteOffset) != napi_ok ||
      tt != napi_int32_array || data == NULL) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an Int32Array", what);
    throw_type(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  return data;
}

/*
 * A SENDER block argument: an Int32Array over byte 0 of a buffer of SENDER_BYTES (the float64
 * words follow in it), 8-byte aligned. Throws and returns NULL otherwise.
 */
static int32_t* get_sender_block(napi_env env, napi_value v) {
  size_t slen, soff;
  napi_value sbuf;
  int32_t* sender = get_int32_array(env, v, "sender", &slen, &sbuf, &soff);
  if (!sender) return NULL;
  /* byteLength works for an ArrayBuffer and a SharedArrayBuffer alike (napi_get_arraybuffer_info
   * does not take the latter). */
  napi_value bl;
  double blen = 0;
  if (napi_get_named_property(env, sbuf, "byteLength", &bl) != napi_ok ||
      napi_get_value_double(env, bl, &blen) != napi_ok)
    blen = 0;
  if (slen < SENDER_INTS || soff != 0 || blen < SENDER_BYTES || ((uintptr_t)sender & 7) != 0) {
    throw_range(env, "ERR_OUT_OF_RANGE",
                "sender must be an Int32Array of SENDER_INTS at byte 0 of a buffer of SENDER_BYTES");
    return NULL;
  }
  return sender;
}

/*
 * route(id, route: Int32Array | null, sender: Int32Array | null): attaches the socket's relay
 * route and the destination's SENDER block (an Int32Array over byte 0 of its SharedArrayBuffer,
 * the float64 words follow in the same buffer), or detaches them (both null). The arrays are
 * referenced while attached: the hot path keeps raw pointers.
 */
static napi_value Route(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  Instance* inst = instance_of(env);
  Sock* s = get_sock(env, inst, argv[0]);
  if (!s) return NULL;
  int noRoute = is_type(env, argv[1], napi_null) || is_type(env, argv[1], napi_undefined);
  int noSender = is_type(env, argv[2], napi_null) || is_type(env, argv[2], napi_undefined);
  if (noRoute && noSender) {
    relay_hold(s);
    route_release(inst, s);
    return NULL;
  }
  if (noRoute || noSender) {
    throw_type(env, "ERR_INVALID_ARG_TYPE", "route(id, route, sender): both arrays, or both null");
    return NULL;
  }
  size_t rlen;
  int32_t* route = get_int32_array(env, argv[1], "route", &rlen, NULL, NULL);
  if (!route) return NULL;
  if (rlen < ROUTE_INTS) {
    throw_range(env, "ERR_OUT_OF_RANGE", "route must have ROUTE_INTS elements");
    return NULL;
  }
  int32_t* sender = get_sender_block(env, argv[2]);
  if (!sender) return NULL;
  napi_ref rref, sref;
  napi_create_reference(env, argv[1], 1, &rref);
  napi_create_reference(env, argv[2], 1, &sref);
  relay_hold(s);
  route_release(inst, s);
  s->routeRef = rref;
  s->senderRef = sref;
  s->route = route;
  s->sender = sender;
  s->senderF = (double*)((uint8_t*)sender + SENDER_FLOAT_OFFSET);
  return NULL;
}

/* own(id, sender | null): socket `id` is where `sender`'s stream is sent (see own_release()). */
static napi_value Own(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  Instance* inst = instance_of(env);
  Sock* s = get_sock(env, inst, argv[0]);
  if (!s) return NULL;
  if (is_type(env, argv[1], napi_null) || is_type(env, argv[1], napi_undefined)) {
    own_forget(env, s);
    return NULL;
  }
  int32_t* sender = get_sender_block(env, argv[1]);
  if (!sender) return NULL;
  napi_ref ref;
  napi_create_reference(env, argv[1], 1, &ref);
  own_forget(env, s);
  s->ownedRef = ref;
  s->owned = sender;
  return NULL;
}

/* relayThreads(n) -> threads running: with n > 0 this worker's sockets that relay go to the
 * process' relay threads (started by the first such call, n of them, at most RELAY_MAX_THREADS;
 * later calls share them); 0: no more go. */
static napi_value RelayThreads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Instance* inst = initialised(env);
  if (!inst) return NULL;
  int64_t n;
  if (!get_int(env, argv[0], 0, RELAY_MAX_THREADS, "relay threads", &n)) return NULL;
  int running = 0;
  if (n > 0 && inst->async) {
    pthread_mutex_lock(&relay_mu);
    running = relay_start_locked((int)n);
    pthread_mutex_unlock(&relay_mu);
  }
  if (running > 0 && !inst->rq) {
    RelayQueue* rq = calloc((size_t)running, sizeof(RelayQueue));
    int ok = rq != NULL;
    for (int i = 0; ok && i < running; i++) {
      rq[i].ints = malloc(sizeof(int32_t) * (size_t)LOG_RECORDS * LOG_INTS);
      rq[i].times = malloc(sizeof(double) * (size_t)LOG_RECORDS);
      rq[i].bounce = malloc(sizeof(Bounce) * BOUNCE_MAX);
      ok = rq[i].ints && rq[i].times && rq[i].bounce;
    }
    if (ok) {
      inst->rq = rq;
      inst->nrq = running;
    } else {
      for (int i = 0; rq && i < running; i++) {
        free(rq[i].ints);
        free(rq[i].times);
        free(rq[i].bounce);
      }
      free(rq);
      running = 0;
    }
  }
  inst->relayOn = running > 0 && inst->rq != NULL;
  napi_value out;
  napi_create_int32(env, inst->relayOn ? relay_nthreads : 0, &out);
  return out;
}

/* takeLog(barrierId) -> records left behind: appends what the relay threads relayed for this
 * worker to the log JavaScript reads (logCount grows), as much as fits. barrierId >= 0: first
 * waits until no relay thread reads that socket, so that its route, disarmed before the call,
 * relays nothing after it (-1: no wait). */
static napi_value TakeLog(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  Instance* inst = instance_of(env);
  int64_t barrierId = -1;
  if (!get_int(env, argv[0], -1, 0x7fffffff, "barrier socket id", &barrierId)) return NULL;
  int left = 0;
  if (inst && inst->rq) {
    if (barrierId >= 0 && barrierId < inst->nsocks && inst->socks[barrierId]) relay_wait_out(inst->socks[barrierId]);
    left = relay_merge_log(inst);
  }
  napi_value out;
  napi_create_int32(env, left, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"init", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"bind", NULL, Bind, NULL, NULL, NULL, napi_default, NULL},
      {"address", NULL, Address, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, Flush, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"setBatching", NULL, SetBatching, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, Stats, NULL, NULL, NULL, napi_default, NULL},
      {"fd", NULL, Fd, NULL, NULL, NULL, napi_default, NULL},
      {"own", NULL, Own, NULL, NULL, NULL, napi_default, NULL},
      {"hrtimeMs", NULL, HrtimeMs, NULL, NULL, NULL, napi_default, NULL},
      {"offloadLayout", NULL, OffloadLayout, NULL, NULL, NULL, napi_default, NULL},
      {"route", NULL, Route, NULL, NULL, NULL, napi_default, NULL},
      {"relayThreads", NULL, RelayThreads, NULL, NULL, NULL, napi_default, NULL},
      {"takeLog", NULL, TakeLog, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
