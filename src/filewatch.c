/* The files --reload watches: a set of paths, inotify on their directories or mtime polls. */
#include "src/filewatch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"

/* Written in full (close after writing), renamed into place, or re-timed (checked against
 * the recorded mtime, so a chmod alone does not count). IN_MODIFY is left out on purpose:
 * it comes with every write, and a worker started on the first one could import half a
 * file. */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR)

static uint32_t hash_path(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The index slot holding `path`, or the empty slot where it would go. */
static uint32_t *slot_of(const filewatch_t *fw, const char *path)
{
    unsigned mask = fw->index_cap - 1;
    for (unsigned i = hash_path(path) & mask;; i = (i + 1) & mask) {
        uint32_t *e = &fw->index[i];
        if (!*e || strcmp(fw->files[*e - 1].path, path) == 0)
            return e;
    }
}

/* Keeps the index at most half full, so probes stay short and always end. */
static void grow_index(filewatch_t *fw)
{
    if (2 * (fw->nfiles + 1) <= fw->index_cap)
        return;
    uf_free(fw->index);
    fw->index_cap = fw->index_cap ? 2 * fw->index_cap : 256;
    fw->index = uf_calloc(fw->index_cap, sizeof(uint32_t));
    for (unsigned k = 0; k < fw->nfiles; k++)
        *slot_of(fw, fw->files[k].path) = k + 1;
}

static bool later(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Watches the directory once; inotify gives one descriptor per inode, so two spellings of
 * one directory share it (filewatch_events tries each spelling). */
static int watch_dir(filewatch_t *fw, const char *dir)
{
    for (unsigned k = 0; k < fw->ndirs; k++)
        if (strcmp(fw->dirs[k].path, dir) == 0)
            return 0;
    int wd = inotify_add_watch(fw->fd, dir, WATCH_MASK);
    if (wd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
    if (fw->ndirs == fw->dirs_cap) {
        fw->dirs_cap = fw->dirs_cap ? 2 * fw->dirs_cap : 16;
        fw->dirs = uf_realloc(fw->dirs, fw->dirs_cap * sizeof(*fw->dirs));
    }
    fw->dirs[fw->ndirs++] = (filewatch_dir_t){.path = uf_strdup(dir), .wd = wd};
    return 0;
}

int filewatch_open(filewatch_t *fw, bool inotify, const struct timespec *since)
{
    memset(fw, 0, sizeof(*fw));
    fw->fd = -1;
    fw->since = *since;
    if (!inotify)
        return 0;
    fw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    return fw->fd < 0 ? -errno : 0;
}

/* Records a new file and, under inotify, watches its directory. */
static int insert(filewatch_t *fw, const char *path)
{
    grow_index(fw);
    uint32_t *slot = slot_of(fw, path);
    if (*slot)
        return 0;
    if (fw->nfiles == fw->files_cap) {
        fw->files_cap = fw->files_cap ? 2 * fw->files_cap : 256;
        fw->files = uf_realloc(fw->files, fw->files_cap * sizeof(*fw->files));
    }
    filewatch_file_t *f = &fw->files[fw->nfiles];
    *f = (filewatch_file_t){.path = uf_strdup(path)};
    *slot = ++fw->nfiles;
    struct stat st;
    if (stat(path, &st) == 0) {
        f->present = true;
        f->mtime = st.st_mtim;
        if (!fw->changed && later(&st.st_mtim, &fw->since))
            fw->changed = f->path;
    }
    int rc = 1;
    if (fw->fd >= 0) {
        char *slash = strrchr(f->path, '/');
        *slash = 0; /* the path is absolute: there is a slash */
        int w = watch_dir(fw, slash == f->path ? "/" : f->path);
        *slash = '/';
        if (w < 0)
            rc = w;
    }
    return rc;
}

int filewatch_add(filewatch_t *fw, const char *path)
{
    char abs[PATH_MAX];
    if (path[0] != '/') {
        if (!getcwd(abs, sizeof(abs)))
            return -errno;
        size_t n = strlen(abs);
        if (n + 1 + strlen(path) >= sizeof(abs))
            return -ENAMETOOLONG;
        abs[n] = '/';
        strcpy(abs + n + 1, path);
        path = abs;
    }
    int rc = insert(fw, path);
    /* an edit to a symlink's target is seen in the target's directory, not the link's */
    char real[PATH_MAX];
    struct stat st;
    if (rc == 1 && lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(path, real) &&
        strcmp(real, path) != 0) {
        int r2 = insert(fw, real);
        if (r2 < 0)
            rc = r2;
    }
    return rc;
}

int filewatch_add_sources(filewatch_t *fw, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int added = 0, err = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".py") != 0 || e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
            continue;
        int rc = filewatch_add(fw, path);
        if (rc > 0)
            added++;
        else if (rc < 0)
            err = rc;
    }
    closedir(d);
    return err < 0 && !added ? err : added;
}

bool filewatch_has(const filewatch_t *fw, const char *path)
{
    return fw->index_cap && *slot_of(fw, path) != 0;
}

/* The watched file `name` in the directory of watch descriptor wd, or NULL. */
static filewatch_file_t *file_at(filewatch_t *fw, int wd, const char *name)
{
    for (unsigned k = 0; k < fw->ndirs; k++) {
        if (fw->dirs[k].wd != wd)
            continue;
        char path[PATH_MAX];
        const char *dir = strcmp(fw->dirs[k].path, "/") == 0 ? "" : fw->dirs[k].path;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
            continue;
        uint32_t e = *slot_of(fw, path);
        if (e)
            return &fw->files[e - 1];
    }
    return NULL;
}

const char *filewatch_events(filewatch_t *fw, const void *buf, size_t len)
{
    const char *p = buf, *end = p + len;
    while (!fw->changed && (size_t)(end - p) >= sizeof(struct inotify_event)) {
        struct inotify_event ev;
        memcpy(&ev, p, sizeof(ev)); /* the buffer need not be aligned for the struct */
        const char *name = p + sizeof(ev);
        p += sizeof(ev) + ev.len;
        if (p > end)
            break;
        if (ev.mask & IN_Q_OVERFLOW) {
            fw->changed = "a watched directory (inotify queue overflow)";
            break;
        }
        if (!ev.len || !name[0])
            continue;
        filewatch_file_t *f = file_at(fw, ev.wd, name);
        if (!f)
            continue;
        if (ev.mask & IN_ATTRIB) {
            struct stat st;
            if (stat(f->path, &st) != 0 || (f->present && same_time(&st.st_mtim, &f->mtime)))
                continue;
        }
        fw->changed = f->path;
    }
    return fw->changed;
}

const char *filewatch_poll(filewatch_t *fw)
{
    for (unsigned k = 0; k < fw->nfiles && !fw->changed; k++) {
        filewatch_file_t *f = &fw->files[k];
        struct stat st;
        bool present = stat(f->path, &st) == 0;
        if (present != f->present || (present && !same_time(&st.st_mtim, &f->mtime)))
            fw->changed = f->path;
    }
    return fw->changed;
}

void filewatch_close(filewatch_t *fw)
{
    if (fw->fd >= 0)
        close(fw->fd);
    for (unsigned k = 0; k < fw->nfiles; k++)
        uf_free(fw->files[k].path);
    for (unsigned k = 0; k < fw->ndirs; k++)
        uf_free(fw->dirs[k].path);
    uf_free(fw->files);
    uf_free(fw->index);
    uf_free(fw->dirs);
    memset(fw, 0, sizeof(*fw));
    fw->fd = -1;
}
