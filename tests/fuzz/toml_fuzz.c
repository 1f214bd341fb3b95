/* libFuzzer target: the TOML reader of tunables/toml.c, which reads uwsgi-fast.toml and
 * the TOML that a gunicorn.conf.py is turned into.
 *
 * Input: the file's bytes, as they are (NUL bytes included: the reader must refuse them,
 * not stop at them).
 *
 * Invariants (a violation aborts, which libFuzzer reports with the input):
 *   - a refusal is one line that starts "line N: " with N >= 1, and leaves the document
 *     empty;
 *   - an accepted document has, for every entry, a table name, a key, a line >= 1, the
 *     text of a non-array value and count strings of an array value, all NUL-terminated
 *     within their allocation (ASan checks the reads);
 *   - nothing crashes, leaks or reads out of bounds (ASan, UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunables/toml.h"
#include "tests/fuzz/invariant.h"

#define FAIL(...) FUZZ_FAIL("toml_fuzz", __VA_ARGS__)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    toml_doc_t doc;
    char err[256];
    err[0] = 0;
    if (toml_parse((const char *)data, size, &doc, err, sizeof(err)) < 0) {
        int line = 0;
        if (sscanf(err, "line %d: ", &line) != 1 || line < 1)
            FAIL("a refusal does not start \"line N: \": \"%s\"", err);
        if (strchr(err, '\n'))
            FAIL("a refusal spans lines: \"%s\"", err);
        if (doc.count || doc.entries)
            FAIL("a refused document keeps %zu entries", doc.count);
        toml_free(&doc);
        return 0;
    }
    for (size_t i = 0; i < doc.count; i++) {
        const toml_entry_t *e = &doc.entries[i];
        if (!e->table || !e->key || e->line < 1)
            FAIL("entry %zu has no table, no key or line %d", i, e->line);
        (void)strlen(e->table);
        (void)strlen(e->key);
        if (e->value.type == TOML_ARRAY) {
            for (size_t k = 0; k < e->value.count; k++)
                if (!e->value.items[k])
                    FAIL("entry %s: array item %zu is NULL", e->key, k);
                else
                    (void)strlen(e->value.items[k]);
        } else if (!e->value.text) {
            FAIL("entry %s: a %s without text", e->key, toml_type_name(e->value.type));
        } else {
            (void)strlen(e->value.text);
        }
    }
    toml_free(&doc);
    return 0;
}
