/* Privileges: --user, --group, --initgroups and --umask (see privileges.h). */
#include "src/privileges.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "tunables/ids.h"
#include "uring/ring.h"

#define KEEP_UID ((uid_t)-1)

/* --user and --group into ids. A user given by a number the user database does not know
 * has no primary group and no name: it needs --group, and cannot have --initgroups. */
static int plan(privileges_t *p, const tun_config_t *cfg, char *err, size_t errlen)
{
    char why[128];
    memset(p, 0, sizeof(*p));
    p->uid = KEEP_UID;
    p->initgroups = cfg->initgroups;
    if (!cfg->user && !cfg->group) {
        if (cfg->initgroups) {
            snprintf(err, errlen,
                     "--initgroups: needs --user, the user whose groups the workers "
                     "get");
            return -1;
        }
        return 0;
    }
    p->drop = true;
    tun_user_t u = {0};
    if (cfg->user) {
        if (tun_user_lookup(cfg->user, &u, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "--user: \"%s\" %s", cfg->user, why);
            return -1;
        }
        p->uid = u.uid;
        snprintf(p->name, sizeof(p->name), "%s", u.name);
    }
    if (cfg->group) {
        if (tun_group_lookup(cfg->group, &p->gid, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "--group: \"%s\" %s", cfg->group, why);
            return -1;
        }
    } else if (u.known) {
        p->gid = u.gid;
    } else {
        snprintf(err, errlen,
                 "--user: uid %s is not in the user database, so it has no primary "
                 "group: give --group too",
                 cfg->user);
        return -1;
    }
    if (p->initgroups && !u.known) {
        snprintf(err, errlen,
                 "--initgroups: needs a --user the user database knows (getent "
                 "passwd), whose groups the workers get");
        return -1;
    }
    return 0;
}

/* err gets "<setting>: cannot <what>: <reason>", with the way out when only root could. */
static int refused(char *err, size_t errlen, const char *setting, const char *what, int e)
{
    snprintf(err, errlen, "%s: cannot %s: %s%s", setting, what, strerror(e),
             e == EPERM ? " (only root can: start uwsgi-fast as root, or leave the setting out)"
                        : "");
    return -1;
}

/* What a worker holds after the drop is exactly what was asked, and root cannot be taken
 * back: a kernel or a security module that ignored part of a set*id call must not leave a
 * half-privileged process serving requests. */
static int verify(const privileges_t *p, bool groups_set, char *err, size_t errlen)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresgid(&rg, &eg, &sg) < 0 || rg != p->gid || eg != p->gid || sg != p->gid)
        return refused(err, errlen, "--group", "keep the new group (the ids did not change)",
                       EPERM);
    if (p->uid != KEEP_UID &&
        (getresuid(&ru, &eu, &su) < 0 || ru != p->uid || eu != p->uid || su != p->uid))
        return refused(err, errlen, "--user", "keep the new user (the ids did not change)", EPERM);
    if (groups_set && !p->initgroups) {
        gid_t groups[2];
        int n = getgroups(2, groups);
        if (n < 0 || n > 1 || (n == 1 && groups[0] != p->gid))
            return refused(err, errlen, "--group", "drop the supplementary groups", EPERM);
    }
    if (p->uid != KEEP_UID && p->uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen,
                 "--user: the worker could become root again after switching to "
                 "uid %u; refusing to serve",
                 (unsigned)p->uid);
        return -1;
    }
    return 0;
}

int privileges_drop(const privileges_t *p, char *err, size_t errlen)
{
    if (!p->drop)
        return 0;
    char what[320];
    /* groups first: once the uid has changed, nothing may change them any more */
    bool groups_set = p->initgroups || geteuid() == 0;
    if (p->initgroups) {
        if (initgroups(p->name, p->gid) < 0) {
            snprintf(what, sizeof(what), "set the groups of %s", p->name);
            return refused(err, errlen, "--initgroups", what, errno);
        }
    } else if (groups_set && setgroups(1, &p->gid) < 0) {
        /* without this the worker would keep root's supplementary groups */
        return refused(err, errlen, "--group", "drop the supplementary groups", errno);
    }
    if (setresgid(p->gid, p->gid, p->gid) < 0) {
        snprintf(what, sizeof(what), "switch to gid %u", (unsigned)p->gid);
        return refused(err, errlen, "--group", what, errno);
    }
    if (p->uid != KEEP_UID && setresuid(p->uid, p->uid, p->uid) < 0) {
        snprintf(what, sizeof(what), "switch to %s%suid %u%s", p->name, p->name[0] ? " (" : "",
                 (unsigned)p->uid, p->name[0] ? ")" : "");
        return refused(err, errlen, "--user", what, errno);
    }
    return verify(p, groups_set, err, errlen);
}

/* In a throw-away child, what every worker will do first: drop, then set up its ring (a
 * kernel may admit only one group's members to it, which root passes and the user may
 * not; checked for --engine io_uring only, as auto falls back to epoll in the worker) and
 * enter --chdir. Failing here is one line at start instead of five failed boots.
 * Returns 0, or -1 with err. */
static int rehearse(const privileges_t *p, const tun_config_t *cfg, char *err, size_t errlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "--user: cannot check the switch: pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "--user: cannot check the switch: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        char why[512] = "", ring_why[400];
        if (privileges_drop(p, why, sizeof(why)) == 0) {
            if (cfg->chdir && access(cfg->chdir, X_OK) < 0)
                snprintf(why, sizeof(why), "--user: the workers cannot enter --chdir %s: %s",
                         cfg->chdir, strerror(errno));
            else if (cfg->engine && strcmp(cfg->engine, "io_uring") == 0 &&
                     ring_probe(NULL, ring_why, sizeof(ring_why)) < 0)
                snprintf(why, sizeof(why),
                         "--user: the workers cannot set up their ring as uid %u: %s",
                         (unsigned)getuid(), ring_why);
        }
        ssize_t unused = write(fds[1], why, strlen(why));
        (void)unused;
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < errlen && (n = read(fds[0], err + got, errlen - 1 - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    if (errlen)
        err[got] = 0;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got)
        return -1;
    if (!WIFEXITED(status)) {
        snprintf(err, errlen, "--user: the child that checks the switch died of signal %d",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return -1;
    }
    return 0;
}

int privileges_setup(privileges_t *p, const tun_config_t *cfg, char *err, size_t errlen)
{
    if (plan(p, cfg, err, errlen) < 0)
        return -1;
    if (cfg->umask) {
        unsigned mode;
        char why[128];
        if (tun_mode_parse(cfg->umask, &mode, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "--umask: \"%s\" %s", cfg->umask, why);
            return -1;
        }
        umask((mode_t)mode);
        log_info("Umask: 0o%03o", mode);
    }
    if (!p->drop)
        return 0;
    privileges_own_logs(p, cfg);
    if (rehearse(p, cfg, err, errlen) < 0)
        return -1;
    if (p->uid != KEEP_UID)
        log_info("Workers run as %s%suid %u%s, gid %u%s", p->name, p->name[0] ? " (" : "",
                 (unsigned)p->uid, p->name[0] ? ")" : "", (unsigned)p->gid,
                 p->initgroups ? " and the user's groups" : "");
    else
        log_info("Workers run with gid %u", (unsigned)p->gid);
    return 0;
}

static void hand_over(const privileges_t *p, const char *setting, const char *path)
{
    if (!path || strcmp(path, "-") == 0)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        log_error("%s: cannot open \"%s\" for the workers: %s", setting, path, strerror(errno));
        return;
    }
    struct stat st;
    bool theirs = fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
                  ((p->uid == KEEP_UID || st.st_uid == p->uid) && st.st_gid == p->gid);
    if (!theirs && fchown(fd, p->uid, p->gid) < 0)
        log_error("%s: cannot give \"%s\" to the workers' user: %s", setting, path,
                  strerror(errno));
    close(fd);
}

void privileges_own_logs(const privileges_t *p, const tun_config_t *cfg)
{
    if (!p->drop)
        return;
    hand_over(p, "--error-logfile", cfg->error_logfile);
    hand_over(p, "--access-logfile", cfg->accesslog);
}
