"""The behind-nginx scenario group: nginx on the same machine, with one configuration for
all (worker_processes 1, access_log off, upstream keep-alive where the transport has it),
in front of every server over each transport it is deployed with:

    uwsgi-fast  HTTP over TCP (proxy_pass, upstream keepalive), HTTP over a unix socket,
                the uwsgi protocol (uwsgi_pass) over TCP and over a unix socket
    gunicorn    sync and gthread, HTTP over TCP (proxy_pass)
    uWSGI       the uwsgi protocol (--socket, uwsgi_pass) over TCP and over a unix socket
    Granian     HTTP over TCP (proxy_pass)

Each row (a server on one transport, TRANSPORTS) is one nginx master with one worker and
its server behind it; wrk loads nginx's port. The row's CPU is the server's process tree,
nginx's is measured apart (server.run_client's sidecars). The rows are measured in the
harness's interleaved rounds with uwsgi-fast over TCP as the base every run is paired
with (BASE_ROW); choose() then finds each server's best transport and gives every other
transport of that server, and every peer's best transport, a ratio to the best (per
round: ratio to the base / the best's ratio to the base, in the same round) with a
bootstrap interval.

nginx is Debian's (/usr/sbin/nginx; installed with apt-get when missing, like wrk). Each
instance runs from its own temporary directory (configuration, pid file, temp paths,
error log, the unix sockets) as `nginx -p DIR -c DIR/nginx.conf`, in the foreground, and
is stopped (QUIT, then KILL) with its server. Standard library only.
"""

import os
import shutil
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass

import stats
from benchenv import APPS, log  # first: it puts tests/frontends on sys.path

import debian  # noqa: E402 (tests/frontends)
import nginx as front  # noqa: E402 (tests/frontends)
from peers import BACKLOG, SPEC, ServerSpec, candidates, server_command
from procstat import open_connections, tree_cpu
from server import Server, free_port, server_log_path

NGINX = front.NGINX
# Idle upstream connections nginx's worker keeps per upstream: above the scenario's 100
# client connections, so that under load no answered connection is closed for want of
# room (docs/deployment.md's 16 suits a site with fewer requests in flight).
UPSTREAM_KEEPALIVE = 128
READY_PATH = "/.bench-nginx-ready"  # answered by nginx itself, with the instance's token


@dataclass(frozen=True)
class Transport:
    """One row of the group: a server (a peers.py key) behind nginx on one transport."""
    key: str
    backend: str
    transport: str  # "tcp", "unix" (HTTP), "uwsgi", "uwsgi-unix" (the uwsgi protocol)
    flag: str = ""  # the uwsgi-fast flag the row needs, as --help documents it

    @property
    def protocol(self):
        return "uwsgi" if self.transport.startswith("uwsgi") else "http"

    @property
    def unix(self):
        return self.transport.endswith("unix")

    @property
    def keepalive(self):
        """nginx keeps upstream connections alive for HTTP only (proxy_pass); uwsgi_pass
        opens one per request whatever the upstream block says."""
        return self.protocol == "http"

    @property
    def what(self):
        return {"tcp": "HTTP over TCP, upstream keep-alive",
                "unix": "HTTP over a unix socket, upstream keep-alive",
                "uwsgi": "uwsgi protocol over TCP",
                "uwsgi-unix": "uwsgi protocol over a unix socket"}[self.transport]


TRANSPORTS = [
    Transport("nginx-uwsgi-fast-tcp", "uwsgi-fast", "tcp"),
    Transport("nginx-uwsgi-fast-unix", "uwsgi-fast", "unix"),
    Transport("nginx-uwsgi-fast-uwsgi", "uwsgi-fast", "uwsgi", flag="--protocol"),
    Transport("nginx-uwsgi-fast-uwsgi-unix", "uwsgi-fast", "uwsgi-unix", flag="--protocol"),
    Transport("nginx-gunicorn-sync", "gunicorn-sync", "tcp"),
    Transport("nginx-gunicorn-gthread", "gunicorn-gthread", "tcp"),
    Transport("nginx-uwsgi-socket", "uwsgi", "uwsgi"),
    Transport("nginx-uwsgi-unix", "uwsgi", "uwsgi-unix"),
    Transport("nginx-granian", "granian", "tcp"),
]
TRANSPORT = {t.key: t for t in TRANSPORTS}
BASE_ROW = "nginx-uwsgi-fast-tcp"  # the run every other is paired with in a round
BACKEND_LABELS = {"uwsgi-fast": "uwsgi-fast", "gunicorn-sync": "gunicorn sync",
                  "gunicorn-gthread": "gunicorn gthread", "uwsgi": "uWSGI",
                  "granian": "Granian"}

# The rows are servers of their own to the rest of the harness (labels, stop grace, the
# package a row needs): registered in peers.SPEC, not in SERVER_KEYS (--servers takes
# the backends' keys and selects their rows).
for _t in TRANSPORTS:
    SPEC[_t.key] = ServerSpec(_t.key, "%s (%s)" % (BACKEND_LABELS[_t.backend], _t.what),
                              SPEC[_t.backend].package, stop_grace=SPEC[_t.backend].stop_grace)


def rows_for(server_list, uf_features, uf_error=None):
    """The rows of the group for the servers of --servers (backend keys), uwsgi-fast's
    first when it is named. Returns (keys, omitted): a row whose uwsgi-fast flag this
    binary does not document is omitted, with the reason."""
    keys, omitted = [], []
    for t in TRANSPORTS:
        if t.backend not in server_list:
            continue
        if t.flag and t.flag not in uf_features and not uf_error:
            omitted.append("%s omitted: this binary has no %s" % (SPEC[t.key].label, t.flag))
            continue
        keys.append(t.key)
    return keys, omitted


def upstream_address(t, port, sock):
    """The upstream's address as nginx spells it."""
    return "unix:%s" % sock if t.unix else "127.0.0.1:%d" % port


def backend_command(t, sc, ctx, port, sock):
    """argv and config notes of the server behind nginx on transport `t`: the server's
    command of the side-by-side scenarios (peers.server_command, its first variant) with
    its bind moved to the unix socket and the uwsgi protocol switched on where the row
    says; uWSGI listens with --socket (its uwsgi protocol), its deployment behind nginx."""
    variant = candidates(t.backend, sc)[0]
    if t.backend == "uwsgi":
        addr = sock if t.unix else "127.0.0.1:%d" % port
        argv = [os.path.join(ctx.venv_bin, "uwsgi"), "--socket", addr,
                "--processes", str(sc.workers), "--master", "--disable-logging",
                "--chdir", APPS, "--module", sc.app, "--listen", str(BACKLOG),
                "--need-app", "--die-on-term", "--ignore-sigpipe", "--ignore-write-errors",
                "--disable-write-exception"]
        return argv, ["uWSGI --socket: its workers speak the uwsgi protocol to nginx"]
    # a unix row has no port: the TCP bind server_command writes is replaced below
    argv, notes = server_command(t.backend, sc, port or 0, ctx, variant)
    argv = list(argv)
    if t.unix:
        if "-b" not in argv:
            raise ValueError("%s has no -b to move to a unix socket" % t.backend)
        argv[argv.index("-b") + 1] = "unix:" + sock
    if t.protocol == "uwsgi":
        if t.backend != "uwsgi-fast":
            raise ValueError("%s does not speak the uwsgi protocol here" % t.backend)
        argv[-1:-1] = ["--protocol", "uwsgi"]  # before the app, the last argument
    return argv, notes


def render_conf(prefix, port, t, upstream, token):
    """nginx.conf for one row: the same for every row but the upstream's address and the
    location's pass (proxy_pass with keep-alive, or uwsgi_pass)."""
    block = front.upstream([upstream], UPSTREAM_KEEPALIVE if t.keepalive else 0)
    location = front.PROXY_LOCATION if t.protocol == "http" else front.UWSGI_LOCATION
    return front.render(prefix, port, block, location, READY_PATH, token,
                        written_by="tests/bench/nginx_front.py (%s)" % t.key,
                        error_level="warn", worker_connections=4096, backlog=BACKLOG)


def ensure_nginx():
    """/usr/sbin/nginx, installing Debian's package when it is missing. Returns None, or
    why there is no nginx (the rows then say so in the table)."""
    why_not = debian.install_binary(NGINX, front.PACKAGES)
    if why_not is None and not os.access(NGINX, os.X_OK):
        why_not = "%s not found" % NGINX
    return why_not


def nginx_version():
    return front.version()


class NginxServer(Server):
    """One row: its server (self.proc, measured as the server) and the nginx in front
    (self.nginx, measured apart). self.port is nginx's: wrk, the probe and the canaries
    go through nginx."""

    def __init__(self, key, sc, ctx, log_dir, variant=None, name=None):
        self.transport = TRANSPORT[key]
        self.dir = tempfile.mkdtemp(prefix="ufb-nginx-")
        self.sock = os.path.join(self.dir, "app.sock") if self.transport.unix else None
        self.backend_port = None if self.transport.unix else free_port()
        self.nginx = None
        self.nginx_out = None
        self.token = os.urandom(8).hex()
        self.log_dir = log_dir
        try:
            super().__init__(key, sc, ctx, log_dir, variant=variant, name=name)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)  # stop() will never run
            raise

    def build_command(self, ctx):
        argv, notes = backend_command(self.transport, self.sc, ctx, self.backend_port,
                                      self.sock)
        if self.transport.backend == "gunicorn-sync":
            # the same nginx configuration, but this worker closes after every response
            notes = notes + ["gunicorn's sync worker closes every connection: nginx opens "
                             "one per request"]
        how = ("proxy_pass, upstream keepalive %d" % UPSTREAM_KEEPALIVE
               if self.transport.keepalive else "uwsgi_pass, a new connection per request")
        return argv, ["nginx: " + how] + notes

    def sidecars(self):
        return {"nginx": self.nginx.pid} if self.nginx is not None else {}

    # -- lifecycle --
    def start(self):
        super().start()
        if not self.error:
            self.start_nginx()

    def start_nginx(self):
        text = render_conf(self.dir, self.port, self.transport,
                           upstream_address(self.transport, self.backend_port, self.sock),
                           self.token)
        cmd = front.write_config(self.dir, text)
        self.nginx_argv = cmd
        refused = front.refusal(cmd)
        if refused:
            self.error = "nginx -t refused the configuration: %s" % refused[-300:]
            return
        self.nginx_out = open(server_log_path(self.log_dir, self.sc, self.name + "-nginx"),
                              "wb")
        self.nginx = front.launch(cmd, self.nginx_out)

    def nginx_errors(self):
        return front.error_log(self.dir)

    def backend_alive(self):
        return super().alive()

    def alive(self):
        return self.backend_alive() and self.nginx is not None and self.nginx.poll() is None

    def backend_accepts(self):
        try:
            if self.sock:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(1)
                    s.connect(self.sock)
            else:
                socket.create_connection(("127.0.0.1", self.backend_port), timeout=1).close()
            return True
        except OSError:
            return False

    def nginx_ready(self):
        return front.answers_token(self.port, READY_PATH, self.token)

    def wait_ready(self, deadline):
        """The server accepts on its socket, nginx answers its own token, then one
        request by hand through nginx (again while nginx answers 502: the workers may
        still be importing the app)."""
        if self.error:
            return False
        for ready, what in ((self.backend_accepts, "server not listening"),
                            (self.nginx_ready, "nginx not answering")):
            while not ready():
                if not self.backend_alive():
                    self.error = "exited at start (status %s): %s" % (
                        self.proc.returncode, self.log_tail())
                    return False
                if self.nginx.poll() is not None:
                    errs = self.nginx_errors()
                    self.error = "nginx exited at start%s: %s" % (
                        " (address already in use)" if "already in use" in errs else "",
                        errs.strip()[-300:])
                    return False
                if time.monotonic() > deadline:
                    self.error = "%s after start timeout: %s" % (what, self.log_tail())
                    return False
                time.sleep(0.05)
        while not self.probe():
            if time.monotonic() > deadline or not any(
                    "HTTP %d" % s in (self.error or "") for s in (502, 503, 504)):
                self.error = (self.error or "") + " " + self.nginx_errors().strip()[-200:]
                return False
            self.error = None
            time.sleep(0.2)
        return True

    def restart_on_new_port(self, ctx):
        """nginx's port was taken between free_port() and nginx's bind: nginx again on
        another (the server keeps running), or both when the server's was taken."""
        self.notes.append("port %d was taken at start; started again on another" % self.port)
        self.stop_nginx()
        self.error = None
        if not self.backend_alive():
            self.log.close()
            if self.backend_port is not None:
                self.backend_port = free_port()
            self.argv, _ = self.build_command(ctx)
            Server.start(self)
        self.port = free_port()
        if not self.error:
            self.start_nginx()

    def settle(self, limit):
        """As Server.settle, with nginx's CPU counted too: idle server and nginx, no
        client connection left on nginx's port."""
        end = time.monotonic() + limit
        prev = self.busy_s()
        while time.monotonic() < end:
            time.sleep(0.1)
            cur = self.busy_s()
            if cur - prev < 0.015 and open_connections(self.port) == 0:
                return True
            prev = cur
        return False

    def busy_s(self):
        return tree_cpu(self.proc.pid) + (tree_cpu(self.nginx.pid) if self.nginx else 0.0)

    def stop_nginx(self):
        if self.nginx is None:
            return
        front.stop(self.nginx, timeout=5)
        errs = self.nginx_errors()
        if errs.strip() and self.nginx_out is not None:
            self.nginx_out.write(b"--- nginx error.log ---\n" + errs.encode()[-20000:])
        if self.nginx_out is not None:
            self.nginx_out.close()
        self.nginx = None

    def _stop(self):
        # the server first, while alive() (which asks nginx too) still lists its workers
        # for the KILL of any that left its process group; then nginx
        try:
            super()._stop()
            self.stop_nginx()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Which transport: pure functions over a scenario entry of rounds.run_scenario


def round_ratios(entry, base=BASE_ROW):
    """{row: {round: req/s / req/s of the base run in its block}} over the rounds the
    entry used (each row's "rounds" holds only those); the base's own are 1.0."""
    base_rps = {}
    for row in entry["results"]:
        if row["server"] == base:
            for rep in row.get("rounds", []):
                base_rps[(rep["round"], rep["block"])] = rep["rps"]
    out = {}
    for row in entry["results"]:
        for rep in row.get("rounds", []):
            if row["server"] == base:
                out.setdefault(base, {})[rep["round"]] = 1.0
                continue
            ref = base_rps.get((rep["round"], rep["block"]))
            if ref:
                out.setdefault(row["server"], {})[rep["round"]] = rep["rps"] / ref
    return out


def relative(num, den, seed):
    """stats.ratio_summary of num[r] / den[r] over the rounds both have: the per-round
    ratio of two rows' ratios to the base, each paired with the base run next to it."""
    ratios = [num[r] / den[r] for r in sorted(num) if den.get(r)]
    return stats.ratio_summary(ratios, seed)


def choose(entry, base=BASE_ROW, seed=24):
    """Each server's best transport (highest median ratio to the base; on a tie the
    earlier in TRANSPORTS), every transport's ratio to its server's best, and every peer's
    best against uwsgi-fast's best, with bootstrap intervals."""
    ratios = round_ratios(entry, base)
    order = [t.key for t in TRANSPORTS if t.key in ratios and ratios[t.key]]
    backends = []
    for k in order:
        if TRANSPORT[k].backend not in backends:
            backends.append(TRANSPORT[k].backend)
    best = {}
    for b in backends:
        mine = [k for k in order if TRANSPORT[k].backend == b]
        best[b] = max(mine, key=lambda k: statistics.median(ratios[k].values()))
    transports = []
    for k in order:
        b = TRANSPORT[k].backend
        rs = None if k == best[b] else relative(
            ratios[k], ratios[best[b]], stats.seed_for(entry["name"], k, "best", seed=seed))
        transports.append({"server": k, "backend": b, "best": k == best[b], "vs_best": rs})
    uf = best.get("uwsgi-fast")
    versus = []
    for b in backends:
        if b == "uwsgi-fast" or not uf:
            continue
        versus.append({"backend": b, "server": best[b], "uwsgi_fast": uf,
                       "ratio": relative(ratios[best[b]], ratios[uf],
                                         stats.seed_for(entry["name"], best[b], uf,
                                                        seed=seed))})
    return {"base": base, "best": best, "transports": transports, "best_vs_best": versus}


def choice_word(t):
    """The "choose" cell of a transport: its server's best, a tie with it, or not."""
    if t["best"]:
        return "best"
    rs = t["vs_best"]
    if not rs or rs["verdict"] == "few":
        return "-"
    return "tie with best" if rs["verdict"] == "tie" else "no"
