/* Reading a gunicorn.conf.py: the file is executed by a Python interpreter in a child
 * process, exactly as gunicorn executes it (a module named __config__ with __file__
 * set), and its module-level names come back as TOML text that config_file.c reads with
 * the same code as a native uwsgi-fast.toml.
 *
 * Why a child process rather than the interpreter embedded in this binary: the master
 * must not hold an initialised interpreter when it forks workers (each worker sets up
 * its own, with its own virtualenv and sys.path, and CPython cannot be finalised and
 * initialised again reliably), and a config file may run arbitrary code (imports, prints,
 * sys.exit) that must not touch the master. The child is thrown away after one read.
 *
 * The TOML it returns has one key per public module-level name whose value is a
 * string, a number, a boolean, a list/tuple (elements made strings) or a dict (made
 * "KEY=VALUE,KEY=VALUE", gunicorn's secure_scheme_headers), None and empty dicts left
 * out, plus a table ["uwsgi-fast:pyconfig"] with string arrays: `callables` (names
 * bound to functions or classes, where server hooks show up), `other` ("name=typename"
 * for values of any other type), and `refused` and `warnings`, what the mapping of
 * logconfig_dict / logconfig_json (tunables/logconfig.h, whose settings replace those
 * keys) could not honour or wants said. Names starting with "_" and modules are left out.
 */
#ifndef UF_TUNABLES_PYCONFIG_H
#define UF_TUNABLES_PYCONFIG_H

#include <stddef.h>

#include "common/mem.h"

/* The table name the metadata is written under. */
#define TUN_PYCONFIG_META "uwsgi-fast:pyconfig"

/* Runs `python` (a path, or a name looked up in PATH) on the config file `path` with the
 * environment envp, and appends the TOML text to out. Returns 0, or -1 with a one-line
 * reason in err; when the config itself raised, its traceback has gone to stderr and err
 * says so. */
int tun_pyconfig_read(const char *python, const char *path, char **envp, buf_t *out, char *err,
                      size_t errlen);

#endif
