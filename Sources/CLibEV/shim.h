// Thin inline wrappers for libev's function-like macros, which Swift cannot import.
#include <ev.h>

typedef void (*sy_io_cb)(struct ev_loop *, ev_io *, int);
typedef void (*sy_timer_cb)(struct ev_loop *, ev_timer *, int);
typedef void (*sy_signal_cb)(struct ev_loop *, ev_signal *, int);

static inline void sy_io_init(ev_io *w, sy_io_cb cb, int fd, int events) { ev_io_init(w, cb, fd, events); }
static inline void sy_io_set(ev_io *w, int fd, int events) { ev_io_set(w, fd, events); }
static inline void sy_timer_init(ev_timer *w, sy_timer_cb cb, double after, double repeat) { ev_timer_init(w, cb, after, repeat); }
static inline void sy_timer_set(ev_timer *w, double after, double repeat) { ev_timer_set(w, after, repeat); }
static inline void sy_signal_init(ev_signal *w, sy_signal_cb cb, int signum) { ev_signal_init(w, cb, signum); }
static inline int sy_is_active(void *w) { return ev_is_active(w); }
static inline struct ev_loop *sy_default_loop(void) { return ev_default_loop(EVFLAG_AUTO); }

// accept4 is a GNU extension that Glibc's Swift module does not expose without _GNU_SOURCE.
// Declared by hand: including <sys/socket.h> here would shadow Glibc's own module's socket names.
struct sockaddr;
extern int accept4(int sockfd, struct sockaddr *addr, unsigned int *addrlen, int flags);
static inline int sy_accept4(int fd, struct sockaddr *addr, unsigned int *len, int flags) { return accept4(fd, addr, len, flags); }

// prctl is variadic, which Swift cannot call: a fixed-argument wrapper for PR_SET_PDEATHSIG (1).
extern int prctl(int option, ...);
static inline int sy_set_parent_death_signal(int signum) { return prctl(1, (unsigned long)signum, 0UL, 0UL, 0UL); }
