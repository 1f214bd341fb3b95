/* Tunables: the one table of settings and everything driven by it.
 *
 * Every setting is declared once in tunables/table.h (name, type, default, bounds, CLI
 * flags, environment variable, whether HUP may change it, section, help). Parsing of the
 * command line and environment, validation, --help and docs/settings.md are all
 * generated from that table; nothing here is written twice.
 *
 * The result is one tun_config_t, filled in by the master before it forks and read-only
 * everywhere else. Strings and arrays in it are owned by the config and freed by
 * tun_config_free().
 */
#ifndef UF_TUNABLES_H
#define UF_TUNABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* One address to listen on, as parsed from -b/--bind. */
typedef struct tun_bind {
    char spec[300];                /* as the user wrote it, for messages */
    struct sockaddr_storage addr;  /* AF_INET or AF_INET6, port in network order */
    socklen_t addrlen;
} tun_bind_t;

typedef struct tun_config {
    /* application */
    char *app;                   /* MODULE:CALLABLE (positional, or $UWSGI_FAST_APP) */
    char *chdir;                 /* --chdir, absolute, an existing dir at parse; NULL = stay */
    char **pythonpath;           /* --pythonpath, comma separated, may repeat */
    size_t pythonpath_count;
    char *virtualenv;            /* --virtualenv, default $VIRTUAL_ENV, absolute; NULL = none */

    /* server socket */
    tun_bind_t *binds;           /* -b/--bind, repeatable, never two equal addresses;
                                    default 127.0.0.1:8000, or 0.0.0.0:$PORT */
    size_t bind_count;
    int backlog;                 /* --backlog, default 2048 */

    /* workers */
    int workers;                 /* -w/--workers, default $WEB_CONCURRENCY or CPUs available */
    double graceful_timeout;     /* --graceful-timeout seconds, default 30 */
    double keepalive;            /* --keep-alive seconds idle, default 2 */
    int worker_connections;      /* --worker-connections, default 1000 */
    double timeout;              /* -t/--timeout seconds per request, default 30, 0 = none */
    int max_requests;            /* --max-requests, default 0 = never recycle */
    int max_requests_jitter;     /* --max-requests-jitter, default 0 */
    double max_worker_lifetime;  /* --max-worker-lifetime seconds, default 0 = forever */
    int reload_on_rss;           /* --reload-on-rss MB, default 0 = off */
    bool workers_auto;           /* --workers auto: `workers` is the CPU bound, memory caps */
    int memory_reserve_mb;       /* --memory-reserve MB left to the OS, default 256 */
    char *pidfile;               /* -p/--pid */

    /* io_uring */
    int ring_entries;            /* --ring-entries, default 1024 */
    int recv_buffers;            /* --recv-buffers, default 512 (power of two) */
    int recv_buffer_size;        /* --recv-buffer-size bytes, default 16384 */

    /* HTTP limits */
    int limit_request_line;      /* --limit-request-line, default 4094, 0 = unlimited */
    int limit_request_fields;    /* --limit-request-fields, default 100, 0 = 32768 (gunicorn) */
    int limit_request_field_size;/* --limit-request-field_size, default 8190, 0 = unlimited */

    /* logging */
    char *error_logfile;         /* --error-logfile, "-" = stderr (default) */
    int log_level;               /* --log-level debug|info|warning|error|critical -> 0..4 */
} tun_config_t;

enum { TUN_LOG_DEBUG, TUN_LOG_INFO, TUN_LOG_WARNING, TUN_LOG_ERROR, TUN_LOG_CRITICAL };

enum tun_parse_result {
    TUN_OK = 0,       /* cfg is ready to use */
    TUN_EXIT = 1,     /* --help or --version was printed to `out`; exit 0 */
    TUN_ERROR = -1,   /* err holds one line naming the setting and what is accepted; exit 2 */
};

/* Fills cfg from defaults, then the environment (`envp`, NULL-terminated "K=V"), then
 * argv. On TUN_ERROR, `err` (errlen bytes) holds a one-line message without a trailing
 * newline. `out` receives --help/--version text (and the hidden
 * --print-settings-markdown). cfg need not be initialised; tun_parse overwrites it, so a
 * config from an earlier call must be freed first. On TUN_EXIT and TUN_ERROR nothing is
 * left allocated and cfg is zeroed; on TUN_OK release it with tun_config_free().
 * Host names in --bind are resolved here, with getaddrinfo. */
int tun_parse(tun_config_t *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
              size_t errlen);

/* Releases everything cfg owns and zeroes it; safe on a zeroed or already freed cfg. */
void tun_config_free(tun_config_t *cfg);

/* Writes the --help text, generated from the settings table. */
void tun_write_help(FILE *out);

/* Writes docs/settings.md: one Markdown table per section, generated from the settings
 * table. The output depends on nothing but the table (no CPU count, no environment), so the
 * committed file can be checked for staleness. */
void tun_write_markdown(FILE *out);

#endif
