/* USDT probes: named points in the server a tracer (bpftrace, perf, SystemTap) can attach
 * to without a rebuild, for research into where a request's time goes.
 *
 * A probe costs nothing until a tracer attaches: it is one nop instruction and an ELF
 * note (`readelf -n` lists them) saying where it is and where its arguments live, so the
 * arguments are only ever in registers or memory already (no semaphores: there is no
 * "is anyone attached?" branch either). Attaching turns the nop into a breakpoint.
 *
 * Provider "uwsgi_fast". Arguments are integers, so that a bpftrace one-liner can key on
 * them: `worker` is the worker's slot (0..N-1, -1 in the master), `conn` the connection's
 * id within its worker (stats_conn_open: from 1, never reused), `req` the request's
 * number within its connection (from 1). The probes and their arguments are listed in
 * docs/research.md; flamegraphs/ has scripts that use them.
 *
 * Invariant: a probe's name and argument order are an interface (scripts depend on
 * them): add probes freely, never reorder or retype an existing one's arguments.
 */
#ifndef UF_PROBES_H
#define UF_PROBES_H

/* UF_INSTRUMENTS (build option -Dinstruments, default on) says whether the research
 * instruments are compiled in: these probes, the ring counters (UF_COUNT below, published
 * by the worker once a round) and the request phases' clock reads (src/stats.h). Off, they
 * compile to nothing, so that their cost can be measured against a build without them
 * (docs/research.md); the settings and metric series stay, and read 0. Code tests it as a
 * constant (`if (!UF_INSTRUMENTS) return;`), which the compiler folds, rather than with
 * #if around each use. */
#ifndef UF_INSTRUMENTS
#define UF_INSTRUMENTS 1
#endif

/* An instrument's counter: `counter += n`, or nothing in a build without instruments. */
#define UF_COUNT(counter, n)                                                                       \
    do {                                                                                           \
        if (UF_INSTRUMENTS)                                                                        \
            (counter) += (n);                                                                      \
    } while (0)

/* The same for a counter other threads read or add to: a relaxed atomic add (an
 * expression, so that it can sit before a call with the comma operator). */
#define UF_COUNT_ATOMIC(counter, n)                                                                \
    ((void)(UF_INSTRUMENTS && __atomic_add_fetch(&(counter), (n), __ATOMIC_RELAXED)))

#if UF_INSTRUMENTS
#if !__has_include(<sys/sdt.h>)
#error "the USDT probes need <sys/sdt.h>: apt-get install systemtap-sdt-dev"
#endif
#include <sys/sdt.h>

#define UF_PROBE1(name, a)                STAP_PROBE1(uwsgi_fast, name, a)
#define UF_PROBE2(name, a, b)             STAP_PROBE2(uwsgi_fast, name, a, b)
#define UF_PROBE3(name, a, b, c)          STAP_PROBE3(uwsgi_fast, name, a, b, c)
#define UF_PROBE4(name, a, b, c, d)       STAP_PROBE4(uwsgi_fast, name, a, b, c, d)
#define UF_PROBE5(name, a, b, c, d, e)    STAP_PROBE5(uwsgi_fast, name, a, b, c, d, e)
#define UF_PROBE6(name, a, b, c, d, e, f) STAP_PROBE6(uwsgi_fast, name, a, b, c, d, e, f)
#else
/* the arguments are not evaluated: they have no side effects (integers at hand) */
#define UF_PROBE1(name, a)                ((void)0)
#define UF_PROBE2(name, a, b)             ((void)0)
#define UF_PROBE3(name, a, b, c)          ((void)0)
#define UF_PROBE4(name, a, b, c, d)       ((void)0)
#define UF_PROBE5(name, a, b, c, d, e)    ((void)0)
#define UF_PROBE6(name, a, b, c, d, e, f) ((void)0)
#endif

#endif
