"""Settings from every layer, through the real binary: a real gunicorn.conf.py, a
uwsgi-fast.toml, environment variables, UWSGI_FAST_CMD_ARGS and flags, as --print-config
shows them; --check-config's exit codes; refused gunicorn settings; `uwsgi-fast doctor`
against the fixture trees."""
import re
import textwrap

import pytest

from conftest import ROOT, free_port, run_binary

FIXTURES = ROOT / "tests" / "fixtures" / "doctor"

GUNICORN_CONF = textwrap.dedent("""\
    # An ordinary gunicorn.conf.py, the kind teams already have.
    import multiprocessing
    import os

    bind = ["127.0.0.1:{port}"]
    workers = multiprocessing.cpu_count() * 0 + 3
    worker_class = "sync"
    threads = 1
    timeout = 45
    graceful_timeout = 20
    keepalive = 5
    max_requests = 1000
    max_requests_jitter = 50
    loglevel = "warning"
    errorlog = "-"
    accesslog = None
    preload_app = False
    forwarded_allow_ips = "10.0.0.0/8"
    secure_scheme_headers = {{"X-FORWARDED-PROTO": "https"}}
    limit_request_line = 8190
    wsgi_app = "basic:app"
    worker_tmp_dir = "/dev/shm"

    print("gunicorn.conf.py was executed from", os.path.basename(__file__))

    def on_starting(server):
        server.log.info("starting")

    def when_ready(server):
        pass

    def ssl_context(config, default_ssl_context_factory):
        return default_ssl_context_factory()
    """)


def value_line(stdout, key):
    """The --print-config line for key, split into (value text, source)."""
    for line in stdout.splitlines():
        if line.startswith(key + " = "):
            value, _, source = line[len(key) + 3:].partition("  # ")
            return value.strip(), source.strip()
    raise AssertionError(f"--print-config has no line for {key}:\n{stdout}")


def one_line_error(res, *names):
    """The run stopped with exit status 2 and one line on stderr that names each of names."""
    assert res.returncode == 2, f"exit {res.returncode}; stdout {res.stdout!r} stderr {res.stderr!r}"
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {res.stderr!r}"
    line = lines[0]
    assert line.startswith("uwsgi-fast: "), line
    for n in names:
        assert n in line, f"{line!r} does not name {n!r}"
    return line


@pytest.fixture
def conf_dir(tmp_path):
    port = free_port()
    (tmp_path / "gunicorn.conf.py").write_text(GUNICORN_CONF.format(port=port))
    return tmp_path, port


def test_print_config_gunicorn_conf_env_and_flags(conf_dir):
    d, port = conf_dir
    res = run_binary(["--print-config", "-w", "2"], cwd=d,
                     env={"UWSGI_FAST_KEEP_ALIVE": "9", "UWSGI_FAST_CMD_ARGS": "--timeout 50 -w 7",
                          "WEB_CONCURRENCY": "11"})
    assert res.returncode == 0, res.stderr
    out = res.stdout
    # the config file was found in the working directory and executed by Python
    assert "gunicorn.conf.py was executed from gunicorn.conf.py" in res.stderr
    assert '# config = "gunicorn.conf.py"' in out
    # every layer, each where the precedence puts it
    assert value_line(out, "workers") == ("2", "command line")
    assert value_line(out, "timeout") == ("50", "UWSGI_FAST_CMD_ARGS")
    assert value_line(out, "keepalive") == ("9", "environment UWSGI_FAST_KEEP_ALIVE")
    assert value_line(out, "graceful_timeout") == ("20", "config file gunicorn.conf.py")
    assert value_line(out, "bind") == (f'["127.0.0.1:{port}"]', "config file gunicorn.conf.py")
    assert value_line(out, "wsgi_app") == ('"basic:app"', "config file gunicorn.conf.py")
    assert value_line(out, "loglevel") == ('"warning"', "config file gunicorn.conf.py")
    assert value_line(out, "max_requests_jitter") == ("50", "config file gunicorn.conf.py")
    assert value_line(out, "secure_scheme_headers") == ('"X-FORWARDED-PROTO=https"',
                                                        "config file gunicorn.conf.py")
    assert value_line(out, "ring_entries") == ("1024", "default")
    # gunicorn's accepted-without-effect settings and hooks never called are said, not hidden
    assert "# worker_tmp_dir (gunicorn.conf.py): accepted, no effect" in out
    assert ("# warning: gunicorn.conf.py: the server hook ssl_context is not called: "
            "uwsgi-fast has no TLS (terminate it at the proxy)") in out
    assert "the server hook on_starting" not in out  # called (tests/integration/test_hooks.py)


def test_env_layers_without_flags(conf_dir):
    d, _ = conf_dir
    res = run_binary(["--print-config"], cwd=d, env={"UWSGI_FAST_WORKERS": "4"})
    assert res.returncode == 0, res.stderr
    assert value_line(res.stdout, "workers") == ("4", "environment UWSGI_FAST_WORKERS")
    # the file beats gunicorn's WEB_CONCURRENCY and PORT conventions...
    res = run_binary(["--print-config"], cwd=d, env={"WEB_CONCURRENCY": "6", "PORT": "5999"})
    assert value_line(res.stdout, "workers") == ("3", "config file gunicorn.conf.py")
    # ...which beat the defaults when there is no file
    res = run_binary(["--print-config", "-c", ""], cwd=d,
                     env={"WEB_CONCURRENCY": "6", "PORT": "5999"})
    assert value_line(res.stdout, "workers") == ("6", "environment WEB_CONCURRENCY")
    assert value_line(res.stdout, "bind") == ('["0.0.0.0:5999"]', "environment PORT")
    assert "# wsgi_app is not set (required to start)" in res.stdout


def test_toml_config_and_print_config_round_trip(tmp_path):
    toml = tmp_path / "uwsgi-fast.toml"
    toml.write_text(textwrap.dedent("""\
        # uwsgi-fast's native format
        wsgi_app = "basic:app"

        [workers]
        workers = "auto"
        timeout = 12.5
        max_requests = 5_000

        [socket]
        bind = [
          "127.0.0.1:7001",
          "[::1]:7002",  # IPv6 too
        ]
        """))
    res = run_binary(["--print-config"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    value, source = value_line(res.stdout, "workers")
    assert value == '"auto"' and source.startswith("config file uwsgi-fast.toml:5")
    assert value_line(res.stdout, "timeout") == ("12.5", "config file uwsgi-fast.toml:6")
    assert value_line(res.stdout, "max_requests") == ("5000", "config file uwsgi-fast.toml:7")
    assert value_line(res.stdout, "bind")[0] == '["127.0.0.1:7001", "[::1]:7002"]'
    # the printed configuration is itself a valid config that gives the same values
    printed = tmp_path / "printed.toml"
    printed.write_text(res.stdout)
    again = run_binary(["--print-config", "-c", str(printed)], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    strip = lambda text: [re.sub(r"\s+#.*$", "", l) for l in text.splitlines()
                          if l and not l.startswith("#")]
    assert strip(again.stdout) == strip(res.stdout)


def test_check_config_exit_codes(conf_dir, tmp_path):
    d, _ = conf_dir
    res = run_binary(["--check-config"], cwd=d)
    assert res.returncode == 0, res.stderr
    assert "uwsgi-fast: the configuration is valid; config file: gunicorn.conf.py" in res.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text('wsgi_app = "basic:app"\nworkers = "lots"\n')
    line = one_line_error(run_binary(["--check-config", "-c", str(bad)]), "bad.toml:2",
                          "workers", '"lots"', "1 to 4096, or auto")
    assert line.endswith("(accepted: 1 to 4096, or auto)")

    bad.write_text("wrokers = 3\n")
    one_line_error(run_binary(["--check-config", "-c", str(bad), "basic:app"]),
                   "bad.toml:1", "did you mean workers?")

    # a bad value on the command line, and no application at all
    one_line_error(run_binary(["--check-config", "-c", "", "--backlog", "0", "basic:app"]),
                   "--backlog", "1 to 65535")
    one_line_error(run_binary(["--check-config", "-c", ""]), "no application")


def test_refused_gunicorn_settings(tmp_path):
    one_line_error(run_binary(["--forwarder-headers", "X-Foo", "basic:app"]),
                   "--forwarder-headers", "not supported yet", "remove it")
    one_line_error(run_binary(["--threads", "0", "basic:app"]), "--threads", "1 to 256")
    one_line_error(run_binary(["-k", "gevent", "basic:app"]), "--worker-class", "sync")
    one_line_error(run_binary(["--certfile", "c.pem", "basic:app"]), "--certfile", "TLS")
    one_line_error(run_binary(["basic:app"], env={"UWSGI_FAST_CMD_ARGS": "--daemon"}),
                   "UWSGI_FAST_CMD_ARGS", "--daemon")
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text('http_protocols = "h2"\n')
    one_line_error(run_binary(["basic:app"], cwd=tmp_path), "gunicorn.conf.py", "http_protocols")
    # the values that ask for nothing are accepted, and --reuse-port is a no-op
    res = run_binary(["--check-config", "-c", "", "--threads", "1", "-k", "sync",
                      "--reuse-port", "basic:app"])
    assert res.returncode == 0, res.stderr


def test_unknown_flag_names_the_closest(tmp_path):
    one_line_error(run_binary(["--wokers", "2", "basic:app"]), "--wokers",
                   "did you mean --workers?")
    one_line_error(run_binary(["basic:app"], env={"UWSGI_FAST_CMD_ARGS": "--max-request 5"}),
                   "UWSGI_FAST_CMD_ARGS", "did you mean --max-requests?")


def test_config_that_raises_stops_with_its_traceback(tmp_path):
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("workers = 2\nraise RuntimeError('config-boom-sentinel')\n")
    res = run_binary(["basic:app"], cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" in res.stderr and "config-boom-sentinel" in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "uwsgi-fast: the gunicorn config gunicorn.conf.py raised an exception (traceback above)")


def test_server_runs_from_gunicorn_conf(server, tmp_path):
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("workers = 2\ntimeout = 40\nkeepalive = 3\nloglevel = 'info'\n"
                    "def on_starting(server):\n    server.log.info('on_starting ran')\n")
    srv = server("basic:app", workers=2, args=["-c", str(conf)])
    resp = srv.request("GET", "/")
    assert resp.status == 200
    assert "on_starting ran" in srv.log()


@pytest.mark.parametrize("case, engine, status, lines", [
    ("epyc-2s", "auto", 0, ["NUMA node 3: CPUs 48-63,112-127", "--workers auto: 128 workers",
                            "Nothing blocks uwsgi-fast"]),
    ("container-uring-off", "io_uring", 1, ["BLOCKS  kernel.io_uring_disabled = 2",
                                            "fix: sysctl -w kernel.io_uring_disabled=0",
                                            "1 problem blocks uwsgi-fast"]),
    ("container-uring-off", "auto", 0, ["warn    kernel.io_uring_disabled = 2",
                                        "fix: sysctl -w kernel.io_uring_disabled=0",
                                        "engine: epoll (--engine auto falls back",
                                        "Nothing blocks uwsgi-fast"]),
    ("cgroup-limited", "auto", 0, ["--workers auto: 3 workers (limited by memory; 4 usable CPUs)",
                                   "fix: sysctl -w net.core.somaxconn=2048"]),
])
def test_doctor_fixtures(case, engine, status, lines):
    res = run_binary(["doctor", "--root", str(FIXTURES / case), "-c", "", "--workers", "auto",
                      "--engine", engine])
    assert res.returncode == status, res.stdout + res.stderr
    for line in lines:
        assert line in res.stdout, f"doctor output lacks {line!r}:\n{res.stdout}"


def test_doctor_usage_errors():
    res = run_binary(["doctor", "--root"])
    assert res.returncode == 2
    assert res.stderr.strip() == "uwsgi-fast doctor: --root needs a directory"
    res = run_binary(["doctor", "--root", str(FIXTURES / "epyc-2s"), "-k", "gevent"])
    assert res.returncode == 2
    assert '-k/--worker-class: "gevent" is not served here' in res.stderr


# gunicorn's own, not settings a user writes: its CLI actions (ours are options too) and
# the process name gunicorn derives from the application
NOT_USER_SETTINGS = {"check_config", "print_config", "default_proc_name"}


def test_every_gunicorn_27_setting_is_known():
    """Each of gunicorn 27's 120 settings is supported, refused with a reason, accepted
    without effect, or a hook we name: none is an unknown option on the command line and
    none is passed over without a word in docs/settings.md."""
    rows = [ln.split() for ln in (ROOT / "tests" / "fixtures" / "gunicorn-27.0.1-settings.txt")
            .read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(rows) == 120
    settings_md = run_binary(["--print-settings-markdown"]).stdout
    for name, *flags in rows:
        if name in NOT_USER_SETTINGS:
            continue
        assert f"`{name}`" in settings_md, f"{name} is not in docs/settings.md"
        for flag in flags:
            if not flag.startswith("--"):
                continue
            r = run_binary([flag, "1", "--check-config", "x:app"])
            assert "unknown option" not in r.stderr, (flag, r.stderr)
