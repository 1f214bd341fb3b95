/* The files --reload watches, and how a change to one of them is noticed.
 *
 * A set of absolute file paths. With inotify each file's directory is watched (an editor
 * that saves by writing a new file and renaming it over the old one is still seen), and
 * an event counts only when it names a file of the set: swap files, backups (`app.py~`,
 * `.app.py.swp`, vim's `4913`) and anything else in a watched directory are ignored.
 * Polling compares each file's mtime with the one recorded when it was added.
 *
 * A file whose mtime is already later than `since` when it is added counts as changed at
 * once: it was edited between the import that read it and the moment it was watched (the
 * worker lists its modules after importing them, and again when more are imported).
 *
 * Single-threaded; no Python, no ring: the caller reads the inotify descriptor (or calls
 * filewatch_poll) and hands the bytes to filewatch_events.
 */
#ifndef UF_FILEWATCH_H
#define UF_FILEWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct filewatch_file {
    char *path; /* absolute, owned */
    struct timespec mtime;
    bool present; /* it existed when last looked at */
} filewatch_file_t;

typedef struct filewatch_dir {
    char *path; /* owned */
    int wd;     /* inotify watch descriptor */
} filewatch_dir_t;

typedef struct filewatch {
    int fd; /* inotify, or -1 when polling */
    struct timespec since;
    filewatch_file_t *files;
    unsigned nfiles, files_cap;
    uint32_t *index; /* open addressing over files: 0 empty, else file index + 1 */
    unsigned index_cap;
    filewatch_dir_t *dirs;
    unsigned ndirs, dirs_cap;
    const char *changed; /* the first change seen (a file's path, owned by the set), or NULL */
} filewatch_t;

/* Starts an empty set. With `inotify` it opens the inotify descriptor (non-blocking,
 * close-on-exec); otherwise it polls. Changes after `since` (CLOCK_REALTIME, as mtimes
 * are) count. Returns 0, or -errno when inotify cannot be had (the set is then a polling
 * one, usable as is). */
int filewatch_open(filewatch_t *fw, bool inotify, const struct timespec *since);

/* Adds a file (a relative path is taken from the current directory). A file that does not
 * exist yet is watched for its creation under inotify, and from its first appearance when
 * polling. Returns 1 when added, 0 when already there, -errno when its directory cannot be
 * watched (ENOSPC: fs.inotify.max_user_watches; the file is kept for polling). */
int filewatch_add(filewatch_t *fw, const char *path);

/* Adds every `*.py` file directly in `dir`. Returns how many were new, or -errno. */
int filewatch_add_sources(filewatch_t *fw, const char *dir);

/* Reads inotify events (the bytes read from fw->fd) and returns the path of the first
 * watched file they say was written, renamed into place or re-timed, or NULL. A queue
 * overflow counts as a change (what was lost is unknown). Sets fw->changed. */
const char *filewatch_events(filewatch_t *fw, const void *buf, size_t len);

/* Polling: the path of the first file whose mtime differs from the recorded one (or that
 * appeared or vanished), or NULL. Sets fw->changed. */
const char *filewatch_poll(filewatch_t *fw);

/* Whether the path is one of the set's files. */
bool filewatch_has(const filewatch_t *fw, const char *path);

/* Closes the descriptor and frees the set. */
void filewatch_close(filewatch_t *fw);

#endif
