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
 * The file is read in chunks into a buffer of its own (never mapped: a file truncated while it is
 * read must not crash the worker with SIGBUS), each chunk checked as UTF-8 as it comes; at the
 * end the file must still have the size and modification time it had at the start, or the
 * import fails ("the file changed while it was read").
 *
 * It opens its own connection to the workspace with the libsqlite3 the stdlib module uses
 * (csv_native.py checks that it is the same library in the process, so SQLite's POSIX locks
 * are shared), and each load() call is one BEGIN IMMEDIATE ... COMMIT transaction of at most
 * the rows asked for, run with the GIL released; the caller holds the workspace's write lease
 * around it.
 */
#include "_csvparse.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static PyObject *Unsupported;
static PyObject *LoadError;
static PyObject *FileChanged;

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
    if (L->fd > 0) close(L->fd);
    L->fd = -1;
    free(L->buf); L->buf = NULL;
    L->cap = L->len = 0;
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
    PyErr_Format(LoadError, "%s: %s", what, L->db ? sqlite3_errmsg(L->db) : "the loader is closed");
    return NULL;
}

/* Loader(db_path, csv_path, start, delimiter, quote, markers, watch, many_sql, one_sql, per,
 *        max_field_bytes, max_line_bytes, busy_timeout_ms, chunk_bytes, size, mtime_ns)
 * size and mtime_ns: the file's when the Python reader read its start (FileChanged if not). */
static int Loader_init(Loader *L, PyObject *args, PyObject *kw) {
    (void)kw;
    const char *db_path, *csv_path, *many_sql, *one_sql;
    Py_ssize_t start, max_field, max_line, chunk, size;
    long long mtime_ns;
    int delim, quote, per, busy_ms;
    PyObject *markers, *watch;
    if (!PyArg_ParseTuple(args, "ssniiOOssinninnL", &db_path, &csv_path, &start, &delim, &quote,
                          &markers, &watch, &many_sql, &one_sql, &per, &max_field, &max_line,
                          &busy_ms, &chunk, &size, &mtime_ns))
        return -1;
    if (L->fd == 0) L->fd = -1;     /* a new object: calloc'ed */
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
    L->max_record = (Py_ssize_t)L->ncols * (max_field + 3) + max_line;
    L->chunk = chunk;
    L->line = 0;
    L->base = L->len = L->checked = 0;
    L->eof = 0;
    if (L->ncols < 1 || per < 1 || delim < 1 || delim > 127 || quote > 127 || quote == delim ||
        delim == '\n' || delim == '\r' || quote == '\n' || quote == '\r' || max_field < 1 || max_line < 1 ||
        chunk < 1) {
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

    L->fd = open(csv_path, O_RDONLY | O_CLOEXEC);
    if (L->fd < 0) { PyErr_SetFromErrnoWithFilename(PyExc_OSError, csv_path); goto done; }
    struct stat st;
    if (fstat(L->fd, &st) < 0) { PyErr_SetFromErrnoWithFilename(PyExc_OSError, csv_path); goto done; }
    L->size = st.st_size;
    L->mtime = st.st_mtim;
    if (size != L->size || mtime_ns != (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec) {
        PyErr_SetString(FileChanged, "the file changed while it was read");
        goto done;
    }
    if (start < 0 || start > L->size) { PyErr_SetString(PyExc_ValueError, "start beyond the file"); goto done; }
    /* bytes before start (a byte-order mark) are not read; they count as checked */
    L->pos = L->line_start = L->base = L->checked = start;

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
    if (!L->db) return sqlite_failure(L, "reading");
    int r = csv_next_record(L);
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
    if (!L->db) return sqlite_failure(L, "reading");
    Py_ssize_t done = 0;
    while (done < k) {
        Py_ssize_t at = L->pos - L->base, n = usable(L);
        const char *nl = at < n ? memchr(L->buf + at, '\n', (size_t)(n - at)) : NULL;
        if (!nl && more_to_come(L)) {
            if (csv_refill(L)) { PyErr_SetString(Unsupported, L->reason); return NULL; }
            continue;
        }
        if (!nl && at >= n) break;                    /* the end of the file */
        Py_ssize_t end = nl ? nl - L->buf : n;
        const char *cr = memchr(L->buf + at, '\r', (size_t)(end - at));
        if (cr && !(nl && cr - L->buf == end - 1)) {
            PyErr_SetString(Unsupported, "a bare CR line end");
            return NULL;
        }
        L->pos = L->base + (nl ? end + 1 : n);
        L->line++;
        L->line_start = L->pos;
        done++;
    }
    return PyLong_FromSsize_t(done);
}

/* Bind and insert the rows parsed into L->fields: one many-row statement when there are per
 * of them, else one statement each. */
static int insert_rows(Loader *L, int rows) {
    if (rows == L->per) return bind_rows(L, L->many, rows);
    Field *keep = L->fields;
    int rc = SQLITE_OK;
    for (int r = 0; r < rows && rc == SQLITE_OK; r++) {
        L->fields = keep + (Py_ssize_t)r * L->ncols;
        rc = bind_rows(L, L->one, 1);
    }
    L->fields = keep;
    return rc;
}

/* load(max_rows): insert up to max_rows records in one transaction; the number inserted
 * (0: no more). Raises Unsupported (after rolling back) or LoadError. */
static PyObject *Loader_load(Loader *L, PyObject *arg) {
    Py_ssize_t max_rows = PyLong_AsSsize_t(arg);
    if (max_rows == -1 && PyErr_Occurred()) return NULL;
    if (!L->db) return sqlite_failure(L, "writing the table");
    Py_ssize_t done = 0;
    int rc = SQLITE_OK, unsup = 0, changed = 0, failed = 0;
    Py_ssize_t pos0 = L->pos, start0 = L->line_start;
    long long line0 = L->line;
    long long *counts0 = PyMem_Malloc((size_t)L->ncols * 4 * sizeof(long long));
    if (!counts0) return PyErr_NoMemory();
    memcpy(counts0, L->counts, (size_t)L->ncols * 4 * sizeof(long long));
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_exec(L->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    while (rc == SQLITE_OK && done < max_rows) {
        int rows = 0, r = REC;
        L->arena_len = 0;
        int want = (int)((max_rows - done) < L->per ? (max_rows - done) : L->per);
        while (rows < want) {
            Field *row = &L->fields[(Py_ssize_t)rows * L->ncols];
            r = csv_parse_record(L, row);
            if (r != REC) break;
            csv_mark_and_count(L, row);
            rows++;
        }
        if (r == UNSUP) {
            /* a shape the Python reader should see, unless the file moved under us */
            if (csv_file_same(L)) unsup = 1; else changed = 1;
            break;
        }
        rc = insert_rows(L, rows);      /* before a refill: the rows point into the buffer */
        done += rows;
        if (rc != SQLITE_OK) break;
        if (r == MORE && csv_refill(L)) {
            if (csv_file_same(L)) unsup = 1; else changed = 1;
            break;
        }
        if (r == END) {
            changed = !(csv_file_same(L) && L->base + L->len == L->size);   /* read what was there */
            break;
        }
    }
    failed = unsup || changed || rc != SQLITE_OK;
    if (!failed) {
        rc = sqlite3_exec(L->db, "COMMIT", NULL, NULL, NULL);
        failed = rc != SQLITE_OK;
    }
    if (failed && !sqlite3_get_autocommit(L->db)) sqlite3_exec(L->db, "ROLLBACK", NULL, NULL, NULL);
    Py_END_ALLOW_THREADS
    if (failed) {
        /* nothing of this call stays: the caller may go on with the Python reader */
        L->pos = pos0; L->line = line0; L->line_start = start0;
        memcpy(L->counts, counts0, (size_t)L->ncols * 4 * sizeof(long long));
        PyMem_Free(counts0);
        if (unsup) { PyErr_SetString(Unsupported, L->reason); return NULL; }
        if (changed) {
            PyErr_SetString(FileChanged, "the file changed while it was read");
            return NULL;
        }
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

/* seek(position from tell()): parse from there again (the buffer is read again when it no
 * longer holds it). */
static PyObject *Loader_seek(Loader *L, PyObject *args) {
    Py_ssize_t pos, start; long long line;
    if (!PyArg_ParseTuple(args, "(nLn)", &pos, &line, &start)) return NULL;
    if (pos < 0 || pos > L->size || start < 0 || start > pos || pos > L->checked) {
        PyErr_SetString(PyExc_ValueError, "bad position");
        return NULL;
    }
    if (pos < L->base) {      /* no longer buffered: read again from there */
        L->base = pos;
        L->len = 0;
        L->eof = 0;
    }
    L->pos = pos; L->line = line; L->line_start = start;
    Py_RETURN_NONE;
}

/* autocheckpoint(pages): the connection's wal_autocheckpoint (0 while a helper checkpoints). */
static PyObject *Loader_autocheckpoint(Loader *L, PyObject *arg) {
    int pages = (int)PyLong_AsLong(arg);
    if (pages == -1 && PyErr_Occurred()) return NULL;
    if (!L->db) return sqlite_failure(L, "checkpoints");
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

/* csv_classify(text): the loader's verdict on one value (0 number, 1 not a number, 2 unsure). */
static PyObject *classify_value(PyObject *self, PyObject *arg) {
    (void)self;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
    if (!s) return NULL;
    return PyLong_FromLong(csv_classify(s, n));
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
    FileChanged = PyErr_NewException("engine.io.readers._csvload.FileChanged", NULL, NULL);
    Py_INCREF(&LoaderType);
    if (!Unsupported || !LoadError || !FileChanged ||
        PyModule_AddObject(m, "Loader", (PyObject *)&LoaderType) < 0 ||
        PyModule_AddObject(m, "Unsupported", Unsupported) < 0 ||
        PyModule_AddObject(m, "LoadError", LoadError) < 0 ||
        PyModule_AddObject(m, "FileChanged", FileChanged) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(Unsupported);
    Py_INCREF(LoadError);
    Py_INCREF(FileChanged);
    return m;
}
