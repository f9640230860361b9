/* The CSV import's native loader: parses a UTF-8 CSV file and binds its fields to a
 * multi-row INSERT without making a Python object per value.
 *
 * engine/io/readers/csv_native.py drives it; the Python reader (csv_reader.py) stays the
 * authority. This loader handles the common shapes only and raises Unsupported for anything
 * else (a quote inside an unquoted field, text after a closing quote, a bare CR line end, a
 * ragged line, a field or line that may exceed the limits, bytes that are not UTF-8, a NUL,
 * an unterminated quote): the caller then drops what was loaded and imports with the Python
 * reader, which reports any error with its line.
 *
 * What it does per field is what the Python path does: the raw text is bound as TEXT (the
 * column's declared type converts it in SQLite, in C); a field equal to a null marker is bound
 * as NULL. For the mixed-column findings it sorts each value of the columns it is asked to
 * watch into certainly a number, certainly not one, or unsure (see classify()).
 *
 * It opens its own connection to the workspace with the libsqlite3 the stdlib module uses
 * (csv_native.py checks that it is the same library in the process, so SQLite's POSIX locks
 * are shared), and each load() call is one BEGIN IMMEDIATE ... COMMIT transaction of at most
 * the rows asked for, run with the GIL released; the caller holds the workspace's write lease
 * around it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static PyObject *Unsupported;
static PyObject *LoadError;

enum { NUMBER = 0, TEXTUAL = 1, UNSURE = 2 };
enum { REC = 1, END = 0, UNSUP = -1 };

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
    const char *data;
    Py_ssize_t size, pos, line_start;
    Py_ssize_t released;     /* pages before this offset were given back (see release_before) */
    long long line;          /* physical lines consumed */
    int delim, quote;        /* quote: -1 for none */
    char **markers;
    Py_ssize_t *marker_len;
    int nmarkers;
    Py_ssize_t max_field, max_line;
    unsigned char *watch;    /* per column: classify its values */
    long long *counts;       /* per column: present, numbers, texts, unsure */
    Field *fields;           /* per * ncols */
    char *arena;
    Py_ssize_t arena_len, arena_cap;
    unsigned char special[256];
    char reason[160];
} Loader;

/* ---- the file ---------------------------------------------------------------------- */

/* 1 when data[0:size] is valid UTF-8 without a NUL (what Python's strict decoder and the
 * text binding accept), else 0. */
static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
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

/* Give the mapped pages before ``upto`` back: the file stays in the page cache, but the
 * process's resident size stays bounded by a transaction's text, not the file's size. A page
 * read again (after a seek back) is simply mapped again. */
static void release_before(Loader *L, Py_ssize_t upto) {
    static long page = 0;
    if (!page) page = sysconf(_SC_PAGESIZE);
    Py_ssize_t end = (upto / page) * page;
    if (L->data && end > L->released) {
        madvise((char *)L->data + L->released, (size_t)(end - L->released), MADV_DONTNEED);
        L->released = end;
    }
}

/* valid_utf8 over the whole mapping, a slice at a time, giving each slice's pages back. The
 * slices end where a character starts (a continuation byte never begins one). */
static int valid_file(Loader *L) {
    const unsigned char *s = (const unsigned char *)L->data;
    Py_ssize_t at = 0, step = 8 << 20;
    while (at < L->size) {
        Py_ssize_t end = at + step < L->size ? at + step : L->size;
        while (end < L->size && (s[end] & 0xC0) == 0x80) end++;
        if (!valid_utf8(s + at, end - at)) return 0;
        at = end;
        release_before(L, at);
    }
    L->released = 0;
    return 1;
}

/* ---- values ------------------------------------------------------------------------ */

static inline int is_space(unsigned char c) {   /* sqlite3Isspace */
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* NUMBER when SQLite's numeric affinity certainly turns the text into a number (an optional
 * '-', 1-18 digits, optionally '.' and 1-15 digits: no spaces, no exponent); TEXTUAL when it
 * certainly does not (a byte that no numeric literal has, or no digit at all); UNSURE
 * otherwise (the caller asks SQLite). */
static int classify(const char *s, Py_ssize_t n) {
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

static inline int is_marker(Loader *L, const char *s, Py_ssize_t n) {
    for (int k = 0; k < L->nmarkers; k++)
        if (L->marker_len[k] == n && (n == 0 || memcmp(L->markers[k], s, (size_t)n) == 0))
            return 1;
    return 0;
}

static inline const char *field_text(Loader *L, Field *f) {
    return f->p ? f->p : L->arena + f->off;
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

/* The line just ended at pos (its terminator consumed): count it and check its length. */
static inline int end_line(Loader *L, Py_ssize_t pos) {
    L->line++;
    if (pos - L->line_start >= L->max_line) {
        snprintf(L->reason, sizeof L->reason, "a line near the limit");
        return -1;
    }
    L->line_start = pos;
    return 0;
}

/* Parse the next record into out[0:ncols]; REC, END (no more records) or UNSUP. Blank lines
 * are skipped (the csv module reads them as no record). On UNSUP, pos is unchanged. */
static int parse_record(Loader *L, Field *out) {
    const char *d = L->data;
    const Py_ssize_t n = L->size;
    Py_ssize_t i = L->pos;
    long long line0 = L->line;
    Py_ssize_t start0 = L->line_start;
    for (;;) {
        if (i >= n) { L->pos = i; return END; }
        if (d[i] == '\n') { i++; if (end_line(L, i)) goto unsup; continue; }
        if (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n') { i += 2; if (end_line(L, i)) goto unsup; continue; }
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
                const char *q = memchr(d + i, L->quote, (size_t)(n - i));
                if (!q) { snprintf(L->reason, sizeof L->reason, "an unterminated quote"); goto unsup; }
                i = q - d + 1;
                if (i < n && d[i] == L->quote) { doubled = 1; i++; continue; }
                break;
            }
            Py_ssize_t e = i - 1;     /* the closing quote */
            for (const char *nl = memchr(d + s, '\n', (size_t)(e - s)); nl;
                 nl = memchr(nl + 1, '\n', (size_t)(d + e - nl - 1))) {
                if (end_line(L, nl - d + 1)) goto unsup;
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
        if (i >= n) break;
        if (d[i] == '\n') { i++; if (end_line(L, i)) goto unsup; break; }
        if (i + 1 < n && d[i + 1] == '\n') { i += 2; if (end_line(L, i)) goto unsup; break; }
        snprintf(L->reason, sizeof L->reason, "a bare CR line end");
        goto unsup;
    }
    if (col != L->ncols) { snprintf(L->reason, sizeof L->reason, "a ragged line"); goto unsup; }
    if (i >= n && i - L->line_start >= L->max_line) {
        snprintf(L->reason, sizeof L->reason, "a line near the limit");
        goto unsup;
    }
    L->pos = i;
    return REC;
unsup:
    L->line = line0;
    L->line_start = start0;
    return UNSUP;
}

/* Markers and the findings' counts of one parsed record. */
static void mark_and_count(Loader *L, Field *row) {
    for (int c = 0; c < L->ncols; c++) {
        Field *f = &row[c];
        const char *t = field_text(L, f);
        if (L->nmarkers && is_marker(L, t, f->len)) { f->null = 1; continue; }
        if (L->watch[c]) {
            long long *k = &L->counts[4 * c];
            k[0]++;
            k[1 + classify(t, f->len)]++;
        }
    }
}

/* ---- SQLite ------------------------------------------------------------------------ */

static int bind_rows(Loader *L, sqlite3_stmt *st, int rows) {
    int idx = 1;
    for (int r = 0; r < rows; r++) {
        Field *row = &L->fields[(Py_ssize_t)r * L->ncols];
        for (int c = 0; c < L->ncols; c++, idx++) {
            Field *f = &row[c];
            int rc = f->null ? sqlite3_bind_null(st, idx)
                             : sqlite3_bind_text(st, idx, field_text(L, f), (int)f->len, SQLITE_STATIC);
            if (rc != SQLITE_OK) return rc;
        }
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- the Python type ---------------------------------------------------------------- */

static void Loader_release(Loader *L) {
    if (L->many) sqlite3_finalize(L->many);
    if (L->one) sqlite3_finalize(L->one);
    L->many = L->one = NULL;
    if (L->db) sqlite3_close_v2(L->db);
    L->db = NULL;
    if (L->data && L->size) munmap((void *)L->data, (size_t)L->size);
    L->data = NULL;
    L->size = 0;
    if (L->markers) {
        for (int k = 0; k < L->nmarkers; k++) PyMem_Free(L->markers[k]);
        PyMem_Free(L->markers);
        L->markers = NULL;
    }
    PyMem_Free(L->marker_len); L->marker_len = NULL;
    PyMem_Free(L->watch); L->watch = NULL;
    PyMem_Free(L->counts); L->counts = NULL;
    PyMem_Free(L->fields); L->fields = NULL;
    free(L->arena); L->arena = NULL;
    L->arena_cap = L->arena_len = 0;
}

static void Loader_dealloc(Loader *L) {
    Loader_release(L);
    Py_TYPE(L)->tp_free((PyObject *)L);
}

static PyObject *sqlite_failure(Loader *L, const char *what) {
    PyErr_Format(LoadError, "%s: %s", what, L->db ? sqlite3_errmsg(L->db) : "no database");
    return NULL;
}

/* Loader(db_path, csv_path, start, delimiter, quote, markers, watch, many_sql, one_sql, per,
 *        max_field_bytes, max_line_bytes, busy_timeout_ms) */
static int Loader_init(Loader *L, PyObject *args, PyObject *kw) {
    (void)kw;
    const char *db_path, *csv_path, *many_sql, *one_sql;
    Py_ssize_t start, max_field, max_line;
    int delim, quote, per, busy_ms;
    PyObject *markers, *watch;
    if (!PyArg_ParseTuple(args, "ssniiOOssinni", &db_path, &csv_path, &start, &delim, &quote,
                          &markers, &watch, &many_sql, &one_sql, &per, &max_field, &max_line,
                          &busy_ms))
        return -1;
    Loader_release(L);
    markers = PySequence_Fast(markers, "markers must be a sequence of bytes");
    if (!markers) return -1;
    watch = PySequence_Fast(watch, "watch must be a sequence");
    if (!watch) { Py_DECREF(markers); return -1; }
    int ok = -1;
    L->ncols = (int)PySequence_Fast_GET_SIZE(watch);
    L->nmarkers = (int)PySequence_Fast_GET_SIZE(markers);
    L->per = per;
    L->delim = delim;
    L->quote = quote;
    L->max_field = max_field;
    L->max_line = max_line;
    L->line = 0;
    L->released = 0;
    if (L->ncols < 1 || per < 1 || delim < 1 || delim > 127 || quote > 127 || quote == delim ||
        delim == '\n' || delim == '\r' || quote == '\n' || quote == '\r') {
        PyErr_SetString(PyExc_ValueError, "bad loader arguments");
        goto done;
    }
    L->markers = PyMem_Calloc((size_t)L->nmarkers + 1, sizeof(char *));
    L->marker_len = PyMem_Calloc((size_t)L->nmarkers + 1, sizeof(Py_ssize_t));
    L->watch = PyMem_Calloc((size_t)L->ncols, 1);
    L->counts = PyMem_Calloc((size_t)L->ncols * 4, sizeof(long long));
    L->fields = PyMem_Calloc((size_t)L->ncols * (size_t)per, sizeof(Field));
    if (!L->markers || !L->marker_len || !L->watch || !L->counts || !L->fields) {
        PyErr_NoMemory();
        goto done;
    }
    for (int k = 0; k < L->nmarkers; k++) {
        char *s; Py_ssize_t n;
        if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(markers, k), &s, &n) < 0) goto done;
        L->markers[k] = PyMem_Malloc((size_t)n + 1);
        if (!L->markers[k]) { PyErr_NoMemory(); goto done; }
        memcpy(L->markers[k], s, (size_t)n);
        L->marker_len[k] = n;
    }
    for (int c = 0; c < L->ncols; c++) {
        int t = PyObject_IsTrue(PySequence_Fast_GET_ITEM(watch, c));
        if (t < 0) goto done;
        L->watch[c] = (unsigned char)t;
    }
    memset(L->special, 0, sizeof L->special);
    L->special[(unsigned char)delim] = L->special['\n'] = L->special['\r'] = 1;
    if (quote >= 0) L->special[(unsigned char)quote] = 1;

    int fd = open(csv_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { PyErr_SetFromErrnoWithFilename(PyExc_OSError, csv_path); goto done; }
    struct stat st;
    if (fstat(fd, &st) < 0) { PyErr_SetFromErrnoWithFilename(PyExc_OSError, csv_path); close(fd); goto done; }
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) { PyErr_SetFromErrnoWithFilename(PyExc_OSError, csv_path); close(fd); goto done; }
        madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
        L->data = m;
        L->size = st.st_size;
    }
    close(fd);
    if (start < 0 || start > L->size) { PyErr_SetString(PyExc_ValueError, "start beyond the file"); goto done; }
    int valid;
    Py_BEGIN_ALLOW_THREADS
    valid = valid_file(L);
    Py_END_ALLOW_THREADS
    if (!valid) { PyErr_SetString(Unsupported, "not plain UTF-8 text"); goto done; }
    L->pos = L->line_start = start;

    if (sqlite3_open_v2(db_path, &L->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite_failure(L, "opening the workspace");
        goto done;
    }
    sqlite3_busy_timeout(L->db, busy_ms);
    if (sqlite3_exec(L->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(L->db, many_sql, -1, SQLITE_PREPARE_PERSISTENT, &L->many, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(L->db, one_sql, -1, SQLITE_PREPARE_PERSISTENT, &L->one, NULL) != SQLITE_OK) {
        sqlite_failure(L, "preparing the insert");
        goto done;
    }
    ok = 0;
done:
    Py_DECREF(markers);
    Py_DECREF(watch);
    if (ok) Loader_release(L);
    return ok;
}

/* record(markers=True): the next record as a list of str (null markers as None unless
 * markers is false), or None at the end. */
static PyObject *Loader_record(Loader *L, PyObject *args) {
    int markers = 1;
    if (!PyArg_ParseTuple(args, "|p", &markers)) return NULL;
    if (!L->db) return sqlite_failure(L, "closed");
    L->arena_len = 0;
    int r = parse_record(L, L->fields);
    if (r == UNSUP) { PyErr_SetString(Unsupported, L->reason); return NULL; }
    if (r == END) Py_RETURN_NONE;
    PyObject *list = PyList_New(L->ncols);
    if (!list) return NULL;
    for (int c = 0; c < L->ncols; c++) {
        Field *f = &L->fields[c];
        const char *t = field_text(L, f);
        PyObject *v;
        if (markers && L->nmarkers && is_marker(L, t, f->len)) { v = Py_None; Py_INCREF(v); }
        else v = PyUnicode_DecodeUTF8(t, f->len, "strict");
        if (!v) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, c, v);
    }
    return list;
}

/* skip_lines(k): skip up to k physical lines (\n or \r\n ends); the number skipped. */
static PyObject *Loader_skip_lines(Loader *L, PyObject *arg) {
    Py_ssize_t k = PyLong_AsSsize_t(arg);
    if (k == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t done = 0;
    while (done < k && L->pos < L->size) {
        const char *nl = memchr(L->data + L->pos, '\n', (size_t)(L->size - L->pos));
        Py_ssize_t end = nl ? nl - L->data : L->size;
        const char *cr = memchr(L->data + L->pos, '\r', (size_t)(end - L->pos));
        if (cr && !(nl && cr - L->data == end - 1)) {
            PyErr_SetString(Unsupported, "a bare CR line end");
            return NULL;
        }
        L->pos = nl ? end + 1 : L->size;
        L->line++;
        L->line_start = L->pos;
        done++;
    }
    return PyLong_FromSsize_t(done);
}

/* load(max_rows): insert up to max_rows records in one transaction; the number inserted
 * (0: no more). Raises Unsupported (after rolling back) or LoadError. */
static PyObject *Loader_load(Loader *L, PyObject *arg) {
    Py_ssize_t max_rows = PyLong_AsSsize_t(arg);
    if (max_rows == -1 && PyErr_Occurred()) return NULL;
    if (!L->db) return sqlite_failure(L, "closed");
    Py_ssize_t done = 0;
    int rc = SQLITE_OK, unsup = 0, failed = 0;
    Py_ssize_t pos0 = L->pos, start0 = L->line_start;
    long long line0 = L->line;
    long long *counts0 = PyMem_Malloc((size_t)L->ncols * 4 * sizeof(long long));
    if (!counts0) return PyErr_NoMemory();
    memcpy(counts0, L->counts, (size_t)L->ncols * 4 * sizeof(long long));
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_exec(L->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    while (rc == SQLITE_OK && done < max_rows) {
        int rows = 0;
        L->arena_len = 0;
        int want = (int)((max_rows - done) < L->per ? (max_rows - done) : L->per);
        while (rows < want) {
            Field *row = &L->fields[(Py_ssize_t)rows * L->ncols];
            int r = parse_record(L, row);
            if (r == UNSUP) { unsup = 1; break; }
            if (r == END) break;
            mark_and_count(L, row);
            rows++;
        }
        if (unsup) break;
        if (rows == L->per) {
            rc = bind_rows(L, L->many, rows);
        } else {
            /* the last rows of the file or of this call, one statement each */
            Field *keep = L->fields;
            for (int r = 0; r < rows && rc == SQLITE_OK; r++) {
                L->fields = keep + (Py_ssize_t)r * L->ncols;
                rc = bind_rows(L, L->one, 1);
            }
            L->fields = keep;
        }
        done += rows;
        if (rows < want) break;
    }
    failed = unsup || rc != SQLITE_OK;
    if (!failed) {
        rc = sqlite3_exec(L->db, "COMMIT", NULL, NULL, NULL);
        failed = rc != SQLITE_OK;
    }
    if (failed && !sqlite3_get_autocommit(L->db)) sqlite3_exec(L->db, "ROLLBACK", NULL, NULL, NULL);
    if (!failed) release_before(L, L->pos);
    Py_END_ALLOW_THREADS
    if (failed) {
        /* nothing of this call stays: the caller may go on with the Python reader */
        L->pos = pos0; L->line = line0; L->line_start = start0;
        memcpy(L->counts, counts0, (size_t)L->ncols * 4 * sizeof(long long));
        PyMem_Free(counts0);
        if (unsup) { PyErr_SetString(Unsupported, L->reason); return NULL; }
        return sqlite_failure(L, "writing the table");
    }
    PyMem_Free(counts0);
    return PyLong_FromSsize_t(done);
}

static PyObject *Loader_counts(Loader *L, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(L->ncols);
    if (!out) return NULL;
    for (int c = 0; c < L->ncols; c++) {
        long long *k = &L->counts[4 * c];
        PyObject *t = Py_BuildValue("(LLLL)", k[0], k[1], k[2], k[3]);
        if (!t) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, c, t);
    }
    return out;
}

static PyObject *Loader_tell(Loader *L, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(nLn)", L->pos, L->line, L->line_start);
}

static PyObject *Loader_seek(Loader *L, PyObject *args) {
    Py_ssize_t pos, start; long long line;
    if (!PyArg_ParseTuple(args, "(nLn)", &pos, &line, &start)) return NULL;
    if (pos < 0 || pos > L->size || start < 0 || start > pos) {
        PyErr_SetString(PyExc_ValueError, "bad position");
        return NULL;
    }
    L->pos = pos; L->line = line; L->line_start = start;
    Py_RETURN_NONE;
}

/* autocheckpoint(pages): the connection's wal_autocheckpoint (0 while a helper checkpoints). */
static PyObject *Loader_autocheckpoint(Loader *L, PyObject *arg) {
    int pages = (int)PyLong_AsLong(arg);
    if (pages == -1 && PyErr_Occurred()) return NULL;
    if (!L->db) return sqlite_failure(L, "closed");
    sqlite3_wal_autocheckpoint(L->db, pages);
    Py_RETURN_NONE;
}

static PyObject *Loader_close(Loader *L, PyObject *Py_UNUSED(ignored)) {
    Loader_release(L);
    Py_RETURN_NONE;
}

static PyMethodDef Loader_methods[] = {
    {"record", (PyCFunction)Loader_record, METH_VARARGS, "the next record (markers as None), or None"},
    {"skip_lines", (PyCFunction)Loader_skip_lines, METH_O, "skip physical lines"},
    {"load", (PyCFunction)Loader_load, METH_O, "insert up to N records in one transaction"},
    {"counts", (PyCFunction)Loader_counts, METH_NOARGS, "per column: (present, numbers, texts, unsure)"},
    {"tell", (PyCFunction)Loader_tell, METH_NOARGS, "the parse position"},
    {"seek", (PyCFunction)Loader_seek, METH_VARARGS, "go back to a position from tell()"},
    {"autocheckpoint", (PyCFunction)Loader_autocheckpoint, METH_O, "set wal_autocheckpoint"},
    {"close", (PyCFunction)Loader_close, METH_NOARGS, "close the connection and the file"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LoaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "engine.io.readers._csvload.Loader",
    .tp_basicsize = sizeof(Loader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Loader_init,
    .tp_dealloc = (destructor)Loader_dealloc,
    .tp_methods = Loader_methods,
    .tp_doc = "A native CSV loader into one workspace table (see the module source).",
};

/* The address of sqlite3_libversion as this module resolved it and the library's file: the
 * caller compares it with the stdlib module's, so both use one SQLite in the process. */
static PyObject *library(PyObject *self, PyObject *Py_UNUSED(ignored)) {
    (void)self;
    Dl_info info;
    const char *file = dladdr((void *)sqlite3_libversion, &info) && info.dli_fname ? info.dli_fname : "";
    return Py_BuildValue("(Kss)", (unsigned long long)(uintptr_t)sqlite3_libversion, file,
                         sqlite3_libversion());
}

/* classify(text): the loader's verdict on one value (0 number, 1 not a number, 2 unsure). */
static PyObject *classify_value(PyObject *self, PyObject *arg) {
    (void)self;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
    if (!s) return NULL;
    return PyLong_FromLong(classify(s, n));
}

static PyMethodDef module_methods[] = {
    {"classify", classify_value, METH_O, "the loader's verdict on one value: 0 number, 1 not, 2 unsure"},
    {"library", library, METH_NOARGS, "(address of sqlite3_libversion, library file, version)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_csvload", "The CSV import's native loader.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__csvload(void) {
    if (PyType_Ready(&LoaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Unsupported = PyErr_NewException("engine.io.readers._csvload.Unsupported", NULL, NULL);
    LoadError = PyErr_NewException("engine.io.readers._csvload.LoadError", NULL, NULL);
    Py_INCREF(&LoaderType);
    if (!Unsupported || !LoadError || PyModule_AddObject(m, "Loader", (PyObject *)&LoaderType) < 0 ||
        PyModule_AddObject(m, "Unsupported", Unsupported) < 0 ||
        PyModule_AddObject(m, "LoadError", LoadError) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(Unsupported);
    Py_INCREF(LoadError);
    return m;
}
