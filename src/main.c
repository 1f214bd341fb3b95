/* uwsgi-fast: parse the settings, then hand over to the master. */
#include <stdio.h>

#include "src/master.h"
#include "tunables/tunables.h"

int main(int argc, char **argv, char **envp)
{
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
    int code = master_run(&cfg, argc, argv, envp);
    tun_config_free(&cfg);
    return code;
}
