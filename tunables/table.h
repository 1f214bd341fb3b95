/* The settings table: every setting uwsgi-fast has, declared exactly once, and every
 * gunicorn setting it does not have, with the reason.
 *
 * tunables/settings.c expands TUN_SETTINGS into the descriptor array that drives
 * everything else: the command line, UWSGI_FAST_CMD_ARGS, the environment, config files,
 * validation, --help, --print-config and docs/settings.md. Adding a setting is one row here plus
 * its field in tun_config_t; the build checks that the field exists and that its C type matches the
 * row's type. Rows are listed in --help and the docs in table order within their section.
 *
 * Columns of X(...):
 *   name     the tun_config_t field; also the setting's name in messages and the docs
 *   type     INT, INT64, DOUBLE, STRING, BOOL, PATHS (comma-separated list, may repeat),
 *            BINDS (listen addresses, may repeat) or LOGLEVEL
 *   short    short flag as a character literal, 0 for none
 *   long     long flag without its dashes; NULL makes the setting the positional argument
 *   alias    a second long flag (a spelling gunicorn or habit uses), NULL for none
 *   metavar  how the value is shown in --help
 *   env      suffix of the setting's environment variable, UWSGI_FAST_<env>
 *   key      its name in a config file: gunicorn's setting name where gunicorn has it,
 *            so a gunicorn.conf.py maps onto the table unchanged
 *   def      the default, written as a user would write the value; NULL for none
 *   min max  inclusive bounds (INT, INT64 and DOUBLE only)
 *   flags    TUN_F_* rules beyond the type
 *   compat   a foreign environment variable that replaces the default when set (the
 *            conventions of gunicorn and of PaaS platforms), NULL for none...
 *   cfmt     ...and how its value becomes ours ("%s" = verbatim)
 *   reload   true if a HUP reload applies a new value; false if it needs a restart
 *   section  where the setting is listed (TUN_SECTIONS below)
 *   help     one line, lower case, no final period
 *
 * Precedence, per setting: command line > UWSGI_FAST_CMD_ARGS > UWSGI_FAST_<env> >
 * config file > compat > def. A setting takes its value from the highest layer that has
 * one; a list is never merged across layers.
 */
#ifndef UF_TUNABLES_TABLE_H
#define UF_TUNABLES_TABLE_H

enum tun_type {
    TUN_T_INT,
    TUN_T_INT64,
    TUN_T_DOUBLE,
    TUN_T_STRING,
    TUN_T_BOOL,
    TUN_T_PATHS,
    TUN_T_BINDS,
    TUN_T_LOGLEVEL,
};

enum tun_flag {
    TUN_F_POW2 = 1 << 0,      /* INT: must also be a power of two */
    TUN_F_REQUIRED = 1 << 1,  /* no default: parsing fails when nothing sets it */
    TUN_F_DIR = 1 << 2,       /* STRING: an existing directory, stored as an absolute path */
    TUN_F_NONEMPTY = 1 << 3,  /* STRING: "" is an error (otherwise "" means unset) */
    TUN_F_CPUS = 1 << 4,      /* INT: default is the number of CPUs the workers can use */
    TUN_F_AUTO = 1 << 5,      /* INT: also accepts "auto"; the bool field after it says so */
    TUN_F_CONFIG = 1 << 6,    /* the config file itself: read first, not settable in a file */
    TUN_F_PENDING = 1 << 7,   /* parsed and validated, not acted on yet: a warning says so */
    TUN_F_IPLIST = 1 << 8,    /* STRING: comma-separated '*', ADDRESS or ADDRESS/BITS */
    TUN_F_PAIRS = 1 << 9,     /* STRING: comma-separated NAME=VALUE; PATHS: each NAME=VALUE */
    TUN_F_NOSPLIT = 1 << 10,  /* PATHS: each flag or variable is one element, commas and all */
    TUN_F_USER = 1 << 11,     /* STRING: a user name or number (tunables/ids.h) */
    TUN_F_GROUP = 1 << 12,    /* STRING: a group name or number */
    TUN_F_MODE = 1 << 13,     /* STRING: a file mode mask in gunicorn's spellings (0o22, 022) */
    TUN_F_PPMODE = 1 << 14,   /* STRING: gunicorn's --proxy-protocol words, stored as off, v1,
                                 v2 or auto; the flag alone (no such word after it) is auto */
    TUN_F_PROTOCOL = 1 << 15, /* STRING: http or uwsgi, any case, stored in lower case */
};

/* X(id, title), in the order --help and the docs list them. */
#define TUN_SECTIONS(X)                                                                            \
    X(CONFIG, "Config file")                                                                       \
    X(APPLICATION, "Application")                                                                  \
    X(SOCKET, "Server socket")                                                                     \
    X(PROXY, "Behind a proxy")                                                                     \
    X(WORKERS, "Workers")                                                                          \
    X(ASGI, "ASGI")                                                                                \
    X(PRIVILEGES, "Privileges")                                                                    \
    X(URING, "io_uring")                                                                           \
    X(LIMITS, "HTTP limits")                                                                       \
    X(LOGGING, "Logging")                                                                          \
    X(METRICS, "Metrics and health")                                                               \
    X(DEVELOPMENT, "Development")

/* clang-format off */
#define TUN_SETTINGS(X)                                                                      \
    /* ---- Config file ---- */                                                            \
    X(config, STRING, 'c', "config", NULL, "FILE", CONFIG, "config",                        \
      NULL, 0, 0, TUN_F_CONFIG, NULL, NULL, true, CONFIG,                                   \
      "settings file: a .toml file (native) or a gunicorn .py config; \"\" reads none")    \
    /* ---- Application ---- */                                                            \
    X(app, STRING, 0, NULL, NULL, "MODULE:CALLABLE", APP, "wsgi_app",                       \
      NULL, 0, 0, TUN_F_REQUIRED | TUN_F_NONEMPTY, NULL, NULL, true, APPLICATION,           \
      "the WSGI or ASGI application: a dotted module path, a colon, and the callable in "   \
      "it")                                                                                 \
    X(chdir, STRING, 0, "chdir", NULL, "DIR", CHDIR, "chdir",                               \
      NULL, 0, 0, TUN_F_DIR, NULL, NULL, true, APPLICATION,                                 \
      "change to DIR before loading the application")                                       \
    X(pythonpath, PATHS, 0, "pythonpath", NULL, "DIR[,DIR...]", PYTHONPATH, "pythonpath",   \
      NULL, 0, 0, 0, NULL, NULL, true, APPLICATION,                                         \
      "directories to put in front of sys.path; comma separated, may be repeated")          \
    X(virtualenv, STRING, 0, "virtualenv", NULL, "DIR", VIRTUALENV, "virtualenv",           \
      NULL, 0, 0, TUN_F_DIR, "VIRTUAL_ENV", "%s", false, APPLICATION,                       \
      "virtual environment whose packages the application imports")                         \
    X(raw_env, PATHS, 'e', "env", NULL, "NAME=VALUE", ENV, "raw_env",                       \
      NULL, 0, 0, TUN_F_NOSPLIT | TUN_F_PAIRS, NULL, NULL, true, APPLICATION,               \
      "set an environment variable for the application (os.environ); may be repeated")      \
    X(preload, BOOL, 0, "preload", NULL, "BOOL", PRELOAD, "preload_app",                    \
      "false", 0, 0, 0, NULL, NULL, false, APPLICATION,                                     \
      "import the application once in the master, before forking the workers, so they "    \
      "share its memory; a HUP reload then does not re-import it")                          \
    /* ---- Server socket ---- */                                                          \
    X(binds, BINDS, 'b', "bind", NULL, "ADDRESS", BIND, "bind",                             \
      "127.0.0.1:8000", 0, 0, 0, "PORT", "0.0.0.0:%s", false, SOCKET,                       \
      "address to listen on; may be repeated or comma separated")                          \
    X(backlog, INT, 0, "backlog", NULL, "INT", BACKLOG, "backlog",                          \
      "2048", 1, 65535, 0, NULL, NULL, false, SOCKET,                                       \
      "pending connections each listener queues (the kernel caps it at net.core.somaxconn)") \
    /* ---- Behind a proxy ---- */                                                         \
    X(forwarded_allow_ips, STRING, 0, "forwarded-allow-ips", NULL, "IPS", FORWARDED_ALLOW_IPS, \
      "forwarded_allow_ips",                                                                \
      "127.0.0.1,::1", 0, 0, TUN_F_IPLIST, "FORWARDED_ALLOW_IPS", "%s", true, PROXY,         \
      "peers trusted to set the scheme (--secure-scheme-headers) and SCRIPT_NAME: "         \
      "addresses or networks, comma separated, or * for any")                               \
    X(secure_scheme_headers, STRING, 0, "secure-scheme-headers", NULL, "HEADER=VALUE,...",  \
      SECURE_SCHEME_HEADERS, "secure_scheme_headers",                                       \
      "X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on", 0, 0,          \
      TUN_F_PAIRS, NULL, NULL, true, PROXY,                                                 \
      "headers that, from a trusted peer, mark the request as https when they hold VALUE "  \
      "(a gunicorn.conf.py dict works too)")                                                \
    X(root_path, STRING, 0, "root-path", NULL, "PATH", ROOT_PATH, "root_path",              \
      NULL, 0, 0, 0, NULL, NULL, true, PROXY,                                               \
      "SCRIPT_NAME of the application when a proxy mounts it below /")                      \
    X(proxy_protocol, STRING, 0, "proxy-protocol", NULL, "off|v1|v2|auto", PROXY_PROTOCOL,  \
      "proxy_protocol",                                                                     \
      "off", 0, 0, TUN_F_NONEMPTY | TUN_F_PPMODE, NULL, NULL, true, PROXY,                  \
      "every connection from --proxy-allow-from starts with a PROXY protocol header (v1, "  \
      "v2 or auto: either) naming the real client; others are refused; the flag alone "    \
      "means auto")                                                                         \
    X(proxy_allow_ips, STRING, 0, "proxy-allow-from", NULL, "IPS", PROXY_ALLOW_FROM,        \
      "proxy_allow_ips",                                                                    \
      "127.0.0.1,::1", 0, 0, TUN_F_IPLIST, NULL, NULL, true, PROXY,                         \
      "with --proxy-protocol, the proxies allowed to connect: addresses or networks, "      \
      "comma separated, or * for any; unix socket peers are always allowed")               \
    X(protocol, STRING, 0, "protocol", NULL, "http|uwsgi", PROTOCOL, "protocol",            \
      "http", 0, 0, TUN_F_NONEMPTY | TUN_F_PROTOCOL, NULL, NULL, false,    \
      PROXY,                                                                                \
      "what every bind speaks: http, or uwsgi (the binary protocol of nginx's uwsgi_pass); " \
      "a bind written uwsgi://ADDRESS speaks uwsgi whatever this says")                   \
    X(uwsgi_allow_ips, STRING, 0, "uwsgi-allow-from", NULL, "IPS", UWSGI_ALLOW_FROM,        \
      "uwsgi_allow_ips",                                                                    \
      "127.0.0.1,::1", 0, 0, TUN_F_IPLIST, NULL, NULL, true, PROXY,                         \
      "with the uwsgi protocol, the front ends allowed to connect: addresses or networks, " \
      "comma separated, or * for any; unix socket peers are always allowed")               \
    /* ---- Workers ---- */                                                                \
    X(worker_class, STRING, 'k', "worker-class", NULL, "sync|gthread|asgi", WORKER_CLASS,     \
      "worker_class",                                                                       \
      "sync", 0, 0, TUN_F_NONEMPTY, NULL, NULL, false, WORKERS,                             \
      "sync or gthread (gunicorn's names: either way a worker is an io_uring loop calling "  \
      "the WSGI application, with --threads for gthread's threads), or asgi (also spelled " \
      "uvicorn.workers.UvicornWorker or uvicorn_worker.UvicornWorker): an ASGI application " \
      "on an asyncio loop per worker")                                                      \
    X(workers, INT, 'w', "workers", NULL, "INT|auto", WORKERS, "workers",                   \
      NULL, 1, 4096, TUN_F_CPUS | TUN_F_AUTO, "WEB_CONCURRENCY", "%s", true, WORKERS,       \
      "number of worker processes, each with its own listener and io_uring ring; auto: "    \
      "one per usable CPU, as many as fit in memory (see --memory-reserve)")                \
    X(worker_connections, INT, 0, "worker-connections", NULL, "INT", WORKER_CONNECTIONS,    \
      "worker_connections",                                                                 \
      "1000", 1, 1000000, 0, NULL, NULL, true, WORKERS,                                     \
      "most client connections one worker holds open at once")                              \
    X(threads, INT, 0, "threads", NULL, "INT", THREADS, "threads",                          \
      "1", 1, 256, 0, NULL, NULL, true, WORKERS,                                            \
      "Python threads per worker that run the application, for applications that wait on "  \
      "I/O; the worker's io_uring loop runs beside them and never waits for them")         \
    X(work_sharing, BOOL, 0, "work-sharing", NULL, "BOOL", WORK_SHARING, "work_sharing",    \
      "true", 0, 0, 0, NULL, NULL, true, WORKERS,                                           \
      "idle workers take the requests a busy, booting or dying worker cannot start now "    \
      "(see docs/architecture.md); false: each worker serves only its own connections and " \
      "the loop itself calls the application when --threads is 1")                         \
    X(work_sharing_inline, INT, 0, "work-sharing-inline", NULL, "MICROSECONDS",             \
      WORK_SHARING_INLINE, "work_sharing_inline",                                           \
      "200", 0, 1000000, 0, NULL, NULL, true, WORKERS,                                      \
      "with work sharing and --threads 1, the loop calls the application itself, without "  \
      "the hand-off to its thread, for a method and target whose last 8 calls each took "   \
      "less than this and finished their response; 0: every call is handed off")          \
    X(timeout, DOUBLE, 't', "timeout", NULL, "SECONDS", TIMEOUT, "timeout",                 \
      "30", 0, 86400, 0, NULL, NULL, true, WORKERS,                                         \
      "a worker whose request runs longer than this is killed and replaced; 0 means no "    \
      "limit")                                                                              \
    X(graceful_timeout, DOUBLE, 0, "graceful-timeout", NULL, "SECONDS", GRACEFUL_TIMEOUT,   \
      "graceful_timeout",                                                                   \
      "30", 0, 86400, 0, NULL, NULL, true, WORKERS,                                         \
      "how long a stopping worker may finish in-flight requests before it is killed")       \
    X(keepalive, DOUBLE, 0, "keep-alive", NULL, "SECONDS", KEEP_ALIVE, "keepalive",         \
      "2", 0, 3600, 0, NULL, NULL, true, WORKERS,                                           \
      "how long an idle keep-alive connection stays open; 0 closes after each response")    \
    X(header_timeout, DOUBLE, 0, "header-timeout", NULL, "SECONDS", HEADER_TIMEOUT,         \
      "header_timeout",                                                                     \
      "10", 0, 3600, 0, NULL, NULL, true, WORKERS,                                          \
      "how long a client may take to send a request's line and headers before it gets "     \
      "408; 0 means no limit")                                                              \
    X(body_timeout, DOUBLE, 0, "body-timeout", NULL, "SECONDS", BODY_TIMEOUT,               \
      "body_timeout",                                                                       \
      "30", 0, 3600, 0, NULL, NULL, true, WORKERS,                                          \
      "longest pause between two pieces of a request body before the request gets 408; 0 "  \
      "means no limit")                                                                     \
    X(max_requests, INT, 0, "max-requests", NULL, "INT", MAX_REQUESTS, "max_requests",      \
      "0", 0, 2147483647, 0, NULL, NULL, true, WORKERS,                                     \
      "a worker is replaced after serving this many requests; 0 means never")               \
    X(max_requests_jitter, INT, 0, "max-requests-jitter", NULL, "INT",                      \
      MAX_REQUESTS_JITTER, "max_requests_jitter",                                           \
      "0", 0, 2147483647, 0, NULL, NULL, true, WORKERS,                                     \
      "adds a random 0 to INT to each worker's --max-requests, so they are not all "        \
      "replaced at once")                                                                   \
    X(max_worker_lifetime, DOUBLE, 0, "max-worker-lifetime", NULL, "SECONDS",               \
      MAX_WORKER_LIFETIME, "max_worker_lifetime",                                           \
      "0", 0, 31536000, 0, NULL, NULL, true, WORKERS,                                       \
      "a worker is replaced (gracefully) after running this long; 0 means never")           \
    X(reload_on_rss, INT, 0, "reload-on-rss", NULL, "MB", RELOAD_ON_RSS, "reload_on_rss",   \
      "0", 0, 16777216, 0, NULL, NULL, true, WORKERS,                                       \
      "a worker whose resident memory exceeds this is replaced after its current "          \
      "request; 0 means never")                                                             \
    X(memory_reserve_mb, INT, 0, "memory-reserve", NULL, "MB", MEMORY_RESERVE,              \
      "memory_reserve",                                                                     \
      "256", 0, 16777216, 0, NULL, NULL, true, WORKERS,                                     \
      "memory kept free for the system when --workers auto plans how many workers fit")     \
    X(cpu_pin, BOOL, 0, "cpu-pin", NULL, "BOOL", CPU_PIN, "cpu_pin",                        \
      "false", 0, 0, 0, NULL, NULL, true, WORKERS,                                          \
      "pin each worker to one CPU of the allowed set, in CPU order")                        \
    X(numa_pin, BOOL, 0, "numa-pin", NULL, "BOOL", NUMA_PIN, "numa_pin",                    \
      "false", 0, 0, 0, NULL, NULL, true, WORKERS,                                          \
      "bind each worker's memory to the NUMA node of its CPU")                              \
    X(proc_name, STRING, 'n', "name", NULL, "STRING", NAME, "proc_name",                    \
      NULL, 0, 0, 0, NULL, NULL, false, WORKERS,                                            \
      "name in the process titles ps and top show (uwsgi-fast: master [NAME], uwsgi-fast: "  \
      "worker 3 [NAME]); default: the application")                                         \
    X(pidfile, STRING, 'p', "pid", NULL, "FILE", PID, "pidfile",                            \
      NULL, 0, 0, 0, NULL, NULL, false, WORKERS,                                            \
      "file the master writes its process id to, removed when it exits")                    \
    /* ---- ASGI ---- */                                                                   \
    X(interface, STRING, 0, "interface", NULL, "auto|wsgi|asgi", INTERFACE, "interface",    \
      "auto", 0, 0, TUN_F_NONEMPTY, NULL, NULL, false, ASGI,                                \
      "how the application is called: auto recognises an ASGI 3 callable (a coroutine "    \
      "function, or an object whose __call__ is one) and an ASGI 2 one (wrapped), and "     \
      "calls anything else as WSGI; each worker says at start which it chose")             \
    X(asgi_loop, STRING, 0, "loop", "asgi-loop", "auto|asyncio|uvloop", LOOP, "asgi_loop",  \
      "auto", 0, 0, TUN_F_NONEMPTY, NULL, NULL, false, ASGI,                                \
      "the event loop of an ASGI worker: uvloop, the standard library's asyncio, or auto "  \
      "(uvloop when the application's environment has it installed)")                      \
    X(asgi_lifespan, STRING, 0, "lifespan", "asgi-lifespan", "auto|on|off", LIFESPAN,       \
      "asgi_lifespan",                                                                      \
      "auto", 0, 0, TUN_F_NONEMPTY, NULL, NULL, false, ASGI,                                \
      "the ASGI lifespan protocol: on (startup must succeed before the worker takes "       \
      "requests), off, or auto (used unless the application raises on it at startup)")     \
    X(asgi_disconnect_grace_period, DOUBLE, 0, "asgi-disconnect-grace-period", NULL,        \
      "SECONDS", ASGI_DISCONNECT_GRACE_PERIOD, "asgi_disconnect_grace_period",              \
      "3", 0, 3600, 0, NULL, NULL, true, ASGI,                                              \
      "after its client disconnects, an ASGI request's task gets http.disconnect and this " \
      "long to clean up (close a database cursor, say) before it is cancelled; 0 cancels " \
      "it at once")                                                                         \
    X(ws_max_message_size, INT64, 0, "ws-max-message-size", NULL, "BYTES",                  \
      WS_MAX_MESSAGE_SIZE, "ws_max_message_size",                                           \
      "16777216", 0, 9007199254740992.0, 0, NULL, NULL, true, ASGI,                         \
      "largest WebSocket message an ASGI application is given, fragments joined; a "        \
      "larger one closes the WebSocket with 1009 (message too big); 0 means unlimited")     \
    X(ws_ping_interval, DOUBLE, 0, "ws-ping-interval", NULL, "SECONDS", WS_PING_INTERVAL,   \
      "ws_ping_interval",                                                                   \
      "20", 0, 86400, 0, NULL, NULL, true, ASGI,                                            \
      "an open WebSocket from which nothing has come for this long is sent a ping (the "    \
      "keepalive; keep-alive idle timeouts never apply to a WebSocket); 0 means never")     \
    X(ws_ping_timeout, DOUBLE, 0, "ws-ping-timeout", NULL, "SECONDS", WS_PING_TIMEOUT,      \
      "ws_ping_timeout",                                                                    \
      "20", 0, 86400, 0, NULL, NULL, true, ASGI,                                            \
      "how long that ping waits for the client (a pong or anything else) before the "       \
      "WebSocket is closed with 1011; 0 means forever")                                     \
    X(ws_per_message_deflate, BOOL, 0, "ws-per-message-deflate", NULL, "BOOL",              \
      WS_PER_MESSAGE_DEFLATE, "ws_per_message_deflate",                                     \
      "true", 0, 0, 0, NULL, NULL, true, ASGI,                                              \
      "compress WebSocket messages (permessage-deflate, RFC 7692) when the client offers "  \
      "it; inflating is bounded by --ws-max-message-size")                                  \
    /* ---- Privileges ---- */                                                             \
    X(user, STRING, 'u', "user", NULL, "USER", USER, "user",                                \
      NULL, 0, 0, TUN_F_USER, NULL, NULL, false, PRIVILEGES,                                \
      "workers switch to this user (a name or a numeric id) after the fork, before the "    \
      "application is imported; the master keeps its own (root) to bind and respawn")      \
    X(group, STRING, 'g', "group", NULL, "GROUP", GROUP, "group",                           \
      NULL, 0, 0, TUN_F_GROUP, NULL, NULL, false, PRIVILEGES,                               \
      "workers switch to this group (a name or a numeric id); none means the primary "      \
      "group of --user")                                                                    \
    X(initgroups, BOOL, 0, "initgroups", NULL, "BOOL", INITGROUPS, "initgroups",            \
      "false", 0, 0, 0, NULL, NULL, false, PRIVILEGES,                                      \
      "workers also get every supplementary group of --user (initgroups); without it "      \
      "they keep --group alone")                                                            \
    X(umask, STRING, 'm', "umask", NULL, "MODE", UMASK, "umask",                            \
      NULL, 0, 0, TUN_F_MODE, NULL, NULL, false, PRIVILEGES,                                \
      "file mode mask of the master and workers, set at start (0o22, 022, 0x12 and 18 are " \
      "the same); none keeps the umask uwsgi-fast was started with")                        \
    /* ---- io_uring ---- */                                                               \
    X(engine, STRING, 0, "engine", NULL, "auto|io_uring|epoll", ENGINE, "engine",           \
      "auto", 0, 0, TUN_F_NONEMPTY, NULL, NULL, false, URING,                               \
      "the I/O engine: io_uring, epoll (for hosts whose seccomp profile or sysctl blocks "  \
      "io_uring; registered buffers, SEND_ZC and kernel multishot are io_uring only and "   \
      "are skipped), or auto (io_uring when the master's probe proves it works, else "      \
      "epoll, saying why)")                                                                 \
    X(ring_entries, INT, 0, "ring-entries", NULL, "INT", RING_ENTRIES, "ring_entries",      \
      "1024", 8, 32768, TUN_F_POW2, NULL, NULL, true, URING,                                \
      "submission queue entries of each worker's ring (io_uring only)")                     \
    X(recv_buffers, INT, 0, "recv-buffers", NULL, "INT", RECV_BUFFERS, "recv_buffers",      \
      "256", 8, 32768, TUN_F_POW2, NULL, NULL, true, URING,                                 \
      "kernel-provided receive buffers per worker")                                         \
    X(recv_buffer_size, INT, 0, "recv-buffer-size", NULL, "BYTES", RECV_BUFFER_SIZE,        \
      "recv_buffer_size",                                                                   \
      "16384", 1024, 1048576, 0, NULL, NULL, true, URING,                                   \
      "size of each receive buffer")                                                        \
    X(zerocopy_threshold, INT, 0, "zerocopy-threshold", NULL, "BYTES", ZEROCOPY_THRESHOLD,  \
      "zerocopy_threshold",                                                                 \
      "65536", 0, 1073741824, 0, NULL, NULL, true, URING,                                   \
      "bodies of known length go out by SEND_ZC in pieces at least this large (file blocks " \
      "from registered buffers, application chunks from their own memory); 0 forces it "   \
      "even where the kernel copies (loopback); io_uring only, epoll sends them plainly")    \
    /* ---- HTTP limits ---- */                                                            \
    X(limit_request_line, INT, 0, "limit-request-line", NULL, "BYTES", LIMIT_REQUEST_LINE,  \
      "limit_request_line",                                                                 \
      "4094", 0, 8190, 0, NULL, NULL, true, LIMITS,                                         \
      "longest request line (method, target, version) accepted; 0 means unlimited")         \
    X(limit_request_fields, INT, 0, "limit-request-fields", NULL, "INT",                    \
      LIMIT_REQUEST_FIELDS, "limit_request_fields",                                         \
      "100", 0, 32768, 0, NULL, NULL, true, LIMITS,                                         \
      "most header fields a request may carry; 0 means the maximum, 32768")                 \
    X(limit_request_field_size, INT, 0, "limit-request-field_size",                         \
      "limit-request-field-size", "BYTES", LIMIT_REQUEST_FIELD_SIZE,                        \
      "limit_request_field_size",                                                           \
      "8190", 0, 1048576, 0, NULL, NULL, true, LIMITS,                                      \
      "longest header field (name and value) accepted; 0 means unlimited")                  \
    X(limit_request_head, INT, 0, "limit-request-head", NULL, "BYTES", LIMIT_REQUEST_HEAD,  \
      "limit_request_head",                                                                 \
      "0", 0, 16777216, 0, NULL, NULL, true, LIMITS,                                        \
      "largest request head (empty lines before it, request line, header fields, line "     \
      "ends) and largest trailer section accepted (431); 0 means 64 KiB, or 1 MiB when "    \
      "limit-request-field_size is 0 or above 32 KiB")                                      \
    X(require_host, BOOL, 0, "require-host", NULL, "BOOL", REQUIRE_HOST, "require_host",    \
      "false", 0, 0, 0, NULL, NULL, true, LIMITS,                                           \
      "answer 400 to an HTTP/1.1 request without a Host field, as RFC 9112 3.2 asks; off "  \
      "by default because simple clients omit it and gunicorn serves them")                 \
    X(limit_request_body, INT64, 0, "limit-request-body", NULL, "BYTES",                    \
      LIMIT_REQUEST_BODY, "limit_request_body",                                             \
      "1073741824", 0, 9007199254740992.0, 0, NULL, NULL, true, LIMITS,                     \
      "largest request body accepted (a larger one gets 413); 0 means unlimited")           \
    X(body_spool_threshold, INT64, 0, "body-spool-threshold", NULL, "BYTES",                \
      BODY_SPOOL_THRESHOLD, "body_spool_threshold",                                         \
      "1048576", 0, 9007199254740992.0, 0, NULL, NULL, true, LIMITS,                        \
      "request bodies larger than this are kept in a temporary file instead of memory")     \
    X(tmp_upload_dir, STRING, 0, "tmp-upload-dir", NULL, "DIR", TMP_UPLOAD_DIR,             \
      "tmp_upload_dir",                                                                     \
      NULL, 0, 0, TUN_F_DIR, NULL, NULL, true, LIMITS,                                      \
      "directory for those temporary files; none means $TMPDIR, or /tmp")                   \
    /* ---- Logging ---- */                                                                \
    X(error_logfile, STRING, 0, "error-logfile", "log-file", "FILE", ERROR_LOGFILE,         \
      "errorlog",                                                                           \
      "-", 0, 0, TUN_F_NONEMPTY, NULL, NULL, true, LOGGING,                                 \
      "file the error log is appended to; - means stderr, /dev/stdout stdout")              \
    X(error_log_json, BOOL, 0, "error-log-json", NULL, "BOOL", ERROR_LOG_JSON,              \
      "error_log_json",                                                                     \
      "false", 0, 0, 0, NULL, NULL, false, LOGGING,                                         \
      "write each error log record as a JSON object (time, level, pid, worker, message)")   \
    X(log_level, LOGLEVEL, 0, "log-level", NULL, "LEVEL", LOG_LEVEL, "loglevel",            \
      "info", 0, 0, 0, NULL, NULL, true, LOGGING,                                           \
      "least severe messages the error log records")                                        \
    X(accesslog, STRING, 0, "access-logfile", NULL, "FILE", ACCESS_LOGFILE, "accesslog",    \
      NULL, 0, 0, 0, NULL, NULL, true, LOGGING,                                             \
      "file the access log is appended to; - means stdout; none means no access log")       \
    X(access_log_format, STRING, 0, "access-logformat", NULL, "STRING", ACCESS_LOGFORMAT,   \
      "access_log_format",                                                                  \
      "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"", 0, 0,              \
      TUN_F_NONEMPTY, NULL, NULL, true, LOGGING,                                            \
      "access log line in gunicorn's atoms (%(h)s, %(r)s, %(s)s, %(D)s, %({header}i)s, "    \
      "...), plus %(w)s worker id and %(c)s connection id")                                 \
    X(access_log_json, BOOL, 0, "access-log-json", NULL, "BOOL", ACCESS_LOG_JSON,           \
      "access_log_json",                                                                    \
      "false", 0, 0, 0, NULL, NULL, true, LOGGING,                                          \
      "write each access log line as a JSON object with the fields of --access-logformat")  \
    X(log_target, STRING, 0, "log-target", NULL, "URL", LOG_TARGET, "log_target",           \
      NULL, 0, 0, 0, NULL, NULL, true, LOGGING,                                             \
      "also send access and error lines to a collector: udp://HOST:PORT, tcp://HOST:PORT "  \
      "or unix:/PATH; lines it cannot take are dropped and counted, never waited for")      \
    X(log_target_format, STRING, 0, "log-target-format", NULL, "json|rfc5424",              \
      LOG_TARGET_FORMAT, "log_target_format",                                               \
      "json", 0, 0, TUN_F_NONEMPTY, NULL, NULL, true, LOGGING,                              \
      "what --log-target receives: JSON objects, or RFC 5424 syslog messages")              \
    X(syslog, BOOL, 0, "log-syslog", NULL, "BOOL", LOG_SYSLOG, "syslog",                    \
      "false", 0, 0, 0, NULL, NULL, true, LOGGING,                                          \
      "also send error and access lines to syslog (--log-syslog-to), beside the error log " \
      "and any --log-target")                                                               \
    X(syslog_addr, STRING, 0, "log-syslog-to", NULL, "ADDRESS", LOG_SYSLOG_TO, "syslog_addr", \
      "udp://localhost:514", 0, 0, TUN_F_NONEMPTY, NULL, NULL, true, LOGGING,               \
      "where syslog lines go: udp://HOST[:PORT], tcp://HOST[:PORT], unix://PATH or "        \
      "unix:PATH (/dev/log)")                                                               \
    X(syslog_prefix, STRING, 0, "log-syslog-prefix", NULL, "STRING", LOG_SYSLOG_PREFIX,     \
      "syslog_prefix",                                                                      \
      NULL, 0, 0, 0, NULL, NULL, true, LOGGING,                                             \
      "syslog tag gunicorn.PREFIX.error / gunicorn.PREFIX.access; default: --name, else "   \
      "the application with : written .")                                                   \
    X(syslog_facility, STRING, 0, "log-syslog-facility", NULL, "NAME", LOG_SYSLOG_FACILITY, \
      "syslog_facility",                                                                    \
      "user", 0, 0, TUN_F_NONEMPTY, NULL, NULL, true, LOGGING,                              \
      "syslog facility: user, daemon, local0..local7, auth, authpriv, cron, ftp, kern, "    \
      "lpr, mail, news, security, syslog or uucp")                                          \
    X(syslog_format, STRING, 0, "log-syslog-format", NULL, "rfc3164|rfc5424",               \
      LOG_SYSLOG_FORMAT, "syslog_format",                                                   \
      "rfc3164", 0, 0, TUN_F_NONEMPTY, NULL, NULL, true, LOGGING,                           \
      "syslog message form: RFC 3164 (what syslog daemons expect on /dev/log) or RFC 5424")  \
    X(disable_redirect_access_to_syslog, BOOL, 0, "disable-redirect-access-to-syslog", NULL, \
      "BOOL", DISABLE_REDIRECT_ACCESS_TO_SYSLOG, "disable_redirect_access_to_syslog",       \
      "false", 0, 0, 0, NULL, NULL, true, LOGGING,                                          \
      "with --log-syslog, send only error lines to syslog, not access lines")               \
    X(capture_output, BOOL, 0, "capture-output", NULL, "BOOL", CAPTURE_OUTPUT,              \
      "capture_output",                                                                     \
      "false", 0, 0, 0, NULL, NULL, true, LOGGING,                                          \
      "write what the application prints (stdout and stderr of the workers) into the error " \
      "log line by line, tagged with the worker, and ship it like the worker's lines")      \
    /* ---- Metrics and health ---- */                                                     \
    X(stats_bind, STRING, 0, "stats-bind", NULL, "HOST:PORT", STATS_BIND, "stats_bind",     \
      NULL, 0, 0, 0, NULL, NULL, false, METRICS,                                            \
      "the master serves /metrics (Prometheus), /stats (JSON), /health and /ready here, "   \
      "apart from the application's port")                                                  \
    X(statsd_host, STRING, 0, "statsd-host", NULL, "HOST:PORT", STATSD_HOST, "statsd_host", \
      NULL, 0, 0, 0, NULL, NULL, true, METRICS,                                             \
      "send gunicorn's statsd metrics (gunicorn.requests, gunicorn.request.duration, ...) "  \
      "over UDP to HOST:PORT")                                                              \
    X(statsd_prefix, STRING, 0, "statsd-prefix", NULL, "STRING", STATSD_PREFIX,             \
      "statsd_prefix",                                                                      \
      NULL, 0, 0, 0, NULL, NULL, true, METRICS,                                             \
      "prefix of every statsd metric name (a dot is added)")                                \
    X(dogstatsd_tags, STRING, 0, "dogstatsd-tags", NULL, "TAGS", DOGSTATSD_TAGS,            \
      "dogstatsd_tags",                                                                     \
      NULL, 0, 0, 0, NULL, NULL, true, METRICS,                                             \
      "DogStatsD tags added to every statsd metric as |#TAGS: NAME:VALUE or NAME, comma "   \
      "separated (env:prod,service:shop)")                                                  \
    X(enable_backlog_metric, BOOL, 0, "enable-backlog-metric", NULL, "BOOL",                \
      ENABLE_BACKLOG_METRIC, "enable_backlog_metric",                                       \
      "false", 0, 0, 0, NULL, NULL, true, METRICS,                                          \
      "also send the accept-queue length as gunicorn.backlog to statsd")                    \
    X(health_path, STRING, 0, "health-path", NULL, "PATH", HEALTH_PATH, "health_path",      \
      NULL, 0, 0, 0, NULL, NULL, true, METRICS,                                             \
      "answer GET PATH with 200 from the server itself, never calling the application "     \
      "(liveness probe)")                                                                   \
    X(ready_path, STRING, 0, "ready-path", NULL, "PATH", READY_PATH, "ready_path",          \
      NULL, 0, 0, 0, NULL, NULL, true, METRICS,                                             \
      "answer GET PATH with 200 when the worker takes traffic, 503 while it drains or is "  \
      "saturated (readiness probe)")                                                        \
    X(ready_saturation, INT, 0, "ready-saturation", NULL, "INT", READY_SATURATION,          \
      "ready_saturation",                                                                   \
      "0", 0, 1000000, 0, NULL, NULL, true, METRICS,                                        \
      "--ready-path answers 503 when a worker has more than INT requests in flight or "     \
      "connections in its accept queue; 0 means never")                                   \
    /* ---- Development ---- */                                                            \
    X(reload, BOOL, 0, "reload", NULL, "BOOL", RELOAD, "reload",                            \
      "false", 0, 0, 0, NULL, NULL, true, DEVELOPMENT,                                      \
      "development only: replace the workers when a Python file they imported (or a "      \
      "--reload-extra-file) changes; an application that fails to import answers 500 "     \
      "with the error until the next change")                                             \
    X(reload_engine, STRING, 0, "reload-engine", NULL, "auto|inotify|poll", RELOAD_ENGINE,  \
      "reload_engine",                                                                      \
      "auto", 0, 0, TUN_F_NONEMPTY, NULL, NULL, true, DEVELOPMENT,                          \
      "how --reload notices a change: inotify, poll (every watched file's mtime each "      \
      "second), or auto (inotify, poll where inotify is unavailable)")                      \
    X(reload_extra_files, PATHS, 0, "reload-extra-file", NULL, "FILE", RELOAD_EXTRA_FILE,   \
      "reload_extra_files",                                                                 \
      NULL, 0, 0, TUN_F_NOSPLIT, NULL, NULL, true, DEVELOPMENT,                             \
      "with --reload, also replace the workers when FILE changes (templates, settings); "   \
      "a glob pattern is expanded again at each check; may be repeated")
/* clang-format on */

/* gunicorn settings uwsgi-fast does not have. None is ignored silently: given on the
 * command line, in UWSGI_FAST_CMD_ARGS or in a config file, each stops uwsgi-fast with
 * its reason, unless its value is one that asks for nothing (`--daemon false`,
 * `worker_class = "sync"`, `preload_app = False`); a LATER one in a config file is
 * ignored with a warning instead.
 *
 * Columns of R(...):
 *   key       gunicorn's setting name, as written in a gunicorn.conf.py
 *   short     gunicorn's short flag, 0 for none
 *   long      gunicorn's long flag without dashes, NULL if it only exists in config files
 *   alias     a second long flag, NULL for none
 *   arg       how its value is shown; NULL for an on/off switch
 *   harmless  values that ask for nothing, '|' separated, NULL for none
 *   kind      PLANNED (not supported yet), NEVER (not the job of this server, and why),
 *             NOOP (accepted and without effect, because uwsgi-fast already behaves so), or
 *             LATER (a gunicorn 24-27 feature not here yet: refused as a flag; in a config
 *             file, written for that gunicorn, a warning names it and it is ignored)
 *   reason    one line, lower case, no final period
 */
enum tun_refusal { TUN_R_PLANNED, TUN_R_NEVER, TUN_R_NOOP, TUN_R_LATER };

#define TUN_TLS_REASON                                                                             \
    "terminate TLS in a proxy in front of uwsgi-fast (nginx, haproxy, a load balancer)"
#define TUN_LOGGER_REASON                                                                          \
    "the error and access logs are written by the C core, not by Python's logging; use "           \
    "logconfig_dict in a gunicorn.conf.py (its gunicorn.error and gunicorn.access handlers), "     \
    "--error-logfile, --error-log-json, --log-syslog or --log-target"
#define TUN_LOGCONFIG_REASON                                                                       \
    "honoured only in a gunicorn.conf.py (the handlers of gunicorn.error and gunicorn.access); "   \
    "here use --error-logfile, --error-log-json, --log-level, --access-logfile and "               \
    "--access-log-json"
#define TUN_PARSER_REASON                                                                          \
    "the HTTP parser's strictness is fixed: ambiguous or obsolete syntax is always refused"
#define TUN_H2_REASON    "only HTTP/1.1 is served; put an HTTP/2 proxy in front"
#define TUN_DIRTY_REASON "gunicorn's dirty workers (a second pool for long tasks) are not here"
#define TUN_CONTROL_REASON                                                                         \
    "there is no control socket; use signals (HUP, TTIN, TTOU) and the stats port"

/* clang-format off */
#define TUN_REFUSED(R)                                                                       \
    R(logger_class, 0, "logger-class", NULL, "STRING",                                      \
      "gunicorn.glogging.Logger|simple|gunicorn.instrument.statsd.Statsd", NEVER,           \
      TUN_LOGGER_REASON)                                                                    \
    R(logconfig, 0, "log-config", NULL, "FILE", NULL, NEVER,                                \
      "the INI logging config is not read; write it as logconfig_dict in a gunicorn.conf.py " \
      "(its gunicorn.error and gunicorn.access handlers are honoured), or use "            \
      "--error-logfile, --error-log-json and --log-level")                                  \
    R(logconfig_dict, 0, NULL, NULL, "DICT", NULL, NEVER, TUN_LOGCONFIG_REASON)             \
    R(logconfig_json, 0, "log-config-json", NULL, "FILE", NULL, NEVER, TUN_LOGCONFIG_REASON) \
    R(enable_stdio_inheritance, 'R', "enable-stdio-inheritance", NULL, NULL, "false",       \
      NEVER, "it only matters with --daemon, which uwsgi-fast does not do")                 \
    R(daemon, 'D', "daemon", NULL, NULL, "false", NEVER,                                    \
      "run in the foreground under systemd, a container runtime or supervisord")            \
    R(forwarder_headers, 0, "forwarder-headers", NULL, "HEADERS", "SCRIPT_NAME,PATH_INFO",  \
      PLANNED, "choosing which proxy headers are honoured is not supported yet")            \
    R(keyfile, 0, "keyfile", NULL, "FILE", NULL, NEVER, TUN_TLS_REASON)                     \
    R(certfile, 0, "certfile", NULL, "FILE", NULL, NEVER, TUN_TLS_REASON)                   \
    R(ssl_version, 0, "ssl-version", NULL, "STRING", NULL, NEVER, TUN_TLS_REASON)           \
    R(cert_reqs, 0, "cert-reqs", NULL, "INT", "0", NEVER, TUN_TLS_REASON)                   \
    R(ca_certs, 0, "ca-certs", NULL, "FILE", NULL, NEVER, TUN_TLS_REASON)                   \
    R(suppress_ragged_eofs, 0, "suppress-ragged-eofs", NULL, NULL, "true", NEVER,           \
      TUN_TLS_REASON)                                                                       \
    R(do_handshake_on_connect, 0, "do-handshake-on-connect", NULL, NULL, "false", NEVER,    \
      TUN_TLS_REASON)                                                                       \
    R(ciphers, 0, "ciphers", NULL, "STRING", NULL, NEVER, TUN_TLS_REASON)                   \
    R(paste, 0, "paste", "paster", "FILE", NULL, NEVER,                                     \
      "PasteDeploy is not read; name the WSGI callable as MODULE:CALLABLE")                 \
    R(raw_paste_global_conf, 0, "paste-global", NULL, "NAME=VALUE", NULL, NEVER,            \
      "PasteDeploy is not read; name the WSGI callable as MODULE:CALLABLE")                 \
    R(spew, 0, "spew", NULL, NULL, "false", NEVER,                                          \
      "tracing every executed line is a debugger's job; use py-spy or python -X importtime") \
    R(http_protocols, 0, "http-protocols", NULL, "STRING", "h1", NEVER, TUN_H2_REASON)      \
    R(permit_obsolete_folding, 0, "permit-obsolete-folding", NULL, NULL, "false", NEVER,    \
      TUN_PARSER_REASON)                                                                    \
    R(strip_header_spaces, 0, "strip-header-spaces", NULL, NULL, "false", NEVER,            \
      TUN_PARSER_REASON)                                                                    \
    R(permit_unconventional_http_method, 0, "permit-unconventional-http-method", NULL,      \
      NULL, "false", NEVER, TUN_PARSER_REASON)                                              \
    R(permit_unconventional_http_version, 0, "permit-unconventional-http-version", NULL,    \
      NULL, "false", NEVER, TUN_PARSER_REASON)                                              \
    R(casefold_http_method, 0, "casefold-http-method", NULL, NULL, "false", NEVER,          \
      TUN_PARSER_REASON)                                                                    \
    R(header_map, 0, "header-map", NULL, "STRING", "drop", NEVER,                           \
      "header names with an underscore are always dropped from the environ, as "            \
      "gunicorn's default does")                                                            \
    R(reuse_port, 0, "reuse-port", NULL, NULL, NULL, NOOP,                                  \
      "every worker always has its own SO_REUSEPORT listener")                              \
    R(sendfile, 0, "no-sendfile", NULL, NULL, NULL, NOOP,                                   \
      "how files are sent is the engine's choice: the ring on io_uring, sendfile(2) on epoll") \
    R(worker_tmp_dir, 0, "worker-tmp-dir", NULL, "DIR", NULL, NOOP,                         \
      "workers report that they are alive through shared memory, not files")                \
    R(http2_cleartext, 0, "http2-cleartext", NULL, "STRING", "off", LATER,                  \
      TUN_H2_REASON)                                                                        \
    R(http2_max_concurrent_streams, 0, "http2-max-concurrent-streams", NULL, "INT",         \
      "100", LATER,                                                                         \
      TUN_H2_REASON)                                                                        \
    R(http2_initial_window_size, 0, "http2-initial-window-size", NULL, "INT",               \
      "65535", LATER,                                                                       \
      TUN_H2_REASON)                                                                        \
    R(http2_max_frame_size, 0, "http2-max-frame-size", NULL, "INT", "16384", LATER,         \
      TUN_H2_REASON)                                                                        \
    R(http2_max_header_list_size, 0, "http2-max-header-list-size", NULL, "INT",             \
      "65536", LATER,                                                                       \
      TUN_H2_REASON)                                                                        \
    R(websocket_max_message_size, 0, "websocket-max-message-size", NULL, "INT",             \
      "16777216", LATER,                                                                    \
      "WebSockets are not served yet")                                                      \
    R(http_parser, 0, "http-parser", NULL, "STRING", "auto", LATER,                         \
      TUN_PARSER_REASON)                                                                    \
    R(dirty_apps, 0, "dirty-app", NULL, "STRING", NULL, LATER,                              \
      TUN_DIRTY_REASON)                                                                     \
    R(dirty_workers, 0, "dirty-workers", NULL, "INT", "0", LATER,                           \
      TUN_DIRTY_REASON)                                                                     \
    R(dirty_timeout, 0, "dirty-timeout", NULL, "INT", "300", LATER,                         \
      TUN_DIRTY_REASON)                                                                     \
    R(dirty_threads, 0, "dirty-threads", NULL, "INT", "1", LATER,                           \
      TUN_DIRTY_REASON)                                                                     \
    R(dirty_graceful_timeout, 0, "dirty-graceful-timeout", NULL, "INT", "30", LATER,        \
      TUN_DIRTY_REASON)                                                                     \
    R(control_socket, 0, "control-socket", NULL, "PATH", NULL, LATER,                       \
      TUN_CONTROL_REASON)                                                                   \
    R(control_socket_mode, 0, "control-socket-mode", NULL, "INT", "384", LATER,             \
      TUN_CONTROL_REASON)                                                                   \
    R(control_socket_disable, 0, "no-control-socket", NULL, NULL, "false", LATER,           \
      TUN_CONTROL_REASON)
/* clang-format on */

/* gunicorn's server hooks: callables a gunicorn.conf.py may define. The ones called are
 * TUN_CALLED_HOOKS (tunables.h); ssl_context has no TLS to configure here, and the dirty_*
 * ones are gunicorn 27's, for its dirty workers: defining one of these gets a warning. */
/* clang-format off */
#define TUN_HOOKS(H) \
    TUN_CALLED_HOOKS(H) \
    H(ssl_context) \
    H(on_dirty_starting) \
    H(dirty_post_fork) \
    H(dirty_worker_init) \
    H(dirty_worker_exit)
/* clang-format on */

#endif
