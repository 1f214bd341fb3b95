/* Suggest: the closest supported name to a typo (see suggest.h). */
#include "tunables/suggest.h"

#include <ctype.h>
#include <string.h>

#include "tunables/settings.h"

/* Flags that are not settings, offered for typos. --print-settings-markdown is hidden: it
 * exists to regenerate docs/settings.md and is not offered to users or suggested. */
static const char *const builtin_flags[] = {"help", "version", "print-config", "check-config"};

/* Optimal string alignment distance (edits, with adjacent swaps counting one), used only to
 * suggest a name for a typo; names are short, so a fixed matrix suffices. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    enum { MAX = 64 };
    if (la >= MAX || lb >= MAX)
        return (size_t)-1;
    size_t d[MAX][MAX];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The candidate closest to name[0, len), or NULL if none is close enough to be a typo: at
 * most a third of the name's letters may be wrong (at least one, at most three). */
static const char *closest(const char *name, size_t len, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(name, len, cands[i], strlen(cands[i]));
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    size_t limit = len / 3;
    limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
    return best_d <= limit ? best : NULL;
}

/* Settings, their aliases and the flags that are not settings. */
const char *tun_suggest_flag(const char *name, size_t len)
{
    const char *cands[2 * TUN_N_SETTINGS + UF_ARRAY_LEN(builtin_flags)];
    size_t n = 0;
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        if (tun_settings[i].long_flag)
            cands[n++] = tun_settings[i].long_flag;
        if (tun_settings[i].alias)
            cands[n++] = tun_settings[i].alias;
    }
    for (size_t i = 0; i < UF_ARRAY_LEN(builtin_flags); i++)
        cands[n++] = builtin_flags[i];
    return closest(name, len, cands, n);
}

const char *tun_suggest_key(const char *name)
{
    const char *cands[TUN_N_SETTINGS];
    size_t n = 0;
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (!(tun_settings[i].flags & TUN_F_CONFIG))
            cands[n++] = tun_settings[i].key;
    return closest(name, strlen(name), cands, n);
}
