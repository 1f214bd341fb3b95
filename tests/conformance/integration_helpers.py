"""The integration suite's helpers (tests/integration/conftest.py), for the conformance
harness: the Server class, connect, read_response and friends, written once there.

Imported by file path rather than as `conftest`: with two folders on sys.path, which
module answers to the name `conftest` depends on the order pytest loaded them. When
pytest has already loaded that file (tests/integration collected in the same run) its
module object is reused, so exception classes are the same objects everywhere.
"""
import importlib.util
import sys
from pathlib import Path

PATH = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"


def _load():
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if f and Path(f).resolve() == PATH:
            return mod
    spec = importlib.util.spec_from_file_location("uf_integration_conftest", PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


_mod = _load()
ConnectionClosed = _mod.ConnectionClosed
Server = _mod.Server
connect = _mod.connect
read_response = _mod.read_response
expect_eof = _mod.expect_eof
build_request = _mod.build_request
free_port = _mod.free_port
wait_until = _mod.wait_until
start_server = _mod._start
teardown_servers = _mod._teardown
