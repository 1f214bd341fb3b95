/* uwsgi-fast: parse the settings, then hand over to the master; or run `doctor`. */
#include <stdio.h>
#include <string.h>

#include "src/master.h"
#include "src/proctitle.h"
#include "tunables/doctor.h"
#include "tunables/tunables.h"
#include "uring/ring.h"

/* The doctor's io_uring probe: the very check the master makes before it forks. */
static int probe_uring(char *msg, size_t len)
{
    ring_features_t f;
    if (ring_probe(&f, msg, len) < 0)
        return -1;
    snprintf(msg, len, "%s%s%s",
             f.defer_taskrun ? "SINGLE_ISSUER|DEFER_TASKRUN" : "no DEFER_TASKRUN",
             f.send_zc ? ", SEND_ZC" : ", no SEND_ZC", f.ext_arg ? ", EXT_ARG" : "");
    return 0;
}

int main(int argc, char **argv, char **envp)
{
    if (argc > 1 && strcmp(argv[1], "doctor") == 0)
        return tun_doctor_main(argc - 1, argv + 1, envp, stdout, stderr, probe_uring);

    /* the title is written where argv and the environment were: the settings are read
     * from the copies, on start and on every reload */
    argv = proctitle_init(argc, argv);
    extern char **environ;
    envp = environ;
    tun_config_t cfg;
    char err[512];
    switch (tun_parse(&cfg, argc, argv, envp, stdout, err, sizeof(err))) {
    case TUN_EXIT:
        return 0;
    case TUN_ERROR:
        fprintf(stderr, "uwsgi-fast: %s\n", err);
        return 2;
    default:
        break;
    }
    for (size_t i = 0; i < cfg.warning_count; i++)
        fprintf(stderr, "uwsgi-fast: warning: %s\n", cfg.warnings[i]);
    int code = master_run(&cfg, argc, argv, envp);
    tun_config_free(&cfg);
    return code;
}
