/* Process titles over the argv area, and the thread name. */
#include "src/proctitle.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"

extern char **environ;

static char *area; /* argv[0] .. the end of the last string that follows it */
static size_t area_len;

char **proctitle_init(int argc, char **argv)
{
    char **copy = uf_calloc((size_t)argc + 1, sizeof(char *));
    if (argc < 1 || !argv[0]) {
        return copy;
    }
    /* the area runs while the strings are contiguous: argv, then the environment */
    char *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; i++)
        if (argv[i] == end)
            end = argv[i] + strlen(argv[i]) + 1;
    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    for (size_t i = 0; i < nenv; i++)
        if (environ[i] == end)
            end = environ[i] + strlen(environ[i]) + 1;
    for (int i = 0; i < argc; i++)
        copy[i] = uf_strdup(argv[i]);
    char **env = uf_calloc(nenv + 1, sizeof(char *));
    for (size_t i = 0; i < nenv; i++)
        env[i] = uf_strdup(environ[i]);
    environ = env;
    area = argv[0];
    area_len = (size_t)(end - argv[0]);
    /* argv[1..] must not point into the title later: ps reads the area as one string */
    for (int i = 1; i < argc; i++)
        argv[i] = NULL;
    return copy;
}

void proctitle_set(const char *role, const char *name)
{
    if (area && area_len > 1) {
        int n = snprintf(area, area_len, "uwsgi-fast: %s%s%s%s", role, name ? " [" : "",
                         name ? name : "", name ? "]" : "");
        size_t used = n < 0 ? 0 : (size_t)n >= area_len ? area_len - 1 : (size_t)n;
        memset(area + used, 0, area_len - used);
    }
}
