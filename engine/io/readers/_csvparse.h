/* The CSV loader's reading and parsing (see _csvload.c, the Python module, for the whole). */
#ifndef DAGFLUX_CSVPARSE_H
#define DAGFLUX_CSVPARSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#define HIDDEN __attribute__((visibility("hidden")))

enum { NUMBER = 0, TEXTUAL = 1, UNSURE = 2 };
enum { REC = 1, END = 0, UNSUP = -1, MORE = 2 };



typedef struct {
    const char *p;      /* into the file, or NULL: at off in the arena */
    Py_ssize_t off;
    Py_ssize_t len;
    int null;
} Field;

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
    sqlite3_stmt *many, *one;
    int per, ncols;
    int fd;
    char *buf;               /* the file's bytes [base, base + len) */
    Py_ssize_t cap, len, base;
    Py_ssize_t checked;      /* the file's bytes before this offset are valid UTF-8 */
    int eof;                 /* the file was read to its end */
    Py_ssize_t size;         /* at the start (fstat) */
    Py_ssize_t chunk;        /* bytes read at a time */
    struct timespec mtime;
    Py_ssize_t pos, line_start;   /* file offsets: the next record, the current line */
    long long line;          /* physical lines consumed */
    int delim, quote;        /* quote: -1 for none */
    char **markers;
    Py_ssize_t *marker_len;
    int nmarkers;
    Py_ssize_t max_field, max_line, max_record;
    unsigned char *watch;    /* per column: classify its values */
    long long *counts;       /* per column: present, numbers, texts, unsure */
    Field *fields;           /* per * ncols */
    char *arena;
    Py_ssize_t arena_len, arena_cap;
    unsigned char special[256];
    char reason[160];
} Loader;

/* ---- in _csvparse.c ---------------------------------------------------------------- */

HIDDEN int csv_refill(Loader *L);
HIDDEN int csv_classify(const char *s, Py_ssize_t n);
HIDDEN int csv_parse_record(Loader *L, Field *out);
HIDDEN void csv_mark_and_count(Loader *L, Field *row);
HIDDEN int csv_next_record(Loader *L);
HIDDEN int csv_file_same(Loader *L);

/* ---- small helpers ------------------------------------------------------------------- */

/* The end of the buffered bytes that are checked, as an index into the buffer. */
static inline Py_ssize_t usable(Loader *L) {
    Py_ssize_t end = L->checked < L->base + L->len ? L->checked : L->base + L->len;
    return end - L->base;
}

/* More data may come after what is checked. */
static inline int more_to_come(Loader *L) {
    return !(L->eof && L->checked >= L->base + L->len);
}

static inline int is_space(unsigned char c) {   /* sqlite3Isspace */
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int is_marker(Loader *L, const char *s, Py_ssize_t n) {
    for (int k = 0; k < L->nmarkers; k++)
        if (L->marker_len[k] == n && (n == 0 || memcmp(L->markers[k], s, (size_t)n) == 0))
            return 1;
    return 0;
}

static inline const char *field_text(Loader *L, Field *f) {
    return f->p ? f->p : L->arena + f->off;
}

#endif
