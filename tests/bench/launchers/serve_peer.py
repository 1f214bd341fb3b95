"""Starts bjoern or FastWSGI with N worker processes, for tests/bench/run.py.

Neither server has a command line with a worker count, so this launcher gives both the
same shape as the others:  serve_peer.py {bjoern|fastwsgi} -w N -b HOST:PORT --chdir DIR
MODULE:CALLABLE.  The application is imported once, before any fork.

- bjoern is single-process. With N > 1 the launcher forks N children and each opens its
  own SO_REUSEPORT listener on the same port (the multi-process setup bjoern documents);
  the kernel spreads new connections over them.
- FastWSGI has its own multi-worker mode, fastwsgi.run(..., workers=N): it forks N
  children and each binds with SO_REUSEPORT. The launcher uses that as is.

Options the tuning step tries (tests/bench/peers.py):

- bjoern --shared-socket: the launcher binds one listening socket (bjoern.listen) and
  forks N children that all serve it, instead of one SO_REUSEPORT listener per child.
- fastwsgi --tcp-nodelay: FastWSGI's tcp_nodelay setting (Nagle's algorithm off).

The parent waits for its children and forwards SIGINT/SIGTERM to them.
"""

import argparse
import importlib
import os
import signal
import sys


def load_app(target):
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in (attr or "application").split("."):
        obj = getattr(obj, part)
    return obj


def run_bjoern(app, host, port, workers, shared_socket=False):
    import bjoern

    if workers == 1:
        bjoern.run(app, host, port, reuse_port=True)
        return 0
    if shared_socket:
        bjoern.listen(app, host, port)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                if shared_socket:
                    bjoern.run()
                else:
                    bjoern.run(app, host, port, reuse_port=True)
            except KeyboardInterrupt:
                pass
            os._exit(0)
        children.append(pid)

    def forward(signum, _frame):
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    status = 0
    for _ in children:
        _pid, st = os.wait()
        status = status or os.waitstatus_to_exitcode(st)
    return status


def run_fastwsgi(app, host, port, workers, tcp_nodelay=False):
    import fastwsgi

    if tcp_nodelay:
        fastwsgi.server.tcp_nodelay = 1
    fastwsgi.run(app, host=host, port=port, workers=workers)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("server", choices=["bjoern", "fastwsgi"])
    ap.add_argument("-w", "--workers", type=int, default=1)
    ap.add_argument("-b", "--bind", default="127.0.0.1:8000")
    ap.add_argument("--chdir")
    ap.add_argument("--shared-socket", action="store_true",
                    help="bjoern: one listening socket for every process")
    ap.add_argument("--tcp-nodelay", action="store_true", help="fastwsgi: TCP_NODELAY on")
    ap.add_argument("app")
    args = ap.parse_args()
    if args.chdir:
        os.chdir(args.chdir)
        sys.path.insert(0, args.chdir)
    host, _, port = args.bind.rpartition(":")
    app = load_app(args.app)
    print("%s: serving %s with %d worker(s) at http://%s:%s" % (
        args.server, args.app, args.workers, host, port), flush=True)
    try:
        if args.server == "bjoern":
            return run_bjoern(app, host, int(port), args.workers, args.shared_socket)
        return run_fastwsgi(app, host, int(port), args.workers, args.tcp_nodelay)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
