/* Text building shared by the tunables modules (printf into a buf_t is common/mem.h's
 * buf_printf): the one-line
 * error written into a caller's buffer (the "setup that reports to a person" convention:
 * return TUN_ERROR, the message in `err`).
 *
 * Private to tunables/; no state. */
#ifndef UF_TUNABLES_TEXT_H
#define UF_TUNABLES_TEXT_H

#include <stddef.h>
#include <string.h>

#include "common/mem.h"

#define TUN_SHOWN_VALUE_MAX 80 /* longest user value quoted back in a message */

/* A value quoted back to the user as "%.*s" arguments, cut short so one absurd argument
 * cannot swamp the line. */
#define TUN_SHOWN(v) (int)(strlen(v) > TUN_SHOWN_VALUE_MAX ? TUN_SHOWN_VALUE_MAX : strlen(v)), (v)

/* Writes the message into err (errlen bytes, always terminated; nothing when err is NULL
 * or errlen is 0) and returns TUN_ERROR, so a failure site reads `return tun_fail(...)`. */
int tun_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* b's content as a C string: buf_t is not NUL-terminated, so this writes a NUL after the
 * content without counting it. The pointer is valid until b next grows or is freed. */
const char *tun_buf_cstr(buf_t *b);

#endif
