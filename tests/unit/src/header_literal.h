/* H("Name", "value"): a py_header_t from two string literals, for tests that build the
 * headers an application returned or a request carried. */
#ifndef UF_TEST_HEADER_LITERAL_H
#define UF_TEST_HEADER_LITERAL_H

/* clang-format off */
#define H(n, v) {{n, sizeof(n) - 1}, {v, sizeof(v) - 1}}
/* clang-format on */

#endif
