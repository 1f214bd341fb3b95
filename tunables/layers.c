/* Layers: tun_parse, which gives every setting its value from the highest layer that has
 * one, and the life cycle of tun_config_t (see layers.h and tunables.h). */
#include "tunables/layers.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/probes.h"
#include "tunables/cli.h"
#include "tunables/config_file.h"
#include "tunables/print.h"
#include "tunables/text.h"
#include "tunables/values.h"

const char *tun_env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

void tun_list_add(char ***items, size_t *count, char *line)
{
    *items = uf_realloc(*items, (*count + 1) * sizeof(char *));
    (*items)[(*count)++] = line;
}

void tun_add_warning(tun_config_t *cfg, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    tun_list_add(&cfg->warnings, &cfg->warning_count, uf_strdup(line));
}

/* Gives setting s its value from the config file entry. Arrays feed list settings one
 * element at a time; for any other setting an array is refused, not flattened. */
static int apply_file(tun_parse_state_t *ps, const tun_setting_t *s, const tun_file_value_t *fv)
{
    char who[PATH_MAX + 128], flag[96];
    tun_flag_name(s, flag, sizeof(flag));
    if (fv->line)
        snprintf(who, sizeof(who), "%s:%d: %s (%s)", ps->file_name, fv->line, s->key, flag);
    else
        snprintf(who, sizeof(who), "%s: %s (%s)", ps->file_name, s->key, flag);
    const toml_value_t *v = fv->value;
    if (v->type != TOML_ARRAY)
        return tun_set_value(s, ps->cfg, v->text, who, ps->err, ps->errlen);
    if (s->type != TUN_T_PATHS && s->type != TUN_T_BINDS) {
        buf_t acc = {0};
        tun_describe_accepted(s, &acc);
        tun_fail(ps->err, ps->errlen, "%s: a list is not accepted (accepted: %s)", who,
                 tun_buf_cstr(&acc));
        buf_free(&acc);
        return TUN_ERROR;
    }
    for (size_t k = 0; k < v->count; k++)
        if (tun_set_value(s, ps->cfg, v->items[k], who, ps->err, ps->errlen) < 0)
            return TUN_ERROR;
    if (s->type == TUN_T_BINDS && ps->cfg->bind_count == 0)
        return tun_fail_value(s, who, "[]", "is not an address", ps->err, ps->errlen);
    return 0;
}

/* Gives a setting that neither the command line nor UWSGI_FAST_CMD_ARGS sets its value from
 * the highest layer below them that has one: UWSGI_FAST_<NAME>, the config file, the
 * compat variable, the default. An empty variable counts as unset, as shells and container
 * specs often leave them. */
static int apply_below_args(tun_parse_state_t *ps, int idx)
{
    const tun_setting_t *s = &tun_settings[idx];
    tun_config_t *cfg = ps->cfg;
    tun_source_t *src = &ps->src->s[idx];
    char flag[96], who[192];
    tun_flag_name(s, flag, sizeof(flag));

    const char *v = tun_env_get(ps->envp, s->env);
    if (v && *v) {
        src->layer = TUN_L_ENV;
        snprintf(src->where, sizeof(src->where), "%s", s->env);
        snprintf(who, sizeof(who), "%s (%s)", s->env, flag);
        return tun_set_value(s, cfg, v, who, ps->err, ps->errlen);
    }
    if (ps->file[idx].value) {
        src->layer = TUN_L_FILE;
        if (ps->file[idx].line)
            snprintf(src->where, sizeof(src->where), "%s:%d", ps->file_name, ps->file[idx].line);
        else
            snprintf(src->where, sizeof(src->where), "%s", ps->file_name);
        return apply_file(ps, s, &ps->file[idx]);
    }
    if (s->compat_env && (v = tun_env_get(ps->envp, s->compat_env)) && *v) {
        buf_t value = {0};
        src->layer = TUN_L_COMPAT;
        snprintf(src->where, sizeof(src->where), "%s", s->compat_env);
        tun_substitute(&value, s->compat_fmt, v);
        snprintf(who, sizeof(who), "%s (%s)", s->compat_env, flag);
        int rc = tun_set_value(s, cfg, tun_buf_cstr(&value), who, ps->err, ps->errlen);
        buf_free(&value);
        return rc;
    }
    src->layer = TUN_L_DEFAULT;
    if (s->flags & TUN_F_CPUS) {
        int n = tun_usable_cpus();
        *(int *)tun_field(s, cfg) = n < s->min ? (int)s->min : n > s->max ? (int)s->max : n;
        snprintf(src->where, sizeof(src->where), "usable CPUs");
        return 0;
    }
    if (s->def) {
        snprintf(who, sizeof(who), "default of %s", flag);
        return tun_set_value(s, cfg, s->def, who, ps->err, ps->errlen);
    }
    return 0;
}

/* Applies one argument layer's values for every setting that layer sets, in argument
 * order. A list named in the layer replaces whatever a lower layer gave it. */
static int apply_args(tun_parse_state_t *ps, enum tun_layer layer, const tun_arg_value_t *vals,
                      size_t n, const bool *owned)
{
    for (size_t k = 0; k < n; k++) {
        int idx = vals[k].setting;
        const tun_setting_t *s = &tun_settings[idx];
        if (!owned[idx] || (s->flags & TUN_F_CONFIG))
            continue;
        tun_source_t *src = &ps->src->s[idx];
        char who[160];
        if (layer == TUN_L_CLI)
            tun_flag_name(s, who, sizeof(who));
        else {
            char flag[96];
            tun_flag_name(s, flag, sizeof(flag));
            snprintf(who, sizeof(who), TUN_CMD_ARGS_ENV " (%s)", flag);
        }
        if (src->layer != layer && (s->type == TUN_T_PATHS || s->type == TUN_T_BINDS))
            tun_clear_list(s, ps->cfg);
        src->layer = layer;
        snprintf(src->where, sizeof(src->where), "%s",
                 layer == TUN_L_CLI ? "command line" : TUN_CMD_ARGS_ENV);
        if (tun_set_value(s, ps->cfg, vals[k].value, who, ps->err, ps->errlen) < 0)
            return TUN_ERROR;
    }
    return 0;
}

/* Two listeners on one address would fail at bind() in the master with a bare EADDRINUSE;
 * naming both specs here says which flags to fix. */
static int check_binds(const tun_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->bind_count; i++)
        for (size_t j = i + 1; j < cfg->bind_count; j++) {
            const tun_bind_t *a = &cfg->binds[i], *b = &cfg->binds[j];
            bool same = a->kind == b->kind &&
                        (a->kind == TUN_BIND_FD ? a->fd == b->fd
                                                : a->addrlen == b->addrlen &&
                                                      memcmp(&a->addr, &b->addr, a->addrlen) == 0);
            if (same)
                return tun_fail(err, errlen, "--bind: \"%s\" and \"%s\" are the same address",
                                a->spec, b->spec);
        }
    return 0;
}

/* --reload-engine names one of gunicorn's engines; --reload with --preload is refused:
 * the workers are forked from the master's one import, so a replaced worker would run
 * the old code again (gunicorn calls the two incompatible and runs that loop silently). */
static int check_reload(const tun_config_t *cfg, char *err, size_t errlen)
{
    const char *e = cfg->reload_engine ? cfg->reload_engine : "auto";
    if (strcmp(e, "auto") != 0 && strcmp(e, "inotify") != 0 && strcmp(e, "poll") != 0)
        return tun_fail(err, errlen,
                        "--reload-engine: \"%.*s\" is not an engine (accepted: auto, inotify or "
                        "poll)",
                        TUN_SHOWN(e));
    if (cfg->reload && cfg->preload)
        return tun_fail(err, errlen,
                        "--reload does not work with --preload: every worker is forked from the "
                        "master's import and would run the old code again; drop --preload while "
                        "developing");
    return 0;
}

/* --engine names one of the engines. */
static int check_engine(const tun_config_t *cfg, char *err, size_t errlen)
{
    const char *e = cfg->engine ? cfg->engine : "auto";
    if (strcmp(e, "auto") != 0 && strcmp(e, "io_uring") != 0 && strcmp(e, "epoll") != 0)
        return tun_fail(err, errlen,
                        "--engine: \"%.*s\" is not an engine (accepted: auto, io_uring or epoll)",
                        TUN_SHOWN(e));
    return 0;
}

/* One of the words a setting accepts, or NULL. */
static bool one_of(const char *v, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(v, *words) == 0)
            return true;
    return false;
}

/* -k/--worker-class names gunicorn's two WSGI classes or an ASGI worker (ours, gunicorn
 * 25's "asgi", uvicorn's and uvicorn-worker's); --interface, --loop and --lifespan name
 * their words; the two together say how the application is called (enum tun_interface).
 * An ASGI worker class with --interface wsgi asks for both: refused. */
static int check_asgi(tun_config_t *cfg, char *err, size_t errlen)
{
    static const char *const wsgi_classes[] = {"sync", "gthread",
                                               "gunicorn.workers.sync.SyncWorker",
                                               "gunicorn.workers.gthread.ThreadWorker", NULL};
    static const char *const asgi_classes[] = {"asgi",
                                               "uvicorn.workers.UvicornWorker",
                                               "uvicorn_worker.UvicornWorker",
                                               "uvicorn.workers.UvicornH11Worker",
                                               "uvicorn_worker.UvicornH11Worker",
                                               NULL};
    static const char *const interfaces[] = {"auto", "wsgi", "asgi", NULL};
    static const char *const loops[] = {"auto", "asyncio", "uvloop", NULL};
    static const char *const lifespans[] = {"auto", "on", "off", NULL};
    const char *k = cfg->worker_class ? cfg->worker_class : "sync";
    const char *i = cfg->interface ? cfg->interface : "auto";
    bool asgi_class = one_of(k, asgi_classes);
    if (!asgi_class && !one_of(k, wsgi_classes))
        return tun_fail(
            err, errlen,
            "-k/--worker-class: \"%.*s\" is not served here (accepted: sync or gthread "
            "for WSGI, asgi or uvicorn.workers.UvicornWorker for ASGI; gevent, eventlet "
            "and tornado workers are not needed: the workers are io_uring loops)",
            TUN_SHOWN(k));
    if (!one_of(i, interfaces))
        return tun_fail(err, errlen,
                        "--interface: \"%.*s\" is not an interface (accepted: auto, wsgi or asgi)",
                        TUN_SHOWN(i));
    if (cfg->asgi_loop && !one_of(cfg->asgi_loop, loops))
        return tun_fail(err, errlen,
                        "--loop: \"%.*s\" is not an event loop (accepted: auto, asyncio or uvloop)",
                        TUN_SHOWN(cfg->asgi_loop));
    if (cfg->asgi_lifespan && !one_of(cfg->asgi_lifespan, lifespans))
        return tun_fail(err, errlen, "--lifespan: \"%.*s\" is not accepted (auto, on or off)",
                        TUN_SHOWN(cfg->asgi_lifespan));
    if (asgi_class && strcmp(i, "wsgi") == 0)
        return tun_fail(err, errlen,
                        "--interface wsgi contradicts -k/--worker-class %s, which serves ASGI; "
                        "drop one of them",
                        k);
    cfg->app_interface = asgi_class || strcmp(i, "asgi") == 0 ? TUN_IFACE_ASGI
                         : strcmp(i, "wsgi") == 0             ? TUN_IFACE_WSGI
                                                              : TUN_IFACE_AUTO;
    return 0;
}

/* Whether a setting holds its default value, whichever layer gave it. */
static bool is_default_value(const tun_setting_t *s, const tun_config_t *cfg)
{
    tun_config_t def;
    memset(&def, 0, sizeof(def));
    if (!s->def || tun_set_value(s, &def, s->def, "default", NULL, 0) < 0)
        return false;
    buf_t a = {0}, b = {0};
    tun_format_value(s, cfg, &a);
    tun_format_value(s, &def, &b);
    bool same = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
    buf_free(&a);
    buf_free(&b);
    tun_config_free(&def);
    return same;
}

/* Warnings that need the whole configuration: settings that are parsed but not acted on
 * yet, and a gunicorn habit that would otherwise go unnoticed. */
static void late_warnings(tun_parse_state_t *ps)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        const tun_setting_t *s = &tun_settings[i];
        if ((s->flags & TUN_F_PENDING) && ps->src->s[i].layer != TUN_L_DEFAULT &&
            !is_default_value(s, ps->cfg))
            tun_add_warning(ps->cfg, "--%s is accepted but not acted on yet (from %s)",
                            s->long_flag, ps->src->s[i].where);
    }
    const char *g = tun_env_get(ps->envp, "GUNICORN_CMD_ARGS");
    if (g && *g && !tun_env_get(ps->envp, TUN_CMD_ARGS_ENV))
        tun_add_warning(
            ps->cfg, "GUNICORN_CMD_ARGS is set but not read; put those flags in " TUN_CMD_ARGS_ENV);
}

/* Scans UWSGI_FAST_CMD_ARGS, when set, into ps->cmd. */
static int scan_cmd_args(tun_parse_state_t *ps)
{
    const char *cmd_args = tun_env_get(ps->envp, TUN_CMD_ARGS_ENV);
    if (!cmd_args || !*cmd_args)
        return 0;
    if (tun_split_words(ps, cmd_args) < 0)
        return TUN_ERROR;
    ps->cmd = uf_calloc(ps->nwords + 1, sizeof(tun_arg_value_t));
    int ignored = 0;
    return tun_scan_args(ps, TUN_L_CMD_ARGS, (int)ps->nwords, ps->words, ps->cmd, &ps->ncmd,
                         &ignored);
}

/* Gives every setting its value from the one layer that wins for it. */
static int apply_layers(tun_parse_state_t *ps)
{
    bool owned_cli[TUN_N_SETTINGS] = {false}, owned_cmd[TUN_N_SETTINGS] = {false};
    for (size_t k = 0; k < ps->ncli; k++)
        owned_cli[ps->cli[k].setting] = true;
    for (size_t k = 0; k < ps->ncmd; k++)
        if (!owned_cli[ps->cmd[k].setting])
            owned_cmd[ps->cmd[k].setting] = true;
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        if (owned_cli[i] || owned_cmd[i] || (tun_settings[i].flags & TUN_F_CONFIG))
            continue;
        if (apply_below_args(ps, (int)i) < 0)
            return TUN_ERROR;
    }
    if (apply_args(ps, TUN_L_CMD_ARGS, ps->cmd, ps->ncmd, owned_cmd) < 0)
        return TUN_ERROR;
    return apply_args(ps, TUN_L_CLI, ps->cli, ps->ncli, owned_cli);
}

/* A required setting no layer set (only the application is one). */
static int check_required(const tun_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        const tun_setting_t *s = &tun_settings[i];
        if (!(s->flags & TUN_F_REQUIRED) || s->type != TUN_T_STRING ||
            *(char *const *)tun_cfield(s, cfg))
            continue;
        if (!s->long_flag)
            return tun_fail(err, errlen,
                            "no application given: name it as %s, e.g. uwsgi-fast "
                            "myproject.wsgi:application (or set %s)",
                            s->metavar, s->env);
        return tun_fail(err, errlen, "--%s is required (or set %s)", s->long_flag, s->env);
    }
    return 0;
}

/* --version: the first line is the one scripts read; then the Python the server will
 * run (the build's libpython, in $VIRTUAL_ENV when that is set: a wheel's launcher sets
 * it to its venv) and what the build put in. */
static void write_version(FILE *out, char **envp)
{
    const char *venv = tun_env_get(envp, "VIRTUAL_ENV");
    fprintf(out, "uwsgi-fast %s\n", UF_VERSION);
    fprintf(out, "python %s (libpython of %s), virtualenv: %s\n", UF_PYTHON_VERSION, UF_PYTHON,
            venv && *venv ? venv : "none");
    fprintf(out,
            "engines: io_uring and epoll (--engine auto picks io_uring where the host "
            "allows it); %s\n",
            UF_LINKED);
    fprintf(out, "%s\n",
            UF_INSTRUMENTS ? "instruments: request phases, ring counters and USDT probes"
                           : "instruments: none (built with -Dinstruments=false: the phases "
                             "and ring counters read 0, no USDT probes)");
}

/* --help, --version and --print-settings-markdown: answered before any value is read. */
static void answer_early(int action, FILE *out, char **envp)
{
    if (action == TUN_ACT_HELP)
        tun_write_help(out);
    else if (action == TUN_ACT_VERSION)
        write_version(out, envp);
    else
        tun_write_markdown(out);
    fflush(out);
}

/* --print-config and --check-config: answered from the finished configuration. */
static void answer_late(int action, const tun_config_t *cfg, FILE *out)
{
    if (action & TUN_ACT_PRINT) {
        tun_write_config(out, cfg);
    } else {
        for (size_t i = 0; i < cfg->warning_count; i++)
            fprintf(out, "warning: %s\n", cfg->warnings[i]);
        fprintf(out, "uwsgi-fast: the configuration is valid%s%s\n",
                cfg->config ? "; config file: " : "", cfg->config ? cfg->config : "");
    }
    fflush(out);
}

int tun_parse(tun_config_t *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
              size_t errlen)
{
    return tun_parse_ex(cfg, argc, argv, envp, 0, out, err, errlen);
}

int tun_parse_ex(tun_config_t *cfg, int argc, char **argv, char **envp, unsigned opts, FILE *out,
                 char *err, size_t errlen)
{
    tun_parse_state_t ps = {.cfg = cfg, .envp = envp, .err = err, .errlen = errlen};
    int action = TUN_ACT_NONE, rc;

    memset(cfg, 0, sizeof(*cfg));
    if (err && errlen)
        err[0] = 0;
    if (!out)
        out = stdout;
    ps.src = uf_calloc(1, sizeof(*ps.src));
    cfg->sources = ps.src;
    ps.cli = uf_calloc((size_t)(argc > 0 ? argc : 1), sizeof(tun_arg_value_t));

    rc =
        tun_scan_args(&ps, TUN_L_CLI, argc > 1 ? argc - 1 : 0, argv + 1, ps.cli, &ps.ncli, &action);
    if (rc < 0)
        goto out;
    if (action & TUN_ACT_ENDS_SCAN) {
        answer_early(action, out, ps.envp);
        rc = TUN_EXIT;
        goto out;
    }
    rc = scan_cmd_args(&ps);
    if (rc < 0)
        goto out;
    rc = tun_config_file_read(&ps);
    if (rc < 0)
        goto out;
    rc = apply_layers(&ps);
    if (rc < 0)
        goto out;
    bool app_optional = (opts & TUN_PARSE_NO_APP) || (action == TUN_ACT_PRINT);
    if (!app_optional) {
        rc = check_required(cfg, err, errlen);
        if (rc < 0)
            goto out;
    }
    rc = check_binds(cfg, err, errlen);
    if (rc < 0)
        goto out;
    rc = check_reload(cfg, err, errlen);
    if (rc == 0)
        rc = check_engine(cfg, err, errlen);
    if (rc == 0)
        rc = check_asgi(cfg, err, errlen);
    if (rc < 0)
        goto out;
    /* the text was validated when it was set: parsing it again cannot fail */
    if (tun_netlist_parse(cfg->forwarded_allow_ips, &cfg->forwarded_allow) < 0 ||
        tun_pairs_parse(cfg->secure_scheme_headers, &cfg->secure_scheme) < 0 ||
        tun_netlist_parse(cfg->proxy_allow_ips, &cfg->proxy_allow) < 0 ||
        tun_netlist_parse(cfg->uwsgi_allow_ips, &cfg->uwsgi_allow) < 0)
        UF_ASSERT(!"validated lists parse");
    cfg->uwsgi = cfg->protocol && strcmp(cfg->protocol, "uwsgi") == 0;
    cfg->proxy_versions =
        cfg->proxy_protocol ? (unsigned)tun_proxy_protocol_word(cfg->proxy_protocol) : 0;
    late_warnings(&ps);
    if (action & (TUN_ACT_PRINT | TUN_ACT_CHECK)) {
        answer_late(action, cfg, out);
        rc = TUN_EXIT;
    }
out:
    uf_free(ps.cli);
    uf_free(ps.cmd);
    for (size_t i = 0; i < ps.nwords; i++)
        uf_free(ps.words[i]);
    uf_free(ps.words);
    toml_free(&ps.doc);
    if (rc != TUN_OK)
        tun_config_free(cfg);
    return rc;
}

void tun_config_free(tun_config_t *cfg)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        const tun_setting_t *s = &tun_settings[i];
        void *field = tun_field(s, cfg);
        switch (s->type) {
        case TUN_T_STRING:
            uf_free(*(char **)field);
            break;
        case TUN_T_PATHS: {
            char **items = *(char ***)field;
            size_t count = *(size_t *)((char *)field + sizeof(char **));
            for (size_t k = 0; k < count; k++)
                uf_free(items[k]);
            uf_free(items);
            break;
        }
        case TUN_T_BINDS:
            uf_free(*(tun_bind_t **)field);
            break;
        default:
            break;
        }
    }
    for (size_t i = 0; i < TUN_N_CALLED_HOOKS; i++)
        uf_free(cfg->hook_specs[i]);
    tun_netlist_free(&cfg->forwarded_allow);
    tun_pairs_free(&cfg->secure_scheme);
    tun_netlist_free(&cfg->proxy_allow);
    tun_netlist_free(&cfg->uwsgi_allow);
    for (size_t i = 0; i < cfg->warning_count; i++)
        uf_free(cfg->warnings[i]);
    uf_free(cfg->warnings);
    if (cfg->sources) {
        for (size_t i = 0; i < cfg->sources->note_count; i++)
            uf_free(cfg->sources->notes[i]);
        uf_free(cfg->sources->notes);
        uf_free(cfg->sources);
    }
    memset(cfg, 0, sizeof(*cfg));
}

bool tun_from_default(const tun_config_t *cfg, const char *name)
{
    if (!cfg->sources)
        return false;
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (strcmp(tun_settings[i].name, name) == 0)
            return cfg->sources->s[i].layer == TUN_L_DEFAULT;
    return false;
}
