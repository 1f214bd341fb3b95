/* Runs each unit-test program given on the command line with a time limit, reads the
 * closing "N passed, N failed" line each prints, and prints the total the same way.
 * A program that crashes, times out, prints no closing line or ran zero checks counts as
 * one failure; exit code 77 counts as skipped. Exits 0 only when nothing failed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_TIMEOUT_SECONDS 60

static int run_one(const char *path, long *passed, long *failed)
{
    int out[2];
    if (pipe(out) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        alarm(TEST_TIMEOUT_SECONDS);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char text[65536];
    size_t len = 0;
    ssize_t n;
    while ((n = read(out[0], text + len, sizeof(text) - 1 - len)) > 0) {
        fwrite(text + len, 1, (size_t)n, stdout);
        len += (size_t)n;
        if (len >= sizeof(text) - 1) {
            /* keep only the tail: the closing line is what counts */
            memmove(text, text + len / 2, len - len / 2);
            len -= len / 2;
        }
    }
    text[len] = 0;
    close(out[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        return 77;
    /* find the last "N passed, N failed" line */
    long p = -1, f = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        long a, b;
        if (sscanf(line, "%ld passed, %ld failed", &a, &b) == 2) {
            p = a;
            f = b;
        }
    }
    if (p < 0 || !WIFEXITED(status)) {
        fprintf(stdout, "%s: %s\n", path,
                WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no closing line");
        *failed += 1;
        if (p > 0)
            *passed += p;
        return 0;
    }
    *passed += p;
    *failed += f;
    if (WEXITSTATUS(status) != 0 && f == 0)
        *failed += 1;
    if (p == 0 && f == 0) {
        /* a program whose checks were all skipped over or never reached proves nothing */
        fprintf(stdout, "%s: ran no checks\n", path);
        *failed += 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long passed = 0, failed = 0, skipped = 0;
    for (int i = 1; i < argc; i++) {
        const char *name = strrchr(argv[i], '/');
        printf("== %s\n", name ? name + 1 : argv[i]);
        fflush(stdout);
        int rc = run_one(argv[i], &passed, &failed);
        if (rc == 77)
            skipped++;
        else if (rc < 0) {
            printf("%s: cannot run: %s\n", argv[i], strerror(-rc));
            failed++;
        }
    }
    if (skipped)
        printf("%ld passed, %ld failed, %ld skipped\n", passed, failed, skipped);
    else
        printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
