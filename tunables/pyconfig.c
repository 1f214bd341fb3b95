/* Runs a gunicorn.conf.py in a throw-away Python process and collects its settings as
 * TOML (see pyconfig.h). */
#include "tunables/pyconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tunables/logconfig.h"
#include "tunables/text.h"
#include "tunables/tunables.h"

/* Exit status of the script when the config file raised (its traceback is on stderr). */
#define CONFIG_RAISED  3
#define OUTPUT_MAX     (4u << 20)
#define CONFIG_TIMEOUT 30 /* seconds a config may take before it is killed */

/* The child. It keeps the real stdout for the result and points fd 1 and sys.stdout at
 * stderr while the config runs, so a print() in the config cannot corrupt the result.
 * Loading mirrors gunicorn's get_config_from_filename: a module named __config__ from
 * the file, with a source loader forced for names that do not end in .py. */
static const char script[] =
    "import importlib.machinery, importlib.util, json, math, os, sys, traceback, types\n"
    "path = sys.argv[1]\n"
    "out = os.fdopen(os.dup(1), 'w', encoding='utf-8', errors='backslashreplace')\n"
    "os.dup2(2, 1)\n"
    "sys.stdout = sys.stderr\n"
    "name = '__config__'\n"
    "try:\n"
    "    if path.endswith(('.py', '.pyc')):\n"
    "        spec = importlib.util.spec_from_file_location(name, path)\n"
    "    else:\n"
    "        loader = importlib.machinery.SourceFileLoader(name, path)\n"
    "        spec = importlib.util.spec_from_file_location(name, path, loader=loader)\n"
    "    mod = importlib.util.module_from_spec(spec)\n"
    "    sys.modules[name] = mod\n"
    "    spec.loader.exec_module(mod)\n"
    "except BaseException:\n"
    "    print('Failed to read config file: %s' % path, file=sys.stderr)\n"
    "    traceback.print_exc()\n"
    "    sys.stderr.flush()\n"
    "    os._exit(3)\n"
    "def q(s):\n"
    "    return json.dumps(s, ensure_ascii=False).replace('\\x7f', '\\\\u007f')\n"
    "lines, calls, other, refused, warned = [], [], [], [], []\n"
    "values = dict(vars(mod))\n"
    /* logconfig_dict, else logconfig_json (gunicorn's order): mapped onto our settings by
     * tunables/logconfig.c's uf_logconfig, and not written back themselves */
    "for key in ('logconfig_dict', 'logconfig_json'):\n"
    "    src = values.get(key)\n"
    "    if key == 'logconfig_json' and isinstance(src, str) and src:\n"
    "        if 'logconfig_dict' in values and values['logconfig_dict']:\n"
    "            del values[key]\n"
    "            continue\n"
    "        try:\n"
    "            with open(src) as f:\n"
    "                src = json.load(f)\n"
    "        except (OSError, ValueError) as e:\n"
    "            refused.append('logconfig_json: cannot read %s: %s' % (values.pop(key), e))\n"
    "            continue\n"
    "    if isinstance(src, dict) and src:\n"
    "        del values[key]\n"
    "        try:\n"
    "            mapped, w = uf_logconfig(src, key)\n"
    "        except UfRefused as e:\n"
    "            refused.append(str(e))\n"
    "            continue\n"
    "        values.update(mapped)\n"
    "        warned.extend(w)\n"
    "for k, v in list(values.items()):\n"
    "    if k.startswith('_') or v is None or isinstance(v, types.ModuleType):\n"
    "        continue\n"
    "    if isinstance(v, bool):\n"
    "        val = 'true' if v else 'false'\n"
    "    elif isinstance(v, int):\n"
    "        val = str(v) if -2**63 <= v < 2**63 else q(str(v))\n"
    "    elif isinstance(v, float):\n"
    "        val = repr(v) if math.isfinite(v) else q(repr(v))\n"
    "    elif isinstance(v, str):\n"
    "        val = q(v)\n"
    "    elif isinstance(v, (list, tuple)):\n"
    "        val = '[' + ', '.join(q(x if isinstance(x, str) else str(x)) for x in v) + ']'\n"
    "    elif isinstance(v, dict):\n"
    "        if not v:\n"
    "            continue\n"
    "        val = q(','.join('%s=%s' % (a, b) for a, b in v.items()))\n"
    "    elif callable(v):\n"
    "        calls.append(k)\n"
    "        continue\n"
    "    else:\n"
    "        try:\n"
    "            if len(v) == 0:\n"
    "                continue\n"
    "        except Exception:\n"
    "            pass\n"
    "        other.append('%s=%s' % (k, type(v).__name__))\n"
    "        continue\n"
    "    lines.append('%s = %s' % (q(k), val))\n"
    "lines.append('[' + q('" TUN_PYCONFIG_META "') + ']')\n"
    "lines.append('callables = [' + ', '.join(q(c) for c in calls) + ']')\n"
    "lines.append('other = [' + ', '.join(q(o) for o in other) + ']')\n"
    "lines.append('refused = [' + ', '.join(q(o) for o in refused) + ']')\n"
    "lines.append('warnings = [' + ', '.join(q(o) for o in warned) + ']')\n"
    "out.write('\\n'.join(lines) + '\\n')\n"
    "out.flush()\n";

/* Starts `python -c script path` with its stdout on a pipe; *fd is the read end. Returns
 * 0, or TUN_ERROR with err filled. */
static int spawn(const char *python, const char *path, char **envp, int *fd, pid_t *pid, char *err,
                 size_t errlen)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return tun_fail(err, errlen, "cannot read %s: pipe: %s", path, strerror(errno));

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    /* The master may block or ignore signals (SIGCHLD, SIGPIPE) before it parses a
     * reload; the child gets the defaults back. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    buf_t code = {0};
    buf_append_str(&code, tun_logconfig_py);
    buf_append(&code, script, sizeof(script)); /* with its NUL */
    char *const argv[] = {(char *)python, "-c", code.data, (char *)path, NULL};
    static char *no_env[] = {NULL};
    int rc = posix_spawnp(pid, python, &fa, &attr, argv, envp ? envp : no_env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    buf_free(&code);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return tun_fail(err, errlen, "cannot run %s to read the gunicorn config %s: %s", python,
                        path, strerror(rc));
    }
    *fd = pipefd[0];
    return 0;
}

/* Appends what the child writes on fd to out until it closes its end. A config that never
 * finishes must not hang a start, or a reload in the master: the child gets
 * CONFIG_TIMEOUT seconds, then SIGKILL. Output past OUTPUT_MAX is dropped (*too_big).
 * Returns 0, -ETIMEDOUT, or -errno of a failed read (the child is then killed too). */
static int collect(int fd, pid_t pid, buf_t *out, bool *too_big)
{
    size_t start = out->len;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left_ms = CONFIG_TIMEOUT * 1000L -
                       ((now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = left_ms > 0 ? poll(&pfd, 1, (int)left_ms) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            kill(pid, SIGKILL);
            return -ETIMEDOUT;
        }
        char *p = buf_reserve(out, 8192);
        ssize_t n = read(fd, p, 8192);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = -errno; /* before kill can overwrite it */
            kill(pid, SIGKILL);
            return e;
        }
        if (n == 0)
            return 0;
        out->len += (size_t)n;
        if (out->len - start > OUTPUT_MAX) {
            *too_big = true;
            out->len = start;
        }
    }
}

int tun_pyconfig_read(const char *python, const char *path, char **envp, buf_t *out, char *err,
                      size_t errlen)
{
    int fd;
    pid_t pid;
    if (spawn(python, path, envp, &fd, &pid, err, errlen) < 0)
        return TUN_ERROR;
    size_t start = out->len;
    bool too_big = false;
    int rc = collect(fd, pid, out, &too_big);
    close(fd);

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno == ECHILD) {
            /* SIGCHLD ignored: the child was reaped for us and its status is gone; the
             * script writes its whole result last, so output means it ran to the end */
            status = out->len > start ? 0 : 1 << 8;
            break;
        }
        if (errno != EINTR)
            return tun_fail(err, errlen, "cannot read %s: waitpid: %s", path, strerror(errno));
    }
    if (rc == -ETIMEDOUT) {
        out->len = start;
        return tun_fail(err, errlen, "the gunicorn config %s did not finish within %d seconds",
                        path, CONFIG_TIMEOUT);
    }
    if (rc < 0) {
        out->len = start;
        return tun_fail(err, errlen, "cannot read %s: read: %s", path, strerror(-rc));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == CONFIG_RAISED)
        return tun_fail(err, errlen, "the gunicorn config %s raised an exception (traceback above)",
                        path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        out->len = start;
        if (WIFSIGNALED(status))
            return tun_fail(err, errlen,
                            "%s reading the gunicorn config %s was killed by signal %d", python,
                            path, WTERMSIG(status));
        return tun_fail(err, errlen, "%s reading the gunicorn config %s exited with status %d",
                        python, path, WEXITSTATUS(status));
    }
    if (too_big)
        return tun_fail(err, errlen, "the gunicorn config %s defines more than %u MiB of settings",
                        path, OUTPUT_MAX >> 20);
    return 0;
}
