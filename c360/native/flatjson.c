/* A reader for one kind of JSON Lines block: every line one flat JSON object, the fields of
 * an AQI standard plain non-negative numbers (or null). It reads such a block in one pass and
 * says "no" to anything else, which pyarrow's JSON reader then reads (c360/aqi/jsonio.py).
 *
 * The input is untrusted. So the reader is strict JSON (RFC 8259) for every line it accepts,
 * stricter where it is unsure (escaped keys, surrogate escapes, long numbers, a lone "\r"),
 * writes only inside the arrays its caller sized from the block, and never reads past `len`.
 * Saying "no" costs only speed: the general reader decides, as before.
 *
 * flatjson_read(data, len, names, name_lens, n_names, n_fields, max_line, max_rows,
 *               values, present, bodies, offsets) -> rows, or -1 ("no")
 *
 * - names[0 .. n_fields-1] are the standard's fields; names[n_fields .. n_names-1] are keys
 *   that send the block elsewhere (result fields, the long form's).
 * - A line of spaces and tabs (and a "\r" before its "\n") is no record.
 * - values[f * max_rows + row]: floor(x * 1e9) of field f's number x, 0 <= x < 1e9 with at
 *   most 20 decimals (the digits after the 9th dropped, which is that floor; c360 rounds
 *   more decimals to 20 first, half up, which can carry); present[f * max_rows + row]: 1
 *   when the field holds a number or a text that is exactly one ("12.5"), 0 when it is absent
 *   or null. Any other value of a field (other text, true, a negative number, an exponent, 1e9
 *   or more, more decimals) is "no".
 * - bodies: each record's text from its "{" to its last character before the closing "}"
 *   (spaces and tabs before it left out), one after another; offsets[row]..offsets[row + 1]
 *   is the row's. bodies holds at most `len` bytes.
 */
#include <stdint.h>
#include <string.h>

#define NO (-1)
#define MAX_NUMBER_CHARS 64 /* longer numbers (Python refuses integers of 4,300 digits) go elsewhere */
#define MAX_DECIMALS 20 /* c360's input scale (c360/aqi/validate.py) */
#define MAX_KEYS 64         /* keys per line remembered from the line before */

typedef struct {
    const uint8_t *key;
    int32_t len;
    int32_t id; /* index into names, or -1: another key */
} known_key;

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* p at the opening quote; returns the position after the closing quote, or NULL. */
static const uint8_t *string_end(const uint8_t *p, const uint8_t *end, int *escaped) {
    for (p++; p < end; p++) {
        uint8_t c = *p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c != '\\') continue;
        *escaped = 1;
        if (end - p < 2) return NULL;
        uint8_t e = p[1];
        if (e == 'u') {
            if (end - p < 6) return NULL;
            int v = 0;
            for (int k = 2; k < 6; k++) {
                int h = hex_digit(p[k]);
                if (h < 0) return NULL;
                v = v * 16 + h;
            }
            if (v >= 0xD800 && v <= 0xDFFF) return NULL; /* surrogates: the general reader decides */
            p += 5;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            p += 1;
        } else {
            return NULL;
        }
    }
    return NULL;
}

/* A JSON number at p; returns its end or NULL. *plain: digits with at most one point, no
 * sign or exponent, below 1e9, at most MAX_DECIMALS decimals; then *scaled is floor(x * 1e9). */
static const uint8_t *number_end(const uint8_t *p, const uint8_t *end, int *plain, int64_t *scaled) {
    const uint8_t *start = p;
    int64_t whole = 0, frac = 0;
    int int_digits = 0, frac_digits = 0;
    *plain = 1;
    if (p < end && *p == '-') {
        *plain = 0;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') return NULL;
    if (*p == '0') {
        p++;
        int_digits = 1;
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (int_digits < 10) whole = whole * 10 + (*p - '0');
            int_digits++;
            p++;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') {
            if (frac_digits < 9) frac = frac * 10 + (*p - '0');
            frac_digits++;
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *plain = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p - start > MAX_NUMBER_CHARS) return NULL;
    if (int_digits > 9 || frac_digits > MAX_DECIMALS) *plain = 0;
    if (*plain) {
        for (int k = frac_digits; k < 9; k++) frac *= 10;
        *scaled = whole * 1000000000LL + frac;
    }
    return p;
}

static int literal(const uint8_t *p, const uint8_t *end, const char *word, int n) {
    return end - p >= n && memcmp(p, word, (size_t)n) == 0;
}

/* The id of a key: the remembered key at the same position of the line before, else a search. */
static int32_t key_id(const uint8_t *key, int32_t len, known_key *known, int position, const uint8_t *const *names,
                      const int32_t *name_lens, int32_t n_names) {
    if (position < MAX_KEYS && known[position].key != NULL && known[position].len == len &&
        memcmp(known[position].key, key, (size_t)len) == 0)
        return known[position].id;
    int32_t id = -1;
    for (int32_t i = 0; i < n_names; i++) {
        if (name_lens[i] == len && memcmp(names[i], key, (size_t)len) == 0) {
            id = i;
            break;
        }
    }
    if (position < MAX_KEYS) {
        known[position].key = key;
        known[position].len = len;
        known[position].id = id;
    }
    return id;
}

int64_t flatjson_read(const uint8_t *data, int64_t len, const uint8_t *const *names, const int32_t *name_lens,
                      int32_t n_names, int32_t n_fields, int64_t max_line, int64_t max_rows, int64_t *values,
                      uint8_t *present, uint8_t *bodies, int32_t *offsets) {
    const uint8_t *p = data, *end = data + len;
    int64_t row = 0, written = 0;
    known_key known[MAX_KEYS];
    uint8_t seen[256];
    if (n_fields > 256 || n_names < n_fields || len > INT32_MAX) return NO;
    memset(known, 0, sizeof known);
    memset(present, 0, (size_t)(n_fields * max_rows));
    offsets[0] = 0;
    while (p < end) {
        const uint8_t *line = p;
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p < end && *p == '\r' && end - p >= 2 && p[1] == '\n') p++;
        if (p >= end) break;
        if (*p == '\n') { /* a blank line */
            p++;
            continue;
        }
        if (*p != '{') return NO;
        if (row >= max_rows) return NO;
        const uint8_t *open = p, *last = p + 1; /* last: after the body's last character */
        memset(seen, 0, (size_t)n_fields);
        p++;
        int members = 0;
        for (;;) {
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            if (p >= end) return NO;
            if (*p == '}' && members == 0) break;
            if (*p != '"') return NO;
            int escaped = 0;
            const uint8_t *key = p + 1, *after = string_end(p, end, &escaped);
            if (after == NULL || escaped) return NO; /* an escaped key could spell any name */
            int32_t id = key_id(key, (int32_t)(after - 1 - key), known, members, names, name_lens, n_names);
            if (id >= n_fields) return NO; /* a result field's name, or the long form */
            p = after;
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            if (p >= end || *p != ':') return NO;
            p++;
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            if (p >= end) return NO;
            uint8_t c = *p;
            if (id >= 0) {
                if (seen[id]) return NO; /* a field twice: the general reader decides */
                seen[id] = 1;
                if (literal(p, end, "null", 4)) {
                    p += 4;
                } else if (c == '"') { /* a plain number written as text: c360 reads it as the number */
                    int plain = 0;
                    int64_t scaled = 0;
                    const uint8_t *q = number_end(p + 1, end, &plain, &scaled);
                    if (q == NULL || !plain || q >= end || *q != '"') return NO;
                    values[id * max_rows + row] = scaled;
                    present[id * max_rows + row] = 1;
                    p = q + 1;
                } else {
                    int plain = 0;
                    int64_t scaled = 0;
                    const uint8_t *q = number_end(p, end, &plain, &scaled);
                    if (q == NULL || !plain) return NO;
                    values[id * max_rows + row] = scaled;
                    present[id * max_rows + row] = 1;
                    p = q;
                }
            } else if (c == '"') {
                int ignored = 0;
                p = string_end(p, end, &ignored);
                if (p == NULL) return NO;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                int plain = 0;
                int64_t scaled = 0;
                p = number_end(p, end, &plain, &scaled);
                if (p == NULL) return NO;
            } else if (literal(p, end, "true", 4) || literal(p, end, "null", 4)) {
                p += 4;
            } else if (literal(p, end, "false", 5)) {
                p += 5;
            } else {
                return NO; /* an object or an array inside: not flat */
            }
            members++;
            last = p;
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            if (p >= end) return NO;
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == '}') break;
            return NO;
        }
        p++; /* the closing brace */
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p < end && *p == '\r' && end - p >= 2 && p[1] == '\n') p++;
        if (p < end) {
            if (*p != '\n') return NO; /* text after the object, or a lone "\r" */
            p++;
        }
        if (p - line > max_line) return NO;
        memcpy(bodies + written, open, (size_t)(last - open));
        written += last - open;
        offsets[++row] = (int32_t)written;
    }
    return row;
}
