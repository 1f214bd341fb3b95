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

const char *tun_buf_cstr(buf_t *b)
{
    *buf_reserve(b, 1) = 0;
    return b->data;
}
