/* Config file: which one, read, and mapped onto the table (see config_file.h). */
#include "tunables/config_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunables/pyconfig.h"
#include "tunables/refuse.h"
#include "tunables/suggest.h"
#include "tunables/text.h"

#define CONFIG_MAX (1 << 20)

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Which Python runs a gunicorn.conf.py: the virtualenv's when one is configured by a layer
 * above the config file (a config may import the packages the application uses), the
 * build's otherwise. */
static void choose_python(tun_parse_state_t *ps, char *out, size_t n)
{
    const char *venv = NULL;
    int vi = -1;
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (strcmp(tun_settings[i].name, "virtualenv") == 0)
            vi = (int)i;
    for (size_t k = 0; k < ps->ncli && vi >= 0; k++)
        if (ps->cli[k].setting == vi)
            venv = ps->cli[k].value;
    for (size_t k = 0; k < ps->ncmd && vi >= 0 && !venv; k++)
        if (ps->cmd[k].setting == vi)
            venv = ps->cmd[k].value;
    if (!venv && vi >= 0)
        venv = tun_env_get(ps->envp, tun_settings[vi].env);
    if (!venv || !*venv)
        venv = tun_env_get(ps->envp, "VIRTUAL_ENV");
    if (venv && *venv) {
        static const char *const names[] = {"bin/python3", "bin/python"};
        for (size_t i = 0; i < UF_ARRAY_LEN(names); i++) {
            snprintf(out, n, "%s/%s", venv, names[i]);
            if (access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, n, "%s", UF_PYTHON);
}

/* Reads the config file into ps->doc: TOML directly, a gunicorn .py through Python. */
static int load_file(tun_parse_state_t *ps, const char *path, const char *who)
{
    if (strncmp(path, "python:", 7) == 0)
        return tun_fail(ps->err, ps->errlen,
                        "%s: \"%.*s\" names a Python module; give the path of its file instead "
                        "(accepted: a .toml file or a gunicorn .py config file)",
                        who, TUN_SHOWN(path));
    if (strncmp(path, "file:", 5) == 0)
        path += 5;
    snprintf(ps->file_name, sizeof(ps->file_name), "%s", path);
    struct stat st;
    const char *what = NULL;
    if (stat(path, &st) < 0)
        what = errno == ENOENT ? "does not exist" : strerror(errno);
    else if (!S_ISREG(st.st_mode))
        what = "is not a file";
    if (what)
        return tun_fail(ps->err, ps->errlen,
                        "%s: \"%.*s\" %s (accepted: a .toml file or a gunicorn .py config file)",
                        who, TUN_SHOWN(path), what);

    buf_t text = {0};
    char why[512];
    int rc = TUN_ERROR;
    ps->file_is_py = !ends_with(path, ".toml");
    if (ps->file_is_py) {
        char python[PATH_MAX];
        choose_python(ps, python, sizeof(python));
        if (tun_pyconfig_read(python, path, ps->envp, &text, why, sizeof(why)) < 0) {
            tun_fail(ps->err, ps->errlen, "%s", why);
            goto out;
        }
    } else {
        if (st.st_size > CONFIG_MAX) {
            tun_fail(ps->err, ps->errlen, "%s: \"%.*s\" is larger than %d KiB", who,
                     TUN_SHOWN(path), CONFIG_MAX >> 10);
            goto out;
        }
        FILE *f = fopen(path, "rb");
        if (!f) {
            tun_fail(ps->err, ps->errlen, "%s: \"%.*s\" cannot be read: %s", who, TUN_SHOWN(path),
                     strerror(errno));
            goto out;
        }
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && text.len <= CONFIG_MAX)
            buf_append(&text, chunk, n);
        fclose(f);
    }
    if (toml_parse(text.data ? text.data : "", text.len, &ps->doc, why, sizeof(why)) < 0) {
        if (ps->file_is_py) /* our own output: its line numbers mean nothing to the user */
            tun_fail(ps->err, ps->errlen, "%s: a value could not be carried over (%s)", path, why);
        else
            tun_fail(ps->err, ps->errlen, "%s:%s", path, why + strlen("line "));
        goto out;
    }
    rc = 0;
out:
    buf_free(&text);
    return rc;
}

/* Where an entry of the config file is, for messages: "FILE:LINE: key", or "FILE: key" for
 * a .py config, whose values carry no line. */
static void entry_who(const tun_parse_state_t *ps, const char *key, int line, char *out, size_t n)
{
    if (line)
        snprintf(out, n, "%s:%d: %s", ps->file_name, line, key);
    else
        snprintf(out, n, "%s: %s", ps->file_name, key);
}

/* A hook gunicorn knows and uwsgi-fast never calls. */
static void warn_uncalled_hook(tun_parse_state_t *ps, const char *name)
{
    tun_add_warning(ps->cfg, "%s: the server hook %s is not called: %s", ps->file_name, name,
                    strcmp(name, "ssl_context") == 0
                        ? "uwsgi-fast has no TLS (terminate it at the proxy)"
                        : "dirty workers are not supported yet");
}

/* A .py config's metadata table: callables (hooks), values of other types, and what the
 * logging config mapping refused or warns about. */
static int map_py_meta(tun_parse_state_t *ps, const toml_entry_t *e)
{
    char who[PATH_MAX + 64];
    for (size_t k = 0; k < e->value.count; k++) {
        const char *item = e->value.items[k];
        /* what logconfig_dict / logconfig_json asked for and cannot have, or should know */
        if (strcmp(e->key, "refused") == 0)
            return tun_fail(ps->err, ps->errlen, "%s: %s", ps->file_name, item);
        if (strcmp(e->key, "warnings") == 0) {
            tun_add_warning(ps->cfg, "%s: %s", ps->file_name, item);
            continue;
        }
        bool is_callable = strcmp(e->key, "callables") == 0;
        char name[256], type[64] = "function";
        if (is_callable) {
            snprintf(name, sizeof(name), "%s", item);
        } else {
            const char *eq = strchr(item, '=');
            if (!eq)
                continue;
            snprintf(name, sizeof(name), "%.*s", (int)(eq - item), item);
            snprintf(type, sizeof(type), "%s", eq + 1);
        }
        int idx = tun_find_key(name);
        int r = tun_find_refused_key(name);
        entry_who(ps, name, 0, who, sizeof(who));
        int hook = tun_hook_index(name);
        if (is_callable && hook >= 0 && hook < TUN_N_CALLED_HOOKS) {
            ps->cfg->hooks_defined |= 1u << hook;
        } else if (is_callable && hook >= 0) {
            warn_uncalled_hook(ps, name);
        } else if (idx >= 0) {
            buf_t acc = {0};
            tun_describe_accepted(&tun_settings[idx], &acc);
            tun_fail(ps->err, ps->errlen,
                     "%s (%s%s): a value of type %s is not accepted (accepted: "
                     "%s)",
                     who, tun_settings[idx].long_flag ? "--" : "",
                     tun_settings[idx].long_flag ? tun_settings[idx].long_flag
                                                 : tun_settings[idx].metavar,
                     type, tun_buf_cstr(&acc));
            buf_free(&acc);
            return TUN_ERROR;
        } else if (r >= 0) {
            char prefix[PATH_MAX + 8];
            snprintf(prefix, sizeof(prefix), "%s: ", ps->file_name);
            if (tun_refuse(ps, &tun_refused[r], NULL, prefix, false, ps->file_name) < 0)
                return TUN_ERROR;
        }
    }
    return 0;
}

/* A refused gunicorn key in the file (line 0 for a .py config): refused now, with its
 * value as gunicorn would write it. */
static int map_refused(tun_parse_state_t *ps, const toml_entry_t *e, const tun_refusal_t *r,
                       int line)
{
    char prefix[PATH_MAX + 16];
    if (line)
        snprintf(prefix, sizeof(prefix), "%s:%d: ", ps->file_name, line);
    else
        snprintf(prefix, sizeof(prefix), "%s: ", ps->file_name);
    /* an empty list (gunicorn's raw_env = []) asks for nothing either; a list is
     * compared as the comma-joined text gunicorn's defaults are written in */
    if (e->value.type == TOML_ARRAY && e->value.count == 0 && r->kind != TUN_R_NOOP)
        return 0;
    buf_t joined = {0};
    if (e->value.type == TOML_ARRAY)
        for (size_t k = 0; k < e->value.count; k++)
            buf_printf(&joined, "%s%s", k ? "," : "", e->value.items[k]);
    else
        buf_append_str(&joined, e->value.text);
    int rc = tun_refuse(ps, r, tun_buf_cstr(&joined), prefix, false, ps->file_name);
    buf_free(&joined);
    return rc;
}

/* A hook named in a TOML config: `post_fork = "myapp.hooks:post_fork"` (or the dotted
 * "myapp.hooks.post_fork"); the module is imported where the hook runs. */
static int map_toml_hook(tun_parse_state_t *ps, const toml_entry_t *e, const char *who)
{
    int hook = tun_hook_index(e->key);
    const char *spec = e->value.text;
    if (e->value.type != TOML_STRING || !spec || !*spec || strchr(spec, ' '))
        return tun_fail(ps->err, ps->errlen,
                        "%s: a server hook in a TOML config is a string naming a function, "
                        "\"MODULE:FUNCTION\" or \"MODULE.FUNCTION\"",
                        who);
    if (hook >= TUN_N_CALLED_HOOKS) {
        warn_uncalled_hook(ps, e->key);
        return 0;
    }
    if (!strchr(spec, ':') && !strchr(spec, '.'))
        return tun_fail(ps->err, ps->errlen,
                        "%s: \"%s\" names no module; write \"MODULE:FUNCTION\" or "
                        "\"MODULE.FUNCTION\"",
                        who, spec);
    uf_free(ps->cfg->hook_specs[hook]);
    ps->cfg->hook_specs[hook] = uf_strdup(spec);
    ps->cfg->hooks_defined |= 1u << hook;
    return 0;
}

/* Maps the file's entries onto the table: a setting's key records its value for the file
 * layer; a refused gunicorn key is refused now. An unknown key is an error in TOML; in a
 * .py config it is any module-level variable, so only a near miss of a real key is
 * worth a warning, as gunicorn itself ignores such names. */
static int map_file(tun_parse_state_t *ps)
{
    char who[PATH_MAX + 64];
    for (size_t i = 0; i < ps->doc.count; i++) {
        const toml_entry_t *e = &ps->doc.entries[i];
        if (ps->file_is_py && strcmp(e->table, TUN_PYCONFIG_META) == 0) {
            if (map_py_meta(ps, e) < 0)
                return TUN_ERROR;
            continue;
        }
        int line = ps->file_is_py ? 0 : e->line; /* lines of our own TOML mean nothing */
        entry_who(ps, e->key, line, who, sizeof(who));
        int idx = tun_find_key(e->key);
        if (idx >= 0) {
            if (tun_settings[idx].flags & TUN_F_CONFIG)
                return tun_fail(ps->err, ps->errlen,
                                "%s cannot be set inside a config file; give it with -c or %s", who,
                                tun_settings[idx].env);
            if (ps->file[idx].value)
                return tun_fail(ps->err, ps->errlen, "%s is already set on line %d", who,
                                ps->file[idx].line);
            ps->file[idx] = (tun_file_value_t){&e->value, line};
            continue;
        }
        int r = tun_find_refused_key(e->key);
        if (r >= 0) {
            if (map_refused(ps, e, &tun_refused[r], line) < 0)
                return TUN_ERROR;
            continue;
        }
        if (!ps->file_is_py && tun_hook_index(e->key) >= 0) {
            if (map_toml_hook(ps, e, who) < 0)
                return TUN_ERROR;
            continue;
        }
        const char *near = tun_suggest_key(e->key);
        if (ps->file_is_py) {
            if (near && tun_hook_index(e->key) < 0)
                tun_add_warning(ps->cfg, "%s: %s is not a setting and is ignored; did you mean %s?",
                                ps->file_name, e->key, near);
            continue;
        }
        if (near)
            return tun_fail(ps->err, ps->errlen, "%s is not a setting; did you mean %s?", who,
                            near);
        return tun_fail(ps->err, ps->errlen,
                        "%s is not a setting (see docs/settings.md for the "
                        "keys)",
                        who);
    }
    return 0;
}

int tun_config_file_read(tun_parse_state_t *ps)
{
    int ci = tun_config_index();
    const tun_setting_t *s = &tun_settings[ci];
    tun_source_t *src = &ps->src->s[ci];
    const char *path = NULL;
    char who[128];
    snprintf(who, sizeof(who), "--%s", s->long_flag);
    for (size_t k = 0; k < ps->ncli; k++)
        if (ps->cli[k].setting == ci)
            path = ps->cli[k].value, src->layer = TUN_L_CLI;
    for (size_t k = 0; k < ps->ncmd && !path; k++)
        if (ps->cmd[k].setting == ci)
            path = ps->cmd[k].value, src->layer = TUN_L_CMD_ARGS;
    if (path && src->layer == TUN_L_CMD_ARGS) {
        snprintf(who, sizeof(who), TUN_CMD_ARGS_ENV " (--%s)", s->long_flag);
        snprintf(src->where, sizeof(src->where), TUN_CMD_ARGS_ENV);
    }
    if (!path) {
        const char *v = tun_env_get(ps->envp, s->env);
        if (v && *v) {
            path = v;
            src->layer = TUN_L_ENV;
            snprintf(who, sizeof(who), "%s (--%s)", s->env, s->long_flag);
            snprintf(src->where, sizeof(src->where), "%s", s->env);
        }
    }
    if (!path) {
        src->layer = TUN_L_DEFAULT;
        bool toml = file_exists(TUN_TOML_DEFAULT_FILE), py = file_exists(TUN_PY_DEFAULT_FILE);
        if (toml && py)
            return tun_fail(ps->err, ps->errlen,
                            "both ./" TUN_TOML_DEFAULT_FILE " and ./" TUN_PY_DEFAULT_FILE
                            " exist; choose "
                            "one with -c FILE (or -c \"\" for neither)");
        path = toml ? TUN_TOML_DEFAULT_FILE : py ? TUN_PY_DEFAULT_FILE : NULL;
        if (path)
            snprintf(src->where, sizeof(src->where), "found in the working directory");
    }
    if (!path || !*path)
        return 0;
    if (load_file(ps, path, who) < 0)
        return TUN_ERROR;
    ps->cfg->config = uf_strdup(ps->file_name);
    return map_file(ps);
}
