/*
 * Load generator for npm run bench:relay, in C: the same packets and the same measurement as
 * bench/relay/generator.ts (the JavaScript one), without the instrument being the bottleneck.
 *
 * For its calls, two UDP sockets on 127.0.0.1 (caller side, callee side), each sending one PCMU
 * RTP packet (12-byte header, 160-byte payload, PT 0) per 20 ms to its leg of the relay, and
 * measuring what comes back through the other leg: count and one-way latency. The send time
 * (CLOCK_REALTIME, milliseconds as a little-endian double) is carried in the first 32 payload
 * bytes, two bits per byte, each byte 0xfc..0xff (PCMU |x| <= 24), so silence stays silence to a
 * server listening for in-band DTMF: the encoding of generator.ts. The audio the calls loop is
 * the bytes of the file named by argv[1], written by the parent (bench/relay/pattern.ts), so both
 * generators send the same speech/silence pattern.
 *
 * Pacing: a timerfd on CLOCK_MONOTONIC ticks every 1 ms (absolute, so it does not drift); socket
 * j sends in slot j % 20, so the sockets are spread evenly over the 20 ms period (generator.ts
 * has four 5 ms slots: a JavaScript timer cannot do finer). Missed ticks are caught up, up to
 * one period. Receive: epoll + recvmmsg. Sends are one sendto per socket: every socket sends
 * one packet per period, so sendmmsg (one socket per call) would not batch anything.
 *
 * Latency is measured to the packet's arrival at the generator's socket: the kernel's receive
 * timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME, hence the realtime send stamp). The time the
 * generator got round to reading it is kept too (histRead): on a loaded 2-core machine this
 * process itself waits for a CPU, milliseconds at times, and that wait is the instrument's, not
 * the relay's. Both are reported; the pass/fail figure is the arrival.
 *
 * Control: line-based JSON on stdin, one answer line on stdout per command, the commands the
 * parent sends to generator.ts: {"cmd":"legs","legs":[[portA,portB],...]} (the whole list; legs
 * beyond those already open are added), start, measure, stopSending, report, close (or EOF).
 *
 * Build: cc -O2 -Wall -Wextra -o loadgen loadgen.c (bench/relay/cGenerators.ts does it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define HIST_BINS 2000 /* 0.05 ms bins up to 100 ms, as generator.ts */
#define BIN_MS 0.05
#define PACKET 172
#define STAMP_AT 12
#define STAMP_LEN 32
#define SLOTS 20 /* 1 ms slots of the 20 ms packet interval */
#define TICK_NS 1000000L
#define RECV_BATCH 16
#define EV_STDIN 0xffffffffu
#define EV_TIMER 0xfffffffeu

struct leg {
  int fd;
  uint16_t port;
  uint16_t seq;
  size_t pos;
  uint8_t packet[PACKET];
};

static uint8_t *audio;
static size_t audio_len;
static struct leg *legs;
static size_t nlegs, cap_legs;
static int ep, tfd;
static int sending, measuring;
static uint64_t sent, received;
static uint32_t hist[HIST_BINS + 1], histRead[HIST_BINS + 1];
static unsigned slot;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static double ts_ms(const struct timespec *t) { return (double)t->tv_sec * 1e3 + (double)t->tv_nsec / 1e6; }

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return ts_ms(&t);
}

static void record(uint32_t *h, double latency) {
  double b = latency / BIN_MS;
  h[b >= HIST_BINS ? HIST_BINS : (unsigned)b]++;
}

static void write_stamp(uint8_t *packet, double t) {
  uint8_t b[8];
  memcpy(b, &t, 8); /* x86/arm little-endian: the bytes of generator.ts' Float64Array */
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < 4; k++) packet[STAMP_AT + i * 4 + k] = (uint8_t)(0xfc | ((b[i] >> (2 * k)) & 3));
}

static double read_stamp(const uint8_t *msg) {
  uint8_t b[8];
  double t;
  for (int i = 0; i < 8; i++) {
    b[i] = 0;
    for (int k = 0; k < 4; k++) b[i] |= (uint8_t)((msg[STAMP_AT + i * 4 + k] & 3) << (2 * k));
  }
  memcpy(&t, b, 8);
  return t;
}

static void send_one(struct leg *l) {
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(l->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  uint8_t *p = l->packet;
  uint32_t ts;
  l->seq = (uint16_t)(l->seq + 1);
  memcpy(p + 12, audio + l->pos, 160);
  l->pos += 160;
  if (l->pos + 160 > audio_len) l->pos = 0;
  p[2] = (uint8_t)(l->seq >> 8);
  p[3] = (uint8_t)l->seq;
  ts = (uint32_t)l->seq * 160u;
  p[4] = (uint8_t)(ts >> 24);
  p[5] = (uint8_t)(ts >> 16);
  p[6] = (uint8_t)(ts >> 8);
  p[7] = (uint8_t)ts;
  write_stamp(p, now_ms());
  /* A full socket buffer drops the packet, as dgram's send would report an error: it is then
     counted as sent and lost, which is what it is. */
  sendto(l->fd, p, PACKET, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  if (measuring) sent++;
}

static void send_slot(unsigned s) {
  for (size_t i = s; i < nlegs; i += SLOTS) send_one(&legs[i]);
}

static void on_readable(struct leg *l) {
  static uint8_t bufs[RECV_BATCH][2048];
  static uint8_t ctrl[RECV_BATCH][CMSG_SPACE(sizeof(struct timespec))];
  struct mmsghdr msgs[RECV_BATCH];
  struct iovec iov[RECV_BATCH];
  for (;;) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < RECV_BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = sizeof bufs[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctrl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
    }
    int n = recvmmsg(l->fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    double t = now_ms();
    for (int i = 0; i < n; i++) {
      if (!measuring || msgs[i].msg_len < STAMP_AT + STAMP_LEN) continue;
      double sentAt = read_stamp(bufs[i]);
      double arrived = t;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec k;
          memcpy(&k, CMSG_DATA(c), sizeof k);
          arrived = ts_ms(&k);
        }
      if (t - sentAt < 0) continue;
      received++;
      record(hist, arrived < sentAt ? 0 : arrived - sentAt);
      record(histRead, t - sentAt);
    }
    if (n < RECV_BATCH) return;
  }
}

static void open_leg(uint16_t port, uint32_t ssrc) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int rcvbuf = 1 << 20;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  /* Arrival times from the kernel; without them (an old kernel) arrival is the read time. */
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (nlegs == cap_legs) {
    cap_legs = cap_legs ? cap_legs * 2 : 64;
    legs = realloc(legs, cap_legs * sizeof *legs);
    if (!legs) die("realloc");
  }
  struct leg *l = &legs[nlegs];
  memset(l, 0, sizeof *l);
  l->fd = fd;
  l->port = port;
  l->seq = (uint16_t)((ssrc * 7u) & 0xffff);
  l->pos = (size_t)(((uint64_t)ssrc * 7919u) % (audio_len / 160)) * 160;
  l->packet[0] = 0x80;
  l->packet[1] = 0;
  l->packet[8] = (uint8_t)(ssrc >> 24);
  l->packet[9] = (uint8_t)(ssrc >> 16);
  l->packet[10] = (uint8_t)(ssrc >> 8);
  l->packet[11] = (uint8_t)ssrc;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)nlegs};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  nlegs++;
}

static void reply(const char *s) {
  fputs(s, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void arm(int on) {
  struct itimerspec it = {0};
  if (on) {
    clock_gettime(CLOCK_MONOTONIC, &it.it_value);
    it.it_interval.tv_nsec = TICK_NS;
  }
  if (timerfd_settime(tfd, on ? TFD_TIMER_ABSTIME : 0, &it, NULL) < 0) die("timerfd_settime");
}

/* The legs command: every [a,b] pair of the list, in order; those past the open ones are opened. */
static void cmd_legs(const char *line) {
  const char *p = strstr(line, "\"legs\"");
  size_t pair = 0;
  long v[2];
  int have = 0;
  if (!p) return;
  p = strchr(p + 6, '[');
  if (!p) return;
  for (p++; *p; p++) {
    if (*p >= '0' && *p <= '9') {
      char *end;
      v[have++] = strtol(p, &end, 10);
      p = end - 1;
      if (have == 2) {
        if (2 * pair >= nlegs) {
          open_leg((uint16_t)v[0], (uint32_t)nlegs + 1);
          open_leg((uint16_t)v[1], (uint32_t)nlegs + 1);
        }
        pair++;
        have = 0;
      }
    }
  }
}

/* Whether the line's "cmd" is `cmd` (JSON.stringify's output: no need for a full parser). */
static int is_cmd(const char *line, const char *cmd) {
  const char *c = strstr(line, "\"cmd\"");
  size_t n = strlen(cmd);
  if (!c) return 0;
  for (c += 5; *c == ' ' || *c == ':'; c++) {
  }
  return *c == '"' && strncmp(c + 1, cmd, n) == 0 && c[1 + n] == '"';
}

static void command(const char *line) {
  if (is_cmd(line, "legs")) {
    cmd_legs(line);
    reply("{\"ok\":true}");
  } else if (is_cmd(line, "start")) {
    if (!sending) arm(1);
    sending = 1;
    reply("{\"ok\":true}");
  } else if (is_cmd(line, "measure")) {
    sent = received = 0;
    memset(hist, 0, sizeof hist);
    memset(histRead, 0, sizeof histRead);
    measuring = 1;
    reply("{\"ok\":true}");
  } else if (is_cmd(line, "stopSending")) {
    if (sending) arm(0);
    sending = 0;
    reply("{\"ok\":true}");
  } else if (is_cmd(line, "report")) {
    measuring = 0;
    printf("{\"sent\":%llu,\"received\":%llu,\"hist\":[", (unsigned long long)sent, (unsigned long long)received);
    for (int i = 0; i <= HIST_BINS; i++) printf(i ? ",%u" : "%u", hist[i]);
    printf("],\"histRead\":[");
    for (int i = 0; i <= HIST_BINS; i++) printf(i ? ",%u" : "%u", histRead[i]);
    reply("]}");
  } else if (is_cmd(line, "close")) {
    exit(0);
  } else {
    reply("{\"error\":\"unknown command\"}");
  }
}

static void on_stdin(void) {
  static char *buf;
  static size_t len, cap;
  for (;;) {
    if (cap - len < 4096) {
      cap = cap ? cap * 2 : 65536;
      buf = realloc(buf, cap);
      if (!buf) die("realloc");
    }
    ssize_t n = read(0, buf + len, cap - len - 1);
    if (n == 0) exit(0); /* the parent went away */
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      die("read");
    }
    len += (size_t)n;
  }
  buf[len] = 0;
  char *start = buf, *nl;
  while ((nl = strchr(start, '\n'))) {
    *nl = 0;
    command(start);
    start = nl + 1;
  }
  len -= (size_t)(start - buf);
  memmove(buf, start, len);
}

static void load_audio(const char *path) {
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) < 0) die(path);
  audio_len = (size_t)st.st_size;
  if (audio_len < 160 || audio_len % 160) {
    fprintf(stderr, "loadgen: %s: %zu bytes, not a whole number of 160-byte frames\n", path, audio_len);
    exit(1);
  }
  audio = malloc(audio_len);
  if (!audio || fread(audio, 1, audio_len, f) != audio_len) die(path);
  fclose(f);
}

int main(int argc, char **argv) {
  struct rlimit rl;
  if (argc != 2) {
    fprintf(stderr, "usage: loadgen PATTERN_FILE (PCMU bytes the calls loop)\n");
    return 2;
  }
  load_audio(argv[1]);
  /* Two sockets per call: lift the descriptor limit to what the system allows (Node does too). */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  ep = epoll_create1(EPOLL_CLOEXEC);
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (ep < 0 || tfd < 0) die("epoll/timerfd");
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_STDIN};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) die("epoll stdin");
  ev.data.u32 = EV_TIMER;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0) die("epoll timer");
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    /* Sends first: a tick waiting behind a batch of receives would be late. */
    for (int i = 0; i < n; i++) {
      if (events[i].data.u32 != EV_TIMER) continue;
      uint64_t ticks;
      if (read(tfd, &ticks, sizeof ticks) != sizeof ticks || !sending) continue;
      if (ticks > SLOTS) ticks = SLOTS; /* a stall: catch up one period, not a burst of several */
      for (uint64_t t = 0; t < ticks; t++) {
        send_slot(slot);
        slot = (slot + 1) % SLOTS;
      }
    }
    for (int i = 0; i < n; i++) {
      uint32_t id = events[i].data.u32;
      if (id == EV_TIMER) continue;
      if (id == EV_STDIN)
        on_stdin();
      else
        on_readable(&legs[id]);
    }
  }
}
