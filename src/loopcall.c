/* The streaks of src/loopcall.h: a hash of the request's method and target, and a slot per hash. */
#include "src/loopcall.h"

#include <stddef.h>

static uint32_t fnv1a(uint32_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 16777619u;
    }
    return h;
}

uint32_t loopcall_key(const py_request_t *pr)
{
    uint32_t h = fnv1a(2166136261u, pr->method.ptr, pr->method.len);
    h = fnv1a(h, " ", 1);
    h = fnv1a(h, pr->target.ptr, pr->target.len);
    return h ? h : 1;
}

static loopcall_slot_t *slot_of(const loopcall_t *t, uint32_t key)
{
    return (loopcall_slot_t *)&t->slots[(key ^ (key >> 16)) % LOOPCALL_SLOTS];
}

bool loopcall_fits(const loopcall_t *t, uint32_t key)
{
    const loopcall_slot_t *s = slot_of(t, key);
    return s->key == key && s->streak >= LOOPCALL_STREAK;
}

void loopcall_learn(loopcall_t *t, uint32_t key, uint64_t ns, bool finished)
{
    loopcall_slot_t *s = slot_of(t, key);
    if (s->key != key) {
        s->key = key;
        s->streak = 0;
    }
    if (!finished || ns >= t->limit_ns)
        s->streak = 0;
    else if (s->streak < LOOPCALL_STREAK)
        s->streak++;
}
