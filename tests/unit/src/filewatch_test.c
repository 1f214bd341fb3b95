/* Unit tests for src/filewatch.c, on a real temporary directory: only files of the set
 * count (other files, editor swap and backup files in the same directory do not); a save
 * by rename counts; a chmod does not, a new mtime does; a symlink's target is watched;
 * polling sees a new mtime, a file that appears or vanishes; a file already newer than
 * `since` counts at once; *.py sources of a directory are added; the index survives
 * growth; a queue overflow counts as a change. */
#include "src/filewatch.c"

#include "check.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/time.h>

static char root[64];

static const char *at(const char *name)
{
    static char path[4][PATH_MAX];
    static int turn;
    char *p = path[turn++ % 4];
    snprintf(p, PATH_MAX, "%s/%s", root, name);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Sets a file's mtime `secs` seconds away from now. */
static void set_mtime(const char *path, long secs)
{
    struct timeval tv[2];
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec += secs;
    tv[1] = tv[0];
    utimes(path, tv);
}

/* What the inotify descriptor holds now, through filewatch_events. */
static const char *drain(filewatch_t *fw)
{
    char buf[4096] __attribute__((aligned(8)));
    ssize_t n;
    while ((n = read(fw->fd, buf, sizeof(buf))) > 0)
        filewatch_events(fw, buf, (size_t)n);
    return fw->changed;
}

static struct timespec now_plus(long secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    return ts;
}

static void test_inotify(void)
{
    write_file(at("app.py"), "x = 1\n");
    write_file(at("other.py"), "y = 1\n");
    struct timespec since = now_plus(1);
    filewatch_t fw;
    CHECK_EQ_INT(filewatch_open(&fw, true, &since), 0);
    CHECK(fw.fd >= 0);
    CHECK_EQ_INT(filewatch_add(&fw, at("app.py")), 1);
    CHECK_EQ_INT(filewatch_add(&fw, at("app.py")), 0);
    CHECK_EQ_INT(fw.ndirs, 1);
    CHECK(filewatch_has(&fw, at("app.py")));
    CHECK(!filewatch_has(&fw, at("other.py")));
    CHECK(fw.changed == NULL);

    /* unrelated files, swap and backup files, and a chmod: nothing */
    write_file(at("other.py"), "y = 2\n");
    write_file(at(".app.py.swp"), "swap");
    write_file(at("app.py~"), "backup");
    write_file(at("4913"), "");
    chmod(at("app.py"), 0600);
    CHECK(drain(&fw) == NULL);

    write_file(at("app.py"), "x = 2\n");
    CHECK(drain(&fw) != NULL && strcmp(fw.changed, at("app.py")) == 0);
    filewatch_close(&fw);
    CHECK_EQ_INT(fw.fd, -1);

    /* a save by rename over the file, and a new mtime alone */
    CHECK_EQ_INT(filewatch_open(&fw, true, &since), 0);
    filewatch_add(&fw, at("app.py"));
    write_file(at("app.py.new"), "x = 3\n");
    rename(at("app.py.new"), at("app.py"));
    CHECK(drain(&fw) != NULL && strcmp(fw.changed, at("app.py")) == 0);
    filewatch_close(&fw);
    CHECK_EQ_INT(filewatch_open(&fw, true, &since), 0);
    filewatch_add(&fw, at("app.py"));
    set_mtime(at("app.py"), -100);
    CHECK(drain(&fw) != NULL);
    filewatch_close(&fw);

    /* a file not there yet counts once it is written */
    CHECK_EQ_INT(filewatch_open(&fw, true, &since), 0);
    CHECK_EQ_INT(filewatch_add(&fw, at("later.html")), 1);
    CHECK(drain(&fw) == NULL);
    write_file(at("later.html"), "<p>");
    CHECK(drain(&fw) != NULL && strcmp(fw.changed, at("later.html")) == 0);
    filewatch_close(&fw);
}

static void test_symlink_and_relative(void)
{
    mkdir(at("real"), 0700);
    write_file(at("real/target.py"), "z = 1\n");
    symlink(at("real/target.py"), at("link.py"));
    struct timespec since = now_plus(1);
    filewatch_t fw;
    CHECK_EQ_INT(filewatch_open(&fw, true, &since), 0);
    CHECK_EQ_INT(filewatch_add(&fw, at("link.py")), 1);
    CHECK_EQ_INT(fw.nfiles, 2);
    CHECK_EQ_INT(fw.ndirs, 2);
    write_file(at("real/target.py"), "z = 2\n");
    CHECK(drain(&fw) != NULL && strcmp(fw.changed, at("real/target.py")) == 0);
    filewatch_close(&fw);

    /* a relative path is taken from the current directory */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK_EQ_INT(chdir(root), 0);
    CHECK_EQ_INT(filewatch_open(&fw, false, &since), 0);
    CHECK_EQ_INT(filewatch_add(&fw, "app.py"), 1);
    CHECK(filewatch_has(&fw, at("app.py")));
    filewatch_close(&fw);
    CHECK_EQ_INT(chdir(cwd), 0);
}

static void test_poll(void)
{
    struct timespec since = now_plus(1);
    filewatch_t fw;
    CHECK_EQ_INT(filewatch_open(&fw, false, &since), 0);
    CHECK_EQ_INT(fw.fd, -1);
    filewatch_add(&fw, at("app.py"));
    filewatch_add(&fw, at("gone.py"));
    CHECK(filewatch_poll(&fw) == NULL);
    write_file(at("other.py"), "y = 3\n");
    CHECK(filewatch_poll(&fw) == NULL);
    set_mtime(at("app.py"), -50);
    CHECK(filewatch_poll(&fw) != NULL && strcmp(fw.changed, at("app.py")) == 0);
    filewatch_close(&fw);

    CHECK_EQ_INT(filewatch_open(&fw, false, &since), 0);
    filewatch_add(&fw, at("gone.py"));
    write_file(at("gone.py"), "");
    CHECK(filewatch_poll(&fw) != NULL);
    filewatch_close(&fw);
    CHECK_EQ_INT(filewatch_open(&fw, false, &since), 0);
    filewatch_add(&fw, at("gone.py"));
    unlink(at("gone.py"));
    CHECK(filewatch_poll(&fw) != NULL);
    filewatch_close(&fw);
}

static void test_since_sources_growth(void)
{
    /* edited after the worker started, before it was watched: a change at once */
    struct timespec since = now_plus(0);
    write_file(at("fresh.py"), "f = 1\n");
    set_mtime(at("fresh.py"), 30);
    filewatch_t fw;
    CHECK_EQ_INT(filewatch_open(&fw, true, &since), 0);
    filewatch_add(&fw, at("fresh.py"));
    CHECK(fw.changed != NULL && strcmp(fw.changed, at("fresh.py")) == 0);
    filewatch_close(&fw);

    /* the *.py sources of a directory, hidden ones and other files left out */
    mkdir(at("pkg"), 0700);
    write_file(at("pkg/__init__.py"), "");
    write_file(at("pkg/views.py"), "");
    write_file(at("pkg/.hidden.py"), "");
    write_file(at("pkg/notes.txt"), "");
    write_file(at("pkg/views.pyc"), "");
    since = now_plus(60);
    CHECK_EQ_INT(filewatch_open(&fw, true, &since), 0);
    CHECK_EQ_INT(filewatch_add_sources(&fw, at("pkg")), 2);
    CHECK(filewatch_has(&fw, at("pkg/views.py")));
    CHECK(!filewatch_has(&fw, at("pkg/notes.txt")));
    CHECK_EQ_INT(filewatch_add_sources(&fw, at("pkg")), 0);
    CHECK(filewatch_add_sources(&fw, at("nowhere")) < 0);

    /* many files (the index grows several times), each still found */
    char name[64];
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof(name), "pkg/m%d.py", i);
        filewatch_add(&fw, at(name));
    }
    CHECK_EQ_INT(fw.nfiles, 1502);
    bool all = true;
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof(name), "pkg/m%d.py", i);
        all = all && filewatch_has(&fw, at(name));
    }
    CHECK(all);
    CHECK(fw.changed == NULL);

    /* a lost event may have been ours */
    struct inotify_event ov = {.wd = -1, .mask = IN_Q_OVERFLOW};
    CHECK(filewatch_events(&fw, &ov, sizeof(ov)) != NULL);
    filewatch_close(&fw);
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/uf-filewatch-XXXXXX");
    if (!mkdtemp(root))
        return 77;
    test_inotify();
    test_symlink_and_relative();
    test_poll();
    test_since_sources_growth();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return check_done();
}
