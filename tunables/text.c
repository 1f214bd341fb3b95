/* Text building shared by the tunables modules (see text.h). */
#include "tunables/text.h"

#include <stdarg.h>
#include <stdio.h>

#include "tunables/tunables.h"

int tun_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TUN_ERROR;
}

void tun_buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    char *p = buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *tun_buf_cstr(buf_t *b)
{
    *buf_reserve(b, 1) = 0;
    return b->data;
}
