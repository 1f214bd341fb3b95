/* A strict reader for the small subset of TOML that uwsgi-fast.toml needs.
 *
 * Accepted: `key = value` lines, `# comments`, blank lines and `[table]` headers (their
 * names are kept but carry no meaning for settings). Keys are bare (A-Z a-z 0-9 _ -) or
 * quoted. Values are basic strings "..." (with TOML's escapes), literal strings '...',
 * integers (decimal with _ separators, 0x / 0o / 0b), floats (including inf and nan),
 * booleans, and arrays of strings that may span lines and end with a comma.
 *
 * Refused with a message, never guessed at: multi-line strings, dotted keys, inline
 * tables, arrays of tables, dates and times, arrays of anything but strings, a key
 * defined twice in one table, a table defined twice, bytes that are not UTF-8, control
 * characters. Each message is one line that starts "line N: ".
 *
 * The parser is a pure function of its input (no I/O, no globals) so the fuzzer can
 * drive it directly; everything it returns is owned by the document.
 */
#ifndef UF_TUNABLES_TOML_H
#define UF_TUNABLES_TOML_H

#include <stddef.h>

typedef enum toml_type {
    TOML_STRING,
    TOML_INT,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_ARRAY, /* of strings */
} toml_type_t;

/* One value. `text` is the value as settings parse it: a string's decoded contents, an
 * integer in plain decimal, a float as written minus its underscores ("inf", "-nan" and
 * so on spelled out), a boolean as "true" or "false". An array has no text; its strings
 * are items[0, count). */
typedef struct toml_value {
    toml_type_t type;
    char *text;
    char **items;
    size_t count;
} toml_value_t;

typedef struct toml_entry {
    char *table; /* "" before any [header] */
    char *key;
    toml_value_t value;
    int line; /* 1-based line of the key */
} toml_entry_t;

typedef struct toml_doc {
    toml_entry_t *entries; /* in file order */
    size_t count;
} toml_doc_t;

/* Parses text[0, len) (NUL bytes are an error, not an end). Returns 0 and fills doc, or
 * -1 with a one-line "line N: ..." message in err and doc left empty. doc need not be
 * initialised; release it with toml_free(). */
int toml_parse(const char *text, size_t len, toml_doc_t *doc, char *err, size_t errlen);

/* Releases everything doc owns and empties it; safe on an empty doc. */
void toml_free(toml_doc_t *doc);

/* A short name of the type for messages: "a string", "an integer", ... */
const char *toml_type_name(toml_type_t type);

#endif
