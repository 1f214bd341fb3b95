/* Tunables: the one table of settings and everything driven by it.
 *
 * Every setting is declared once in tunables/table.h (name, type, default, bounds, CLI
 * flags, environment variable, config-file key, whether HUP may change it, section,
 * help), next to the gunicorn settings uwsgi-fast refuses and why. Parsing of the command
 * line, UWSGI_FAST_CMD_ARGS, the environment and config files (uwsgi-fast.toml, or a
 * gunicorn.conf.py run by Python), validation, --help, --print-config and
 * docs/settings.md are all generated from that table; nothing here is written twice.
 *
 * The result is one tun_config_t, filled in by the master before it forks and read-only
 * everywhere else. Strings and arrays in it are owned by the config and freed by
 * tun_config_free().
 *
 * Implemented by one file per job, each with its private header: settings.c (the table as
 * C data and the words that describe a row), values.c and bind.c (a value's text into its
 * field), cli.c (the argument layers), config_file.c, refuse.c and suggest.c (refused
 * gunicorn settings, "did you mean"), layers.c (tun_parse and the config's life cycle),
 * print.c (--print-config), help.c (--help) and markdown.c (docs/settings.md).
 */
#ifndef UF_TUNABLES_H
#define UF_TUNABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/log.h" /* log_level holds a log_level_t */
#include "tunables/lists.h"

/* What a bind listens on. */
enum tun_bind_kind {
    TUN_BIND_TCP = 0, /* HOST:PORT */
    TUN_BIND_UNIX,    /* unix:PATH or unix:@NAME (abstract namespace) */
    TUN_BIND_FD,      /* fd://N or a systemd socket: a socket handed to us, already bound */
};

/* One address to listen on, as parsed from -b/--bind. */
typedef struct tun_bind {
    char spec[300];               /* as the user wrote it, for messages */
    struct sockaddr_storage addr; /* TCP: AF_INET or AF_INET6, port in network order;
                                     UNIX: AF_UNIX, an abstract name with its leading NUL;
                                     FD: unused (the socket says, src/listeners.c) */
    socklen_t addrlen;
    uint8_t kind; /* enum tun_bind_kind */
    int fd;       /* TUN_BIND_FD: the descriptor */
    bool uwsgi;   /* written uwsgi://ADDRESS: speaks the uwsgi protocol (so does every bind
                     with --protocol uwsgi) */
} tun_bind_t;

struct tun_sources; /* where each value came from; private to tunables/ (layers.h) */

/* gunicorn's server hooks that uwsgi-fast calls, in gunicorn's order of appearance
 * (python_bridge/hooks.h says where and when each one runs). */
/* clang-format off */
#define TUN_CALLED_HOOKS(H) \
    H(on_starting) \
    H(on_reload) \
    H(when_ready) \
    H(pre_fork) \
    H(post_fork) \
    H(post_worker_init) \
    H(worker_int) \
    H(worker_abort) \
    H(pre_exec) \
    H(pre_request) \
    H(post_request) \
    H(child_exit) \
    H(worker_exit) \
    H(nworkers_changed) \
    H(on_exit)
/* clang-format on */
enum tun_hook {
#define H(name_) TUN_HOOK_##name_,
    TUN_CALLED_HOOKS(H)
#undef H
        TUN_N_CALLED_HOOKS
};

/* The hook's gunicorn name ("post_fork"). */
const char *tun_hook_name(enum tun_hook h);

/* The PROXY protocol versions --proxy-protocol takes (auto is both). */
#define TUN_PROXY_V1 1u
#define TUN_PROXY_V2 2u

typedef struct tun_config {
    /* config file */
    char *config; /* -c/--config: the file that was read, NULL = none */

    /* application */
    char *app;         /* MODULE:CALLABLE (positional, $UWSGI_FAST_APP, wsgi_app) */
    char *chdir;       /* --chdir, absolute, an existing dir at parse; NULL = stay */
    char **pythonpath; /* --pythonpath, comma separated, may repeat */
    size_t pythonpath_count;
    char *virtualenv; /* --virtualenv, default $VIRTUAL_ENV, absolute; NULL = none */
    char **raw_env;   /* -e/--env NAME=VALUE, may repeat; commas are kept */
    size_t raw_env_count;
    bool preload; /* --preload: the master imports the application */

    /* server socket */
    tun_bind_t *binds; /* -b/--bind, repeatable, never two equal addresses;
                          default 127.0.0.1:8000, or 0.0.0.0:$PORT */
    size_t bind_count;
    int backlog; /* --backlog, default 2048 */

    /* behind a proxy */
    char *forwarded_allow_ips;     /* --forwarded-allow-ips, validated: "*", ADDRESS or
                                      ADDRESS/BITS, comma separated; default "127.0.0.1,::1"
                                      or $FORWARDED_ALLOW_IPS; NULL when set to "" */
    char *secure_scheme_headers;   /* --secure-scheme-headers "NAME=VALUE,...", validated;
                                      default gunicorn's three; NULL when set to "" */
    char *root_path;               /* --root-path (SCRIPT_NAME), NULL = none */
    tun_netlist_t forwarded_allow; /* --forwarded-allow-ips, parsed */
    tun_pairs_t secure_scheme;     /* --secure-scheme-headers, parsed */
    char *proxy_protocol;          /* --proxy-protocol: "off", "v1", "v2" or "auto" (gunicorn's
                                      other spellings are stored as these) */
    char *proxy_allow_ips;         /* --proxy-allow-from, validated like forwarded_allow_ips;
                                      default "127.0.0.1,::1"; NULL when set to "" */
    unsigned proxy_versions;       /* --proxy-protocol as TUN_PROXY_V1 | TUN_PROXY_V2 bits,
                                      0 = off */
    tun_netlist_t proxy_allow;     /* --proxy-allow-from, parsed */
    char *protocol;                /* --protocol: "http" or "uwsgi" */
    char *uwsgi_allow_ips;         /* --uwsgi-allow-from, validated like forwarded_allow_ips;
                                      default "127.0.0.1,::1"; NULL when set to "" */
    bool uwsgi;                    /* --protocol uwsgi: every bind speaks the uwsgi protocol */
    tun_netlist_t uwsgi_allow;     /* --uwsgi-allow-from, parsed */

    /* workers */
    char *worker_class;         /* -k/--worker-class as written (checked): sync, gthread,
                                   asgi or one of their gunicorn/uvicorn spellings */
    int workers;                /* -w/--workers, default $WEB_CONCURRENCY or usable CPUs;
                                   with `auto`, the usable CPUs as an upper bound... */
    bool workers_auto;          /* ...that the master lowers to what fits in memory
                                   (tun_plan_workers in tunables/host.h) */
    int worker_connections;     /* --worker-connections, default 1000 */
    int threads;                /* --threads: application threads per worker, default 1 */
    bool work_sharing;          /* --work-sharing, default true */
    int work_sharing_inline;    /* --work-sharing-inline MICROSECONDS, default 200 */
    double timeout;             /* -t/--timeout seconds a request may run before its worker
                                   is killed and replaced; default 30, 0 = no limit */
    double graceful_timeout;    /* --graceful-timeout seconds, default 30 */
    double keepalive;           /* --keep-alive seconds idle, default 2 */
    double header_timeout;      /* --header-timeout: request line + headers, default 10,
                                   0 = no limit; 408 when exceeded */
    double body_timeout;        /* --body-timeout: longest gap between two reads of a body,
                                   default 30, 0 = no limit; 408 when exceeded */
    int max_requests;           /* --max-requests, default 0 = never recycle */
    int max_requests_jitter;    /* --max-requests-jitter, default 0: add random [0, J] */
    double max_worker_lifetime; /* --max-worker-lifetime seconds, default 0 = forever */
    int reload_on_rss;          /* --reload-on-rss MB, default 0 = off */
    int memory_reserve_mb;      /* --memory-reserve MB kept free when planning, default 256 */
    bool cpu_pin;               /* --cpu-pin, default false */
    bool numa_pin;              /* --numa-pin, default false */
    char *proc_name;            /* -n/--name, NULL = the application (MODULE:CALLABLE) */
    char *pidfile;              /* -p/--pid, NULL = none; as given (relative = start dir) */

    /* ASGI */
    char *interface;                     /* --interface "auto", "wsgi" or "asgi" (checked) */
    char *asgi_loop;                     /* --loop "auto", "asyncio" or "uvloop" (checked) */
    char *asgi_lifespan;                 /* --lifespan "auto", "on" or "off" (checked) */
    double asgi_disconnect_grace_period; /* --asgi-disconnect-grace-period seconds, default 3 */
    long long ws_max_message_size; /* --ws-max-message-size bytes, default 16 MiB, 0 = unlimited */
    double ws_ping_interval;       /* --ws-ping-interval seconds of WebSocket silence before a
                                      ping, default 20, 0 = never */
    double ws_ping_timeout;        /* --ws-ping-timeout seconds a ping waits for its pong,
                                      default 20, 0 = forever */
    bool ws_per_message_deflate;   /* --ws-per-message-deflate, default true */
    int app_interface;             /* not a setting: enum tun_interface from --interface and
                                      --worker-class together (tun_parse) */

    /* privileges (validated at parse; src/privileges.h resolves and applies them) */
    char *user;      /* -u/--user: a user name or number, NULL = workers stay as the master */
    char *group;     /* -g/--group: a group name or number, NULL = the primary group of user */
    bool initgroups; /* --initgroups: the user's supplementary groups too */
    char *umask;     /* -m/--umask as written (0o22, 022, 18, ...), NULL = inherited */

    /* io_uring */
    char *engine;           /* --engine "auto", "io_uring" or "epoll" (checked) */
    int ring_entries;       /* --ring-entries, default 1024 */
    int recv_buffers;       /* --recv-buffers, default 256 (power of two) */
    int recv_buffer_size;   /* --recv-buffer-size bytes, default 16384 */
    int zerocopy_threshold; /* --zerocopy-threshold bytes, default 65536; 0 = always */

    /* HTTP limits */
    int limit_request_line;         /* --limit-request-line, default 4094, 0 = unlimited */
    int limit_request_fields;       /* --limit-request-fields, default 100, 0 = 32768 (gunicorn) */
    int limit_request_field_size;   /* --limit-request-field_size, default 8190, 0 = unlimited */
    int limit_request_head;         /* --limit-request-head bytes, default 0 = 64 KiB (1 MiB with
                                       a field size above 32 KiB or unlimited) */
    bool require_host;              /* --require-host: HTTP/1.1 without Host gets 400 */
    long long limit_request_body;   /* --limit-request-body bytes, default 1 GiB, 0 = unlimited */
    long long body_spool_threshold; /* --body-spool-threshold bytes: larger bodies go to a
                                       temporary file; default 1 MiB */
    char *tmp_upload_dir;           /* --tmp-upload-dir, an existing dir, absolute; NULL = $TMPDIR
                                       or /tmp */

    /* logging */
    char *error_logfile;     /* --error-logfile, "-" = stderr (default), /dev/stdout = stdout */
    bool error_log_json;     /* --error-log-json: one JSON object per record */
    int log_level;           /* --log-level debug|info|warning|error|critical -> 0..4 */
    char *accesslog;         /* --access-logfile, NULL = none, "-" = stdout */
    char *access_log_format; /* --access-logformat, gunicorn's atoms (src/accesslog.h) */
    bool access_log_json;    /* --access-log-json */
    char *log_target;        /* --log-target udp://|tcp://|unix:, NULL = none; checked by
                                the master at start (src/logship.h) */
    char *log_target_format; /* --log-target-format "json" or "rfc5424" */
    bool syslog;             /* --log-syslog: error (and access) lines to syslog as well */
    char *syslog_addr;       /* --log-syslog-to, gunicorn's spellings (src/syslogcfg.h) */
    char *syslog_prefix;     /* --log-syslog-prefix: tag gunicorn.PREFIX.error; NULL = name */
    char *syslog_facility;   /* --log-syslog-facility, a name gunicorn accepts */
    char *syslog_format;     /* --log-syslog-format "rfc3164" or "rfc5424" */
    bool disable_redirect_access_to_syslog; /* access lines stay out of syslog */
    bool capture_output; /* --capture-output: workers' stdout/stderr into the error log */

    /* metrics and health (checked by the master at start: src/stats.h) */
    char *stats_bind;           /* --stats-bind HOST:PORT, NULL = off */
    char *statsd_host;          /* --statsd-host HOST:PORT, NULL = off */
    char *statsd_prefix;        /* --statsd-prefix, NULL = none */
    char *dogstatsd_tags;       /* --dogstatsd-tags "k:v,k2:v2", NULL = none */
    bool enable_backlog_metric; /* --enable-backlog-metric: gunicorn.backlog to statsd */
    char *health_path;          /* --health-path, NULL = off */
    char *ready_path;           /* --ready-path, NULL = off */
    int ready_saturation;       /* --ready-saturation, 0 = never saturated */

    /* development */
    bool reload;               /* --reload: workers leave when a watched file changes */
    char *reload_engine;       /* --reload-engine "auto", "inotify" or "poll" (checked) */
    char **reload_extra_files; /* --reload-extra-file, may repeat; glob patterns kept */
    size_t reload_extra_files_count;

    /* not a setting: the master's choice for --engine auto (or the one named), before the
     * first worker; kept across reloads */
    bool engine_epoll;

    /* not settings: filled in by tun_parse */
    uint32_t hooks_defined; /* bit (1 << TUN_HOOK_x): the config file defines hook x */
    char *hook_specs[TUN_N_CALLED_HOOKS]; /* "MODULE:NAME" of each hook a TOML config
                                             names; NULL for a gunicorn.conf.py's own */
    char **warnings; /* one line each, e.g. a gunicorn hook that is not called */
    size_t warning_count;
    struct tun_sources *sources; /* for tun_write_config */
} tun_config_t;

/* Registered send buffers of a worker for zero-copy file bodies: blocks x block size.
 * Pinned memory (RLIMIT_MEMLOCK), so doctor and the master account for it. */
#define TUN_SEND_ARENA_BLOCKS     16
#define TUN_SEND_ARENA_BLOCK_SIZE (256 * 1024)
#define TUN_SEND_ARENA_BYTES      ((unsigned long long)TUN_SEND_ARENA_BLOCKS * TUN_SEND_ARENA_BLOCK_SIZE)

/* How the application is called, from --interface and --worker-class: ASGI when either
 * names it, WSGI when --interface does, else decided by each worker once the application
 * is imported (python_bridge/asgi.h). */
enum tun_interface {
    TUN_IFACE_AUTO = 0,
    TUN_IFACE_WSGI,
    TUN_IFACE_ASGI,
};

enum tun_parse_result {
    TUN_OK = 0,     /* cfg is ready to use */
    TUN_EXIT = 1,   /* --help, --version, --print-config or --check-config printed its
                       answer to `out`; exit 0 */
    TUN_ERROR = -1, /* err holds one line naming the setting and what is accepted; exit 2 */
};

/* Options of tun_parse_ex. */
enum {
    TUN_PARSE_NO_APP = 1 << 0, /* the application may be missing (uwsgi-fast doctor) */
};

/* Fills cfg from defaults, then a config file, the environment (`envp`, NULL-terminated
 * "K=V"), UWSGI_FAST_CMD_ARGS and argv, each layer winning over the ones before it. On
 * TUN_ERROR, `err` (errlen bytes) holds a one-line message without a trailing newline
 * (a gunicorn.conf.py that raised has also printed its traceback to stderr). `out`
 * receives --help, --version, --print-config and --check-config output (and the hidden
 * --print-settings-markdown). cfg need not be initialised; tun_parse overwrites it, so a
 * config from an earlier call must be freed first. On TUN_EXIT and TUN_ERROR nothing is
 * left allocated and cfg is zeroed; on TUN_OK release it with tun_config_free(), and show
 * cfg->warnings to the operator. Host names in --bind are resolved here, with
 * getaddrinfo; a .py config file runs a Python child process (tunables/pyconfig.h). */
int tun_parse(tun_config_t *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
              size_t errlen);
int tun_parse_ex(tun_config_t *cfg, int argc, char **argv, char **envp, unsigned opts, FILE *out,
                 char *err, size_t errlen);

/* Releases everything cfg owns and zeroes it; safe on a zeroed or already freed cfg. */
void tun_config_free(tun_config_t *cfg);

/* Writes every effective value and where it came from, as TOML that a uwsgi-fast.toml
 * could hold (the --print-config text). */
void tun_write_config(FILE *out, const tun_config_t *cfg);

/* Whether the setting named `name` (its tun_config_t field name) has its default value
 * because no layer set it. False for an unknown name or a config without sources. */
bool tun_from_default(const tun_config_t *cfg, const char *name);

/* Writes the --help text, generated from the settings table. */
void tun_write_help(FILE *out);

/* Writes docs/settings.md: one Markdown table per section, generated from the settings
 * table. The output depends on nothing but the table (no CPU count, no environment), so the
 * committed file can be checked for staleness. */
void tun_write_markdown(FILE *out);

#endif
