"""The container examples held to what the server really does, with no container runtime
and no cluster: examples/kubernetes' manifests and examples/container's Dockerfile are
parsed and compared with each other and with the real binary (started with the
manifest's own args on loopback, its probes answered), and examples/container's seccomp
allowlist is applied for real around the server, as a runtime would apply it.
"""
import importlib.machinery
import json
import os
import re
import types
import shlex
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import (EXAMPLES, ROOT, START_TIMEOUT, VENV, clean_env, free_port,
                      require_binary, wait_until)
from seccomp_filter import allow_only, profile_allowlist, x86_64_numbers

KUBE = EXAMPLES / "kubernetes"
CONTAINER = EXAMPLES / "container"
DEPLOYMENT = KUBE / "deployment.yaml"
IO_URING_PATCH = KUBE / "seccomp-io-uring-patch.yaml"
DOCKERFILE = CONTAINER / "Dockerfile"
DOCKERIGNORE = CONTAINER / "Dockerfile.dockerignore"
PROFILE = CONTAINER / "seccomp-io-uring.json"
IO_URING_CALLS = {"io_uring_setup", "io_uring_enter", "io_uring_register"}
# what the master itself answers on --stats-bind (docs/observability.md, "Metrics")
MASTER_PATHS = {"/health", "/ready"}
GRACEFUL_TIMEOUT_DEFAULT = 30.0        # tunables/table.h's, when the args leave it out
MEMORY_RESERVE_DEFAULT_MB = 256


# ---- reading the examples ---------------------------------------------------------------

def documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def of_kind(kind):
    found = [d for d in documents(DEPLOYMENT) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in {DEPLOYMENT}, found {len(found)}"
    return found[0]


def pod_spec():
    return of_kind("Deployment")["spec"]["template"]["spec"]


def app_container():
    containers = pod_spec()["containers"]
    assert len(containers) == 1, "the example has one container, the server"
    return containers[0]


def flag(args, name, default=None):
    """The value of --name in an argument list (`--name VALUE` or `--name=VALUE`)."""
    for i, a in enumerate(args):
        if a == name:
            return args[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return default


def port_of(address):
    return int(address.rpartition(":")[2])


def probes(container):
    """{probe kind: (container port number, path)} with named ports resolved."""
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    out = {}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        if kind in container:
            get = container[kind]["httpGet"]
            out[kind] = (named.get(get["port"], get["port"]), get["path"])
    return out


def quantity_bytes(text):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    m = re.fullmatch(r"(\d+)([KMG]i?)?", str(text))
    assert m, f"unexpected memory quantity {text!r}"
    return int(m.group(1)) * units.get(m.group(2), 1)


def dockerfile_stages():
    """[(stage name or None, [(INSTRUCTION, rest)])], continuation lines joined."""
    stages, logical, current = [], [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue                      # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    for text in logical:
        word, _, rest = text.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.search(r"\s+AS\s+(\S+)\s*$", rest, re.IGNORECASE)
            stages.append((m.group(1) if m else None, []))
        assert stages, f"{DOCKERFILE}: {word} before the first FROM"
        stages[-1][1].append((word, rest.strip()))
    return stages


def instructions(stage, word):
    return [rest for w, rest in stage[1] if w == word]


# ---- the Kubernetes manifests ---------------------------------------------------------

def test_probes_point_at_paths_the_server_answers_in_c():
    c = app_container()
    args = c["args"]
    app_port = port_of(flag(args, "--bind"))
    in_c = {(app_port, flag(args, p)) for p in ("--health-path", "--ready-path") if flag(args, p)}
    stats = flag(args, "--stats-bind")
    if stats:
        in_c |= {(port_of(stats), p) for p in MASTER_PATHS}
        in_c |= {(port_of(stats), path) for _, path in list(in_c)}
    found = probes(c)
    assert {"livenessProbe", "readinessProbe"} <= set(found), found
    for kind, target in found.items():
        assert target in in_c, (f"{kind} asks for {target}, which the application would "
                                f"answer, not the server (answered in C: {sorted(in_c)})")
    assert found["livenessProbe"][0] == app_port, "liveness should prove the workers answer"
    declared = {p["containerPort"] for p in c["ports"]}
    assert {app_port} | ({port_of(stats)} if stats else set()) <= declared


def test_manifest_args_start_the_real_server_and_its_probes_answer(tmp_path):
    """The container's args exactly, but on loopback and free ports: the binary takes
    them, every probe gets 200, the application answers, and TERM ends it with 0."""
    c = app_container()
    ports = {}

    def loopback(arg):
        m = re.fullmatch(r"0\.0\.0\.0:(\d+)", arg)
        if not m:
            return arg
        ports[int(m.group(1))] = free_port()
        return f"127.0.0.1:{ports[int(m.group(1))]}"

    args = [loopback(a) for a in c["args"]]
    assert len(ports) == 2, f"expected the app and stats binds on 0.0.0.0: {c['args']}"
    log = tmp_path / "server.log"
    # the image's working directory holds examples/flask_app.py, and VIRTUAL_ENV names
    # its virtualenv (examples/container/Dockerfile)
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(require_binary()), *args], cwd=EXAMPLES,
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=clean_env({"VIRTUAL_ENV": str(VENV)}))
    try:
        def status(port, path):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
            except OSError:
                return None

        for kind, (port, path) in probes(c).items():
            got = wait_until(lambda: status(ports[port], path) == 200 or proc.poll() is not None,
                             START_TIMEOUT, 0.1)
            assert got and proc.poll() is None, (
                f"{kind} {path} on {port}: {status(ports[port], path)}\n{log.read_text()}")
        assert status(ports[port_of(flag(c["args"], "--bind"))], "/") == 200, log.read_text()
        proc.send_signal(signal.SIGTERM)
        grace = float(flag(c["args"], "--graceful-timeout", GRACEFUL_TIMEOUT_DEFAULT))
        assert proc.wait(timeout=grace + 5) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)   # its session: the master and workers
            proc.wait(timeout=5)
    text = log.read_text()
    assert "Traceback" not in text and "CRITICAL" not in text, text


def test_the_grace_period_covers_prestop_and_the_drain():
    spec, c = pod_spec(), app_container()
    grace = spec["terminationGracePeriodSeconds"]
    drain = float(flag(c["args"], "--graceful-timeout", GRACEFUL_TIMEOUT_DEFAULT))
    pre = c["lifecycle"]["preStop"]
    if "sleep" in pre:
        pause = float(pre["sleep"]["seconds"])
    else:
        command = pre["exec"]["command"]
        assert command[0] == "sleep" and len(command) == 2, command
        pause = float(command[1])
    assert pause >= 2, "too short for endpoints to be removed before TERM"
    assert grace > drain + pause, (f"terminationGracePeriodSeconds {grace} must exceed "
                                   f"preStop {pause} s + --graceful-timeout {drain} s")


def test_resources_give_workers_auto_a_budget():
    c = app_container()
    assert flag(c["args"], "--workers") == "auto"
    res = c["resources"]
    for part in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(res[part]), f"resources.{part}: {res[part]}"
    reserve = int(flag(c["args"], "--memory-reserve", MEMORY_RESERVE_DEFAULT_MB)) << 20
    budget = quantity_bytes(res["limits"]["memory"]) - reserve
    assert budget >= 256 << 20, "the memory limit minus --memory-reserve leaves no room"


def test_service_and_selector_match_the_pods():
    deploy, svc = of_kind("Deployment"), of_kind("Service")
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    names = {p["name"] for p in app_container()["ports"]}
    for port in svc["spec"]["ports"]:
        assert port["targetPort"] in names | {8000}, port


def test_seccomp_runtime_default_and_the_io_uring_variant():
    spec = pod_spec()
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    patch = documents(IO_URING_PATCH)[0]
    profile = patch["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]
    assert profile["type"] == "Localhost"
    assert profile["localhostProfile"].rpartition("/")[2] == PROFILE.name
    assert PROFILE.is_file()


GENERIC_UNISTD = Path("/usr/include/asm-generic/unistd.h")   # arm64's table


def derive_seccomp():
    loader = importlib.machinery.SourceFileLoader("derive_seccomp",
                                                  str(CONTAINER / "derive-seccomp"))
    module = types.ModuleType(loader.name)
    module.__file__ = loader.path
    loader.exec_module(module)
    return module


def test_seccomp_profile_serves_arm64_too():
    """The profile is traced on x86_64; on arm64 the same server makes the generic
    table's calls instead of x86_64's legacy ones. Every allowed call exists in arm64's
    table or has its arm64 form allowed too, and the profile names both architectures
    (a name one of them lacks is skipped by the runtime)."""
    if not GENERIC_UNISTD.is_file():
        pytest.skip("needs asm-generic/unistd.h (linux-libc-dev)")
    generic = set(re.findall(r"^#define __NR_(\w+)\s", GENERIC_UNISTD.read_text(), re.M))
    generic.discard("syscalls")
    assert {"openat", "epoll_pwait", "ppoll", "dup3"} <= generic   # the header parsed
    profile, names = profile_allowlist(PROFILE)
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]
    forms = derive_seccomp().ARM64_FOR
    missing = {}
    for name in set(names) - generic:
        assert name in forms, f"{name}: neither in arm64's table nor mapped to its form"
        if forms[name] is not None and forms[name] not in names:
            missing[name] = forms[name]
    assert not missing, f"arm64 forms not allowed: {missing}"
    assert all(form is None or form in generic for form in forms.values()), \
        {k: v for k, v in forms.items() if v and v not in generic}


# ---- the Dockerfile --------------------------------------------------------------------

def test_dockerfile_is_multi_stage_non_root_pid1_with_the_manifests_flags():
    stages = dockerfile_stages()
    assert len(stages) >= 2 and stages[0][0] == "build", [s[0] for s in stages]
    runtime = stages[-1]
    copies = instructions(runtime, "COPY")
    assert any(c.startswith("--from=build ") and c.endswith(" /usr/local/bin/uwsgi-fast")
               for c in copies), copies

    users = instructions(runtime, "USER")
    assert users, "the runtime stage sets no USER: the server would run as root"
    uid = users[-1].split(":")[0]
    assert uid not in ("root", "0") and uid.isdigit(), users[-1]
    assert int(uid) == pod_spec()["securityContext"]["runAsUser"]

    (entrypoint,) = instructions(runtime, "ENTRYPOINT")
    (cmd,) = instructions(runtime, "CMD")
    # exec form: a JSON array, so the server is PID 1 and not a child of /bin/sh
    assert json.loads(entrypoint) == ["/usr/local/bin/uwsgi-fast"], entrypoint
    assert isinstance(json.loads(cmd), list), cmd
    assert json.loads(cmd) == app_container()["args"], (
        "the Dockerfile's CMD and the Deployment's args have drifted apart")
    exposed = {int(p) for e in instructions(runtime, "EXPOSE") for p in e.split()}
    assert {p["containerPort"] for p in app_container()["ports"]} <= exposed


def test_dockerfile_runtime_carries_the_libpython_the_binary_links():
    """The binary links libpython dynamically, so the runtime stage must install one, of
    the Python the virtualenv was made with (a RUN in the runtime stage checks that)."""
    ldd = subprocess.run(["ldd", str(require_binary())], capture_output=True, text=True,
                         timeout=10)
    assert re.search(r"libpython3\.\d+\.so", ldd.stdout), ldd.stdout
    runtime = dockerfile_stages()[-1]
    runs = " ".join(instructions(runtime, "RUN"))
    assert re.search(r"\blibpython3\.\d+\b", runs), "the runtime stage installs no libpython"
    assert "ldd /usr/local/bin/uwsgi-fast" in runs, "nothing checks the libpython at build"
    assert any(c.startswith("--from=venv ") for c in instructions(runtime, "COPY"))


def test_dockerignore_lets_through_what_the_build_copies():
    """The ignore file is an allowlist: every COPY source must be on it, every entry must
    exist, and the folders build.zig compiles must all be there."""
    allowed = [line[1:].rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
               if line.startswith("!")]
    for entry in allowed:
        assert (ROOT / entry).exists(), f"{DOCKERIGNORE.name} lets through a missing {entry}"

    def passes(path):
        return any(path == a or path.startswith(a + "/") for a in allowed)

    for _, body in dockerfile_stages():
        for word, rest in body:
            if word != "COPY" or rest.startswith("--from="):
                continue
            *sources, _ = shlex.split(rest)
            for src in sources:
                assert src == "." or passes(src), f"COPY {src}: ignored by {DOCKERIGNORE.name}"
    folders = re.findall(r'\.folder = "(\w+)"', (ROOT / "build.zig").read_text())
    assert folders and all(passes(f) for f in folders), folders


# ---- the seccomp profile, applied --------------------------------------------------------

def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("without,engine", [((), "io_uring"), (IO_URING_CALLS, "epoll")])
def test_seccomp_profile_applied_serves_flask(server, without, engine):
    """examples/container/seccomp-io-uring.json, made a filter (everything else EPERM, as
    its defaultAction says): a Flask application is served on io_uring, with reloads. The
    same allowlist without the io_uring calls falls back to epoll: the filter is live."""
    numbers = x86_64_numbers()
    if numbers is None:
        pytest.skip("the profile is x86_64's, and needs asm/unistd_64.h to be rebuilt")
    profile, names = profile_allowlist(PROFILE)
    assert "SCMP_ARCH_X86_64" in profile["architectures"]
    unknown = sorted(set(names) - set(numbers))
    assert not unknown, f"not x86_64 system calls: {unknown}"
    assert IO_URING_CALLS <= set(names)
    assert len(names) == len(set(names)), "a call listed twice"

    stats_port = free_port()
    allowed = [numbers[n] for n in names if n not in without]
    srv = server("flask_app:app", workers=2, probe="/api/items",
                 args=["--virtualenv", str(VENV), "--engine", "auto",
                       "--stats-bind", f"127.0.0.1:{stats_port}"],
                 preexec_fn=allow_only(allowed))
    assert stats(stats_port)["engine"] == engine, srv.log()
    for i in range(20):
        resp = srv.request("POST", "/api/sum", body=json.dumps({"numbers": [i, 2, 3]}),
                           headers={"Content-Type": "application/json"})
        assert resp.status == 200 and resp.json()["sum"] == i + 5, resp
    # a reload forks new workers and imports the application again under the filter
    old = set(srv.wait_workers(2))
    srv.send_signal(signal.SIGHUP)
    srv.wait_workers(2, exclude=old)
    wait_until(lambda: not set(srv.worker_pids()) & old, 10)
    assert srv.request("GET", "/api/items").status == 200
    log = srv.log()
    if engine == "io_uring":
        assert "cannot be used" not in log and "Engine: io_uring (--engine auto)" in log, log
    else:
        assert "io_uring cannot be used" in log and "seccomp" in log, log
    # nothing else the server or Flask does was refused: the two lines that say so are
    # the fallback's (io_uring_setup) and the steering program's (bpf, left out of the
    # profile on purpose)
    expected = ("io_uring cannot be used", "Steering to idle workers is off")
    refused = [line for line in log.splitlines() if "Operation not permitted" in line
               and not any(e in line for e in expected)]
    assert not refused and "Traceback" not in log, log
    assert srv.stop() == 0


def exercise(srv):
    resp = srv.request("GET", "/exercise", timeout=60)
    assert resp.status == 200, resp
    return resp.json()


def test_stdlib_exercise_without_a_filter(server):
    """What examples/container/derive-seccomp traces besides the suite's applications:
    an ordinary application's use of the standard library (apps/stdlib_app.py)."""
    srv = server("stdlib_app:app")
    results = exercise(srv)
    assert set(results.values()) == {"ok"}, results


def test_seccomp_profile_covers_the_stdlib_exercise(server):
    """The same, under the profile: files, SQLite, subprocesses, sockets, threads ...
    are all allowed."""
    numbers = x86_64_numbers()
    if numbers is None:
        pytest.skip("the profile is x86_64's, and needs asm/unistd_64.h to be rebuilt")
    _, names = profile_allowlist(PROFILE)
    srv = server("stdlib_app:app",
                 preexec_fn=allow_only([numbers[n] for n in names]))
    results = exercise(srv)
    assert set(results.values()) == {"ok"}, results
