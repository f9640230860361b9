/* The CSV loader's reading and parsing: the file in chunks checked as UTF-8, records into
 * fields, each value's number verdict for the findings. No Python objects here: all of it runs
 * with the GIL released. */
#include "_csvparse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the file ---------------------------------------------------------------------- */

/* 1 when data[0:size] is valid UTF-8 without a NUL (what Python's strict decoder and the
 * text binding accept), else 0. */
static int csv_valid_utf8(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* no high bit and no zero byte in the 8: all ASCII, no NUL */
            if (!(w & 0x8080808080808080ULL) &&
                !((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c == 0) return 0;
        if (c < 0x80) { i++; continue; }
        int need; uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else return 0;
        if (i + need >= n) return 0;
        for (int k = 1; k <= need; k++) {
            unsigned char t = s[i + k];
            if ((t & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (t & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* The end of the bytes that may be checked now: all of them at the end of the file, else up to
 * the start of a character that may still be incomplete. */
static Py_ssize_t complete_end(const unsigned char *s, Py_ssize_t n, int eof) {
    if (eof) return n;
    for (Py_ssize_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = s[n - back];
        if ((c & 0xC0) == 0x80) continue;            /* a continuation byte */
        int need = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        return need > back ? n - back : n;
    }
    return n;
}

/* Read the next chunk after the unconsumed bytes (from pos) and check it; 0, or -1 with the
 * reason set (the caller leaves the file to the Python reader). Runs without the GIL. */
int csv_refill(Loader *L) {
    if (L->base + L->len - L->pos > L->max_record || L->base + L->len - L->line_start > L->max_line) {
        snprintf(L->reason, sizeof L->reason, "a record near the limits");
        return -1;
    }
    Py_ssize_t keep = L->base + L->len - L->pos;
    if (keep > 0 && L->pos > L->base) memmove(L->buf, L->buf + (L->pos - L->base), (size_t)keep);
    L->base = L->pos;
    L->len = keep;
    if (L->cap - L->len < L->chunk) {
        Py_ssize_t cap = L->cap ? L->cap : L->chunk;
        while (cap - L->len < L->chunk) cap *= 2;
        char *grown = realloc(L->buf, (size_t)cap);
        if (!grown) { snprintf(L->reason, sizeof L->reason, "out of memory"); return -1; }
        L->buf = grown;
        L->cap = cap;
    }
    ssize_t got;
    do {
        got = pread(L->fd, L->buf + L->len, (size_t)(L->cap - L->len), (off_t)(L->base + L->len));
    } while (got < 0 && errno == EINTR);
    if (got < 0) { snprintf(L->reason, sizeof L->reason, "reading: %s", strerror(errno)); return -1; }
    if (got == 0) L->eof = 1;
    L->len += got;
    /* check the bytes not checked yet (a seek back re-reads checked ones) */
    Py_ssize_t from = L->checked - L->base;
    if (from < L->len) {
        Py_ssize_t end = complete_end((const unsigned char *)L->buf, L->len, L->eof);
        if (end > from) {
            if (!csv_valid_utf8((const unsigned char *)L->buf + from, end - from)) {
                snprintf(L->reason, sizeof L->reason, "not plain UTF-8 text");
                return -1;
            }
            L->checked = L->base + end;
        }
        if (L->eof && L->checked != L->base + L->len) {
            snprintf(L->reason, sizeof L->reason, "not plain UTF-8 text");
            return -1;
        }
    }
    return 0;
}

/* ---- values ------------------------------------------------------------------------ */

/* NUMBER when SQLite's numeric affinity certainly turns the text into a number (an optional
 * '-', 1-18 digits, optionally '.' and 1-15 digits: no spaces, no exponent); TEXTUAL when it
 * certainly does not (a byte that no numeric literal has, or no digit at all); UNSURE
 * otherwise (the caller asks SQLite). */
int csv_classify(const char *s, Py_ssize_t n) {
    int digits = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= '0' && c <= '9') digits++;
        else if (!(c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E' || is_space(c)))
            return TEXTUAL;
    }
    if (!digits) return TEXTUAL;
    Py_ssize_t i = 0, a = 0, b = 0;
    if (i < n && s[i] == '-') i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') { i++; a++; }
    if (i == n) return (a >= 1 && a <= 18) ? NUMBER : UNSURE;
    if (s[i] != '.' || a < 1 || a > 15) return UNSURE;
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') { i++; b++; }
    return (i == n && b >= 1 && b <= 15) ? NUMBER : UNSURE;
}

static int arena_reserve(Loader *L, Py_ssize_t extra) {
    if (L->arena_len + extra <= L->arena_cap) return 0;
    Py_ssize_t cap = L->arena_cap ? L->arena_cap : 1 << 16;
    while (cap < L->arena_len + extra) cap *= 2;
    char *grown = realloc(L->arena, (size_t)cap);
    if (!grown) { snprintf(L->reason, sizeof L->reason, "out of memory"); return -1; }
    L->arena = grown;
    L->arena_cap = cap;
    return 0;
}

/* ---- records ----------------------------------------------------------------------- */

/* The line just ended at file offset ``at`` (its terminator consumed): count it and check its
 * length. */
static inline int end_line(Loader *L, Py_ssize_t at) {
    L->line++;
    if (at - L->line_start >= L->max_line) {
        snprintf(L->reason, sizeof L->reason, "a line near the limit");
        return -1;
    }
    L->line_start = at;
    return 0;
}

/* Parse the next record into out[0:ncols]; REC, END (no more records), MORE (the buffer ends
 * before the record does: refill and call again) or UNSUP. Blank lines are skipped (the csv
 * module reads them as no record). Unless REC, nothing changed. Indexes are into the buffer;
 * the file offset of index i is base + i. */
int csv_parse_record(Loader *L, Field *out) {
    const char *d = L->buf;
    const Py_ssize_t n = usable(L), base = L->base;
    const int more = more_to_come(L);
    Py_ssize_t i = L->pos - base;
    long long line0 = L->line;
    Py_ssize_t start0 = L->line_start;
    int result = UNSUP;
    for (;;) {
        if (i >= n) { if (more) goto need_more; L->pos = base + i; return END; }
        if (d[i] == '\n') { i++; if (end_line(L, base + i)) goto unsup; continue; }
        if (d[i] == '\r') {
            if (i + 1 >= n && more) goto need_more;
            if (i + 1 < n && d[i + 1] == '\n') { i += 2; if (end_line(L, base + i)) goto unsup; continue; }
        }
        break;
    }
    int col = 0;
    for (;;) {
        if (col >= L->ncols) { snprintf(L->reason, sizeof L->reason, "a ragged line"); goto unsup; }
        Field *f = &out[col];
        f->null = 0;
        if (L->quote >= 0 && i < n && d[i] == L->quote) {
            Py_ssize_t s = ++i;
            int doubled = 0;
            for (;;) {
                const char *q = i < n ? memchr(d + i, L->quote, (size_t)(n - i)) : NULL;
                if (!q) {
                    if (more) goto need_more;
                    snprintf(L->reason, sizeof L->reason, "an unterminated quote");
                    goto unsup;
                }
                i = q - d + 1;
                if (i >= n && more) goto need_more;   /* a doubled quote, or the closing one? */
                if (i < n && d[i] == L->quote) { doubled = 1; i++; continue; }
                break;
            }
            Py_ssize_t e = i - 1;     /* the closing quote */
            if (i >= n && more) goto need_more;       /* what follows it decides */
            for (const char *nl = memchr(d + s, '\n', (size_t)(e - s)); nl;
                 nl = memchr(nl + 1, '\n', (size_t)(d + e - nl - 1))) {
                if (end_line(L, base + (nl - d) + 1)) goto unsup;
            }
            if (!doubled) {
                f->p = d + s;
                f->len = e - s;
            } else {
                if (arena_reserve(L, e - s)) goto unsup;
                char *w = L->arena + L->arena_len;
                Py_ssize_t k = 0;
                for (Py_ssize_t j = s; j < e; j++) {
                    w[k++] = d[j];
                    if (d[j] == L->quote) j++;   /* "" is one quote */
                }
                f->p = NULL;
                f->off = L->arena_len;
                f->len = k;
                L->arena_len += k;
            }
            if (i < n && d[i] != L->delim && d[i] != '\n' && d[i] != '\r') {
                snprintf(L->reason, sizeof L->reason, "text after a closing quote");
                goto unsup;
            }
        } else {
            Py_ssize_t s = i;
            const unsigned char *sp = L->special;
            while (i < n && !sp[(unsigned char)d[i]]) i++;
            if (i >= n && more) goto need_more;
            if (i < n && d[i] != L->delim && d[i] != '\n' && d[i] != '\r') {
                snprintf(L->reason, sizeof L->reason, "a quote inside an unquoted field");
                goto unsup;
            }
            f->p = d + s;
            f->len = i - s;
        }
        if (f->len > L->max_field) { snprintf(L->reason, sizeof L->reason, "a field near the limit"); goto unsup; }
        col++;
        if (i < n && d[i] == L->delim) { i++; continue; }
        if (i >= n) break;                            /* the end of the file */
        if (d[i] == '\n') { i++; if (end_line(L, base + i)) goto unsup; break; }
        if (i + 1 >= n && more) goto need_more;
        if (i + 1 < n && d[i + 1] == '\n') { i += 2; if (end_line(L, base + i)) goto unsup; break; }
        snprintf(L->reason, sizeof L->reason, "a bare CR line end");
        goto unsup;
    }
    if (col != L->ncols) { snprintf(L->reason, sizeof L->reason, "a ragged line"); goto unsup; }
    if (i >= n && base + i - L->line_start >= L->max_line) {
        snprintf(L->reason, sizeof L->reason, "a line near the limit");
        goto unsup;
    }
    L->pos = base + i;
    return REC;
need_more:
    result = MORE;
unsup:
    L->line = line0;
    L->line_start = start0;
    return result;
}

/* Markers and the findings' counts of one parsed record. */
void csv_mark_and_count(Loader *L, Field *row) {
    for (int c = 0; c < L->ncols; c++) {
        Field *f = &row[c];
        const char *t = field_text(L, f);
        if (L->nmarkers && is_marker(L, t, f->len)) { f->null = 1; continue; }
        if (L->watch[c]) {
            long long *k = &L->counts[4 * c];
            k[0]++;
            k[1 + csv_classify(t, f->len)]++;
        }
    }
}

/* The next record into L->fields, refilling the buffer as needed: REC, END or UNSUP. */
int csv_next_record(Loader *L) {
    for (;;) {
        L->arena_len = 0;
        int r = csv_parse_record(L, L->fields);
        if (r != MORE) return r;
        if (csv_refill(L)) return UNSUP;
    }
}

/* 1 when the file still has the size and modification time it had at the start. */
int csv_file_same(Loader *L) {
    struct stat st;
    return fstat(L->fd, &st) == 0 && st.st_size == L->size && st.st_mtim.tv_sec == L->mtime.tv_sec &&
           st.st_mtim.tv_nsec == L->mtime.tv_nsec;
}
