/* The settings table: every setting uwsgi-fast has, declared exactly once.
 *
 * tunables.c expands TUN_SETTINGS into the descriptor array that drives everything else:
 * command-line and environment parsing, validation, --help and docs/settings.md. Adding a
 * setting is one row here plus its field in tun_config_t; the build checks that the field
 * exists and that its C type matches the row's type. Rows are listed in --help and the
 * docs in table order within their section.
 *
 * Columns of X(...):
 *   name     the tun_config_t field; also the setting's name in the docs (gunicorn's
 *            name where it has one)
 *   type     INT, DOUBLE, STRING, BOOL, PATHS (comma-separated list, may repeat),
 *            BINDS (listen addresses, may repeat) or LOGLEVEL
 *   short    short flag as a character literal, 0 for none
 *   long     long flag without its dashes; NULL makes the setting the positional argument
 *   alias    a second long flag (a spelling gunicorn or habit uses), NULL for none
 *   metavar  how the value is shown in --help
 *   env      suffix of the setting's environment variable, UWSGI_FAST_<env>
 *   def      the default, written as a user would write the value; NULL for none
 *   min max  inclusive bounds (INT and DOUBLE only)
 *   flags    TUN_F_* rules beyond the type
 *   compat   a foreign environment variable that replaces the default when set (the
 *            conventions of gunicorn and of PaaS platforms), NULL for none...
 *   cfmt     ...and how its value becomes ours ("%s" = verbatim)
 *   reload   true if a HUP reload applies a new value; false if it needs a restart
 *   section  where the setting is listed (TUN_SECTIONS below)
 *   help     one line, lower case, no final period
 *
 * Precedence, per setting: command line > UWSGI_FAST_<env> > compat > def. A list given
 * on the command line replaces the environment's list rather than extending it.
 */
#ifndef UF_TUNABLES_TABLE_H
#define UF_TUNABLES_TABLE_H

enum tun_type {
    TUN_T_INT,
    TUN_T_DOUBLE,
    TUN_T_STRING,
    TUN_T_BOOL,
    TUN_T_PATHS,
    TUN_T_BINDS,
    TUN_T_LOGLEVEL,
};

enum tun_flag {
    TUN_F_POW2 = 1 << 0,     /* INT: must also be a power of two */
    TUN_F_REQUIRED = 1 << 1, /* no default: parsing fails when nothing sets it */
    TUN_F_DIR = 1 << 2,      /* STRING: an existing directory, stored as an absolute path */
    TUN_F_NONEMPTY = 1 << 3, /* STRING: "" is an error (otherwise "" means unset) */
    TUN_F_CPUS = 1 << 4,     /* INT: default is the number of CPUs we may run on */
};

/* X(id, title), in the order --help and the docs list them. */
#define TUN_SECTIONS(X)                                                                      \
    X(APPLICATION, "Application")                                                            \
    X(SOCKET, "Server socket")                                                               \
    X(WORKERS, "Workers")                                                                    \
    X(URING, "io_uring")                                                                     \
    X(LIMITS, "HTTP limits")                                                                 \
    X(LOGGING, "Logging")

/* clang-format off */
#define TUN_SETTINGS(X)                                                                      \
    /* ---- Application ---- */                                                            \
    X(app, STRING, 0, NULL, NULL, "MODULE:CALLABLE", APP,                                   \
      NULL, 0, 0, TUN_F_REQUIRED | TUN_F_NONEMPTY, NULL, NULL, true, APPLICATION,           \
      "the WSGI application: a dotted module path, a colon, and the callable in it")         \
    X(chdir, STRING, 0, "chdir", NULL, "DIR", CHDIR,                                        \
      NULL, 0, 0, TUN_F_DIR, NULL, NULL, true, APPLICATION,                                 \
      "change to DIR before loading the application")                                       \
    X(pythonpath, PATHS, 0, "pythonpath", NULL, "DIR[,DIR...]", PYTHONPATH,                 \
      NULL, 0, 0, 0, NULL, NULL, true, APPLICATION,                                         \
      "directories to put in front of sys.path; comma separated, may be repeated")          \
    X(virtualenv, STRING, 0, "virtualenv", NULL, "DIR", VIRTUALENV,                         \
      NULL, 0, 0, TUN_F_DIR, "VIRTUAL_ENV", "%s", false, APPLICATION,                       \
      "virtual environment whose packages the application imports")                         \
    /* ---- Server socket ---- */                                                          \
    X(binds, BINDS, 'b', "bind", NULL, "ADDRESS", BIND,                                     \
      "127.0.0.1:8000", 0, 0, 0, "PORT", "0.0.0.0:%s", false, SOCKET,                       \
      "address to listen on; may be repeated or comma separated")                          \
    X(backlog, INT, 0, "backlog", NULL, "INT", BACKLOG,                                     \
      "2048", 1, 65535, 0, NULL, NULL, false, SOCKET,                                       \
      "pending connections each listener queues (the kernel caps it at net.core.somaxconn)") \
    /* ---- Workers ---- */                                                                \
    X(workers, INT, 'w', "workers", NULL, "INT", WORKERS,                                   \
      NULL, 1, 4096, TUN_F_CPUS, "WEB_CONCURRENCY", "%s", true, WORKERS,                    \
      "number of worker processes, each with its own listener and io_uring ring")           \
    X(worker_connections, INT, 0, "worker-connections", NULL, "INT", WORKER_CONNECTIONS,    \
      "1000", 1, 1000000, 0, NULL, NULL, true, WORKERS,                                     \
      "most client connections one worker holds open at once")                              \
    X(keepalive, DOUBLE, 0, "keep-alive", NULL, "SECONDS", KEEP_ALIVE,                      \
      "2", 0, 3600, 0, NULL, NULL, true, WORKERS,                                           \
      "how long an idle keep-alive connection stays open; 0 closes after each response")    \
    X(graceful_timeout, DOUBLE, 0, "graceful-timeout", NULL, "SECONDS", GRACEFUL_TIMEOUT,   \
      "30", 0, 86400, 0, NULL, NULL, true, WORKERS,                                         \
      "how long a stopping worker may finish in-flight requests before it is killed")       \
    /* ---- io_uring ---- */                                                               \
    X(ring_entries, INT, 0, "ring-entries", NULL, "INT", RING_ENTRIES,                      \
      "1024", 8, 32768, TUN_F_POW2, NULL, NULL, true, URING,                                \
      "submission queue entries of each worker's ring")                                     \
    X(recv_buffers, INT, 0, "recv-buffers", NULL, "INT", RECV_BUFFERS,                      \
      "512", 8, 32768, TUN_F_POW2, NULL, NULL, true, URING,                                 \
      "kernel-provided receive buffers per worker")                                         \
    X(recv_buffer_size, INT, 0, "recv-buffer-size", NULL, "BYTES", RECV_BUFFER_SIZE,        \
      "16384", 1024, 1048576, 0, NULL, NULL, true, URING,                                   \
      "size of each receive buffer")                                                        \
    /* ---- HTTP limits ---- */                                                            \
    X(limit_request_line, INT, 0, "limit-request-line", NULL, "BYTES", LIMIT_REQUEST_LINE,  \
      "4094", 0, 8190, 0, NULL, NULL, true, LIMITS,                                         \
      "longest request line (method, target, version) accepted; 0 means unlimited")         \
    X(limit_request_fields, INT, 0, "limit-request-fields", NULL, "INT",                    \
      LIMIT_REQUEST_FIELDS,                                                                 \
      "100", 0, 32768, 0, NULL, NULL, true, LIMITS,                                         \
      "most header fields a request may carry; 0 means the maximum, 32768")                 \
    X(limit_request_field_size, INT, 0, "limit-request-field_size",                         \
      "limit-request-field-size", "BYTES", LIMIT_REQUEST_FIELD_SIZE,                        \
      "8190", 0, 1048576, 0, NULL, NULL, true, LIMITS,                                      \
      "longest header field (name and value) accepted; 0 means unlimited")                  \
    /* ---- Logging ---- */                                                                \
    X(error_logfile, STRING, 0, "error-logfile", "log-file", "FILE", ERROR_LOGFILE,         \
      "-", 0, 0, TUN_F_NONEMPTY, NULL, NULL, true, LOGGING,                                 \
      "file the error log is appended to; - means stderr")                                  \
    X(log_level, LOGLEVEL, 0, "log-level", NULL, "LEVEL", LOG_LEVEL,                        \
      "info", 0, 0, 0, NULL, NULL, true, LOGGING,                                           \
      "least severe messages the error log records")
/* clang-format on */

#endif
