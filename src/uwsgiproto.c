/* The uwsgi protocol's request packet: header and variables checked, variables walked. */
#include "src/uwsgiproto.h"

static inline uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static long refuse(const char **error, const char *why)
{
    *error = why;
    return -1;
}

long uwsgi_parse(const uint8_t *buf, size_t len, const uwsgi_limits_t *lim, uint32_t *vars,
                 const char **error)
{
    if (len >= 1 && buf[0] != 0)
        return refuse(error, "modifier1 is not 0 (only WSGI requests are served)");
    if (len < UWSGI_HEADER_LEN)
        return 0;
    size_t size = le16(buf + 1);
    if (lim->block && size > lim->block)
        return refuse(error, "the variables block is larger than the header limit");
    if (len < UWSGI_HEADER_LEN + size)
        return 0;
    /* All of the block is here: every variable must fit in it, the last ending at its end.
     * Lengths are read two bytes at a time, so each step checks that both bytes are in. */
    const uint8_t *p = buf + UWSGI_HEADER_LEN, *end = p + size;
    uint32_t count = 0;
    while (p < end) {
        if (lim->vars && count >= lim->vars)
            return refuse(error, "too many variables");
        if (end - p < 2)
            return refuse(error, "a key length is cut off by the end of the block");
        size_t klen = le16(p);
        p += 2;
        if (klen == 0)
            return refuse(error, "a variable has an empty name");
        if ((size_t)(end - p) < klen)
            return refuse(error, "a key runs past the end of the block");
        p += klen;
        if (end - p < 2)
            return refuse(error, "a value length is cut off by the end of the block");
        size_t vlen = le16(p);
        p += 2;
        if ((size_t)(end - p) < vlen)
            return refuse(error, "a value runs past the end of the block");
        p += vlen;
        if (lim->var_size && klen + vlen > lim->var_size)
            return refuse(error, "a variable is larger than the field size limit");
        count++;
    }
    *vars = count;
    return (long)(UWSGI_HEADER_LEN + size);
}

bool uwsgi_next_var(const uint8_t *buf, size_t *pos, uwsgi_var_t *var)
{
    size_t size = le16(buf + 1), at = *pos;
    /* uwsgi_parse accepted the block, so a variable that starts before its end fits in it */
    if (at >= size)
        return false;
    const uint8_t *p = buf + UWSGI_HEADER_LEN + at;
    var->key_len = le16(p);
    var->key = p + 2;
    p += 2 + var->key_len;
    var->value_len = le16(p);
    var->value = p + 2;
    *pos = at + 4 + var->key_len + var->value_len;
    return true;
}
