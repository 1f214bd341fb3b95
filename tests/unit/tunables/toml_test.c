/* Unit tests of the TOML subset reader: every accepted form with the value it yields, and
 * every refusal with its exact message and line. */
#include "tunables/toml.c"

#include <stdio.h>
#include <stdlib.h>

#include "check.h"

static toml_doc_t doc;
static char err[256];

static int parse(const char *text)
{
    toml_free(&doc);
    strcpy(err, "(untouched)");
    return toml_parse(text, strlen(text), &doc, err, sizeof(err));
}

static const toml_entry_t *entry(const char *key)
{
    for (size_t i = 0; i < doc.count; i++)
        if (strcmp(doc.entries[i].key, key) == 0)
            return &doc.entries[i];
    return NULL;
}

/* `text` parses, and its one entry is a scalar of type `type` with text `want`. */
#define EXPECT_SCALAR(input_, type_, want)                                                         \
    do {                                                                                           \
        int rc_ = parse(input_);                                                                   \
        CHECK_EQ_INT(rc_, 0);                                                                      \
        if (rc_ != 0)                                                                              \
            fprintf(stderr, "    %s: %s\n", input_, err);                                          \
        CHECK_EQ_INT(doc.count, 1);                                                                \
        if (doc.count == 1) {                                                                      \
            CHECK_EQ_INT(doc.entries[0].value.type, type_);                                        \
            CHECK_EQ_STR(doc.entries[0].value.text, want);                                         \
        }                                                                                          \
    } while (0)

#define EXPECT_FAIL(input_, msg)                                                                   \
    do {                                                                                           \
        CHECK_EQ_INT(parse(input_), -1);                                                           \
        CHECK_EQ_STR(err, msg);                                                                    \
        CHECK(doc.count == 0 && doc.entries == NULL);                                              \
    } while (0)

static void test_document(void)
{
    const char *text = "\xef\xbb\xbf# leading comment\n"
                       "\n"
                       "top = 1\r\n"
                       "  indented\t=\t\"yes\"   # trailing comment\n"
                       "[workers]\n"
                       "workers = 4\n"
                       "[ \"quoted table\" . sub ]\n"
                       "\"quoted key\" = 'literal \\ no escapes'\n"
                       "bare-key_2 = false\n"
                       "list = [\n"
                       "  \"a\",   # first\n"
                       "\n"
                       "  'b' ,\n"
                       "]\n"
                       "empty = []\n"
                       "last = true";
    CHECK_EQ_INT(parse(text), 0);
    CHECK_EQ_INT(doc.count, 8);
    const toml_entry_t *e = entry("top");
    CHECK(e && e->line == 3 && strcmp(e->table, "") == 0 && e->value.type == TOML_INT);
    e = entry("indented");
    CHECK(e && e->line == 4 && e->value.type == TOML_STRING && strcmp(e->value.text, "yes") == 0);
    e = entry("workers");
    CHECK(e && e->line == 6 && strcmp(e->table, "workers") == 0);
    e = entry("quoted key");
    CHECK(e && strcmp(e->table, "quoted table.sub") == 0 &&
          strcmp(e->value.text, "literal \\ no escapes") == 0);
    e = entry("bare-key_2");
    CHECK(e && e->value.type == TOML_BOOL && strcmp(e->value.text, "false") == 0);
    e = entry("list");
    CHECK(e && e->line == 10 && e->value.type == TOML_ARRAY && e->value.count == 2);
    if (e && e->value.count == 2) {
        CHECK_EQ_STR(e->value.items[0], "a");
        CHECK_EQ_STR(e->value.items[1], "b");
        CHECK(e->value.text == NULL);
    }
    e = entry("empty");
    CHECK(e && e->value.type == TOML_ARRAY && e->value.count == 0);
    e = entry("last");
    CHECK(e && e->line == 16 && e->value.type == TOML_BOOL);

    CHECK_EQ_INT(parse(""), 0);
    CHECK_EQ_INT(doc.count, 0);
    CHECK_EQ_INT(parse("# only a comment"), 0);
    CHECK_EQ_INT(parse("\n\n  \n"), 0);
    /* the same key in two tables is two entries; the caller decides */
    CHECK_EQ_INT(parse("a = 1\n[t]\na = 2\n"), 0);
    CHECK_EQ_INT(doc.count, 2);
    CHECK_EQ_STR(toml_type_name(TOML_ARRAY), "an array");
}

static void test_strings(void)
{
    EXPECT_SCALAR("k = \"plain\"", TOML_STRING, "plain");
    EXPECT_SCALAR("k = \"\"", TOML_STRING, "");
    EXPECT_SCALAR("k = ''", TOML_STRING, "");
    EXPECT_SCALAR("k = \"tab\\there\\nnl \\\"q\\\" \\\\ \\b\\f\\r\"", TOML_STRING,
                  "tab\there\nnl \"q\" \\ \b\f\r");
    EXPECT_SCALAR("k = \"\\u00e9\\U0001F600 \\u0041\"", TOML_STRING, "\xc3\xa9\xf0\x9f\x98\x80 A");
    EXPECT_SCALAR("k = \"raw utf-8: \xc3\xa9\xe2\x82\xac\"", TOML_STRING,
                  "raw utf-8: \xc3\xa9\xe2\x82\xac");
    EXPECT_SCALAR("k = \"# not a comment\"", TOML_STRING, "# not a comment");
    EXPECT_SCALAR("k = 'C:\\path\\to'", TOML_STRING, "C:\\path\\to");
    EXPECT_SCALAR("k = \"tab\tinside\"", TOML_STRING, "tab\tinside");

    EXPECT_FAIL("k = \"open", "line 1: the string has no closing \" on its line");
    EXPECT_FAIL("k = 'open\nx = 1", "line 1: the string has no closing ' on its line");
    EXPECT_FAIL("k = \"\"\"multi\"\"\"",
                "line 1: multi-line strings are not supported; write the value on one line");
    EXPECT_FAIL("k = '''multi'''",
                "line 1: multi-line strings are not supported; write the value on one line");
    EXPECT_FAIL("k = \"\\x41\"", "line 1: unknown escape sequence \\x in a string");
    EXPECT_FAIL("k = \"\\e\"", "line 1: unknown escape sequence \\e in a string");
    EXPECT_FAIL("k = \"\\u12\"", "line 1: \\u needs 4 hexadecimal digits");
    EXPECT_FAIL("k = \"\\U0001F6\"", "line 1: \\U needs 8 hexadecimal digits");
    EXPECT_FAIL("k = \"\\uD800\"", "line 1: \\uD800 is not a Unicode scalar value");
    EXPECT_FAIL("k = \"\\U00110000\"", "line 1: \\U00110000 is not a Unicode scalar value");
    EXPECT_FAIL("k = \"\\u0000\"",
                "line 1: \\u0000 escapes a NUL character, which no setting accepts");
    EXPECT_FAIL("k = \"a\x01"
                "b\"",
                "line 1: control character 0x01 in a string; write it as an escape");
    EXPECT_FAIL("k = \"a\x7f\"",
                "line 1: control character 0x7f in a string; write it as an escape");
    EXPECT_FAIL("k = \"a\\\nb\"", "line 1: line continuations are only allowed in multi-line "
                                  "strings, which are not supported");
}

static void test_numbers(void)
{
    EXPECT_SCALAR("k = 0", TOML_INT, "0");
    EXPECT_SCALAR("k = +42", TOML_INT, "42");
    EXPECT_SCALAR("k = -17", TOML_INT, "-17");
    EXPECT_SCALAR("k = 1_000_000", TOML_INT, "1000000");
    EXPECT_SCALAR("k = 0xdead_BEEF", TOML_INT, "3735928559");
    EXPECT_SCALAR("k = 0o755", TOML_INT, "493");
    EXPECT_SCALAR("k = 0b1101", TOML_INT, "13");
    EXPECT_SCALAR("k = 9223372036854775807", TOML_INT, "9223372036854775807");
    EXPECT_SCALAR("k = -9223372036854775808", TOML_INT, "-9223372036854775808");
    EXPECT_SCALAR("k = 3.14", TOML_FLOAT, "3.14");
    EXPECT_SCALAR("k = -0.5e-3", TOML_FLOAT, "-0.5e-3");
    EXPECT_SCALAR("k = 1E6", TOML_FLOAT, "1e6");
    EXPECT_SCALAR("k = 6.626_070e-34", TOML_FLOAT, "6.626070e-34");
    EXPECT_SCALAR("k = 1e+05", TOML_FLOAT, "1e+05");
    EXPECT_SCALAR("k = inf", TOML_FLOAT, "inf");
    EXPECT_SCALAR("k = -inf", TOML_FLOAT, "-inf");
    EXPECT_SCALAR("k = +nan", TOML_FLOAT, "+nan");
    EXPECT_SCALAR("k = true", TOML_BOOL, "true");
    EXPECT_SCALAR("k = false # no", TOML_BOOL, "false");
    EXPECT_SCALAR("k=7", TOML_INT, "7");

    EXPECT_FAIL("k = 9223372036854775808", "line 1: integer 9223372036854775808 does not fit in "
                                           "64 bits");
    EXPECT_FAIL("k = 0xFFFFFFFFFFFFFFFF", "line 1: integer 0xFFFFFFFFFFFFFFFF does not fit in 64 "
                                          "bits");
    EXPECT_FAIL("k = 012", "line 1: number 012 has a leading zero");
    EXPECT_FAIL("k = 1__0", "line 1: \"1__0\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = _1", "line 1: \"_1\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = 1_", "line 1: \"1_\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = 1.", "line 1: \"1.\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = .5", "line 1: \".5\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = 1e", "line 1: \"1e\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = 0x", "line 1: \"0x\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = 0xG", "line 1: \"0xG\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = -0x10", "line 1: \"-0x10\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = 0b102", "line 1: \"0b102\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = infinity", "line 1: \"infinity\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = True", "line 1: \"True\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = trueish", "line 1: \"trueish\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = auto", "line 1: \"auto\" is not a valid value (strings need quotes)");
    EXPECT_FAIL("k = 1979-05-27",
                "line 1: dates and times are not supported; quote the value if it is text");
    EXPECT_FAIL("k = 07:32:00",
                "line 1: dates and times are not supported; quote the value if it is text");
}

static void test_structure(void)
{
    EXPECT_FAIL("k = 1\nk = 2", "line 2: k is already defined on line 1");
    EXPECT_FAIL("[t]\nk = 1\n[t]", "line 3: table [t] is defined twice");
    EXPECT_FAIL("[[t]]", "line 1: arrays of tables ([[...]]) are not supported");
    EXPECT_FAIL("[t", "line 1: expected ] to close the table header");
    EXPECT_FAIL("[]", "line 1: expected a key (letters, digits, _ and -, or a quoted string)");
    EXPECT_FAIL("[t] x", "line 1: unexpected text after the table header");
    EXPECT_FAIL("a.b = 1", "line 1: dotted keys (a.…) are not supported; use a [table] header");
    EXPECT_FAIL("k = {a = 1}", "line 1: inline tables are not supported");
    EXPECT_FAIL("k 1", "line 1: expected = after the key k");
    EXPECT_FAIL("k", "line 1: expected = after the key k");
    /* a quoted key with an escaped newline is quoted back on one line (found by toml_fuzz) */
    EXPECT_FAIL("\"a\\nb\" 1", "line 1: expected = after the key a?b");
    EXPECT_FAIL("= 1", "line 1: expected a key before =");
    EXPECT_FAIL("$ = 1", "line 1: expected a key (letters, digits, _ and -, or a quoted string)");
    EXPECT_FAIL("k =", "line 1: expected a value after =");
    EXPECT_FAIL("k = # nothing", "line 1: expected a value after =");
    EXPECT_FAIL("k = 1 2", "line 1: unexpected text after the value");
    EXPECT_FAIL("k = \"a\" \"b\"", "line 1: unexpected text after the value");
    EXPECT_FAIL("k = [1, 2]", "line 1: arrays may hold only strings");
    EXPECT_FAIL("k = [\"a\", 2]", "line 1: arrays may hold only strings");
    EXPECT_FAIL("k = [[\"a\"]]", "line 1: arrays may hold only strings");
    EXPECT_FAIL("k = [\"a\" \"b\"]", "line 1: expected , or ] in the array");
    EXPECT_FAIL("k = [\"a\",,]", "line 1: expected a string in the array");
    EXPECT_FAIL("k = ]", "line 1: expected a value after =");
    EXPECT_FAIL("x = 1\nk = [\n\"a\",\n", "line 2: the array has no closing ]");
    EXPECT_FAIL("k = 1\rx = 2", "line 1: a carriage return must be followed by a newline");
    EXPECT_FAIL("# ok\n# bad \x01 comment", "line 2: control character 0x01 in a comment");
    EXPECT_FAIL("k = 1\n\xff = 2", "line 2: the file is not valid UTF-8");
    EXPECT_FAIL("k = \"\xc0\xaf\"", "line 1: the file is not valid UTF-8");     /* overlong */
    EXPECT_FAIL("k = \"\xed\xa0\x80\"", "line 1: the file is not valid UTF-8"); /* surrogate */
    EXPECT_FAIL("k = \"\xe2\x82\"", "line 1: the file is not valid UTF-8");     /* cut short */

    /* a NUL byte is an error wherever it is, not an early end */
    const char nul[] = "k = 1\n\0x = 2\n";
    toml_free(&doc);
    CHECK_EQ_INT(toml_parse(nul, sizeof(nul) - 1, &doc, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "line 2: the file contains a NUL byte");

    /* a short error buffer truncates; NULL is allowed */
    char small[8];
    toml_free(&doc);
    CHECK_EQ_INT(toml_parse("k = ?", 5, &doc, small, sizeof(small)), -1);
    CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
    CHECK_EQ_INT(toml_parse("k = ?", 5, &doc, NULL, 0), -1);
}

/* Random bytes and mutations of a valid document: never a crash, always a clean result
 * (the fuzzer does this at scale; this keeps a cheap version in every test run). */
static void test_noise(void)
{
    const char *seed =
        "[t]\nk = \"v\\u00e9\"\nn = -1_000\nf = 1.5e3\nl = ['a', \"b\",]\nb = true\n";
    size_t len = strlen(seed);
    char buf[256];
    unsigned x = 12345;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, seed, len);
        int edits = 1 + round % 4;
        for (int e = 0; e < edits; e++) {
            x = x * 1103515245u + 12345u;
            size_t at = (x >> 8) % len;
            x = x * 1103515245u + 12345u;
            buf[at] = (char)(x >> 16);
        }
        toml_doc_t d;
        char msg[128];
        int rc = toml_parse(buf, len, &d, msg, sizeof(msg));
        CHECK(rc == 0 || (rc == -1 && strncmp(msg, "line ", 5) == 0 && d.count == 0));
        toml_free(&d);
    }
}

int main(void)
{
    test_document();
    test_strings();
    test_numbers();
    test_structure();
    test_noise();
    toml_free(&doc);
    return check_done();
}
