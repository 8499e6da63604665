/* Running a built DAG with zdag_run(), and serving a remote coordinator with zdag_worker_run(). */
#include "zdagpy.h"

#include <stdio.h>

/* The run's log lines, gathered as (level, message) tuples; the log callback is called on
 * the thread that runs zdag_run(), which holds the GIL throughout. */
static void gather_log(void *ctx, zdag_log_level level, const char *message) {
    PyObject *entry = Py_BuildValue("(is)", (int)level, message);
    if (!entry || PyList_Append((PyObject *)ctx, entry) < 0)
        PyErr_Clear(); /* a lost log line must not fail the run */
    Py_XDECREF(entry);
}

/* Reads options[key]: a str into *s, a number into *d / *i, a truth value into *b. Absent or
 * None leaves the field. Returns -1 with a TypeError. */
static int opt_str(PyObject *options, const char *key, const char **s) {
    PyObject *v = PyDict_GetItemString(options, key);
    if (!v || v == Py_None)
        return 0;
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "option %s must be a str", key);
        return -1;
    }
    *s = PyUnicode_AsUTF8(v);
    return *s ? 0 : -1;
}

static int opt_int(PyObject *options, const char *key, int *i) {
    PyObject *v = PyDict_GetItemString(options, key);
    if (!v || v == Py_None)
        return 0;
    long l = PyLong_AsLong(v);
    if (l == -1 && PyErr_Occurred())
        return -1;
    if (l < 0 || l > 1 << 20) {
        PyErr_Format(PyExc_ValueError, "option %s must be 0 to %d (got %ld)", key, 1 << 20, l);
        return -1;
    }
    *i = (int)l;
    return 0;
}

static int opt_double(PyObject *options, const char *key, double *d) {
    PyObject *v = PyDict_GetItemString(options, key);
    if (!v || v == Py_None)
        return 0;
    *d = PyFloat_AsDouble(v);
    return *d == -1.0 && PyErr_Occurred() ? -1 : 0;
}

static int opt_bool(PyObject *options, const char *key, bool *b) {
    PyObject *v = PyDict_GetItemString(options, key);
    if (!v || v == Py_None)
        return 0;
    int t = PyObject_IsTrue(v);
    *b = t == 1;
    return t < 0 ? -1 : 0;
}

/* options[key], a list of str, as a NULL-terminated argv in *argv (the array owned: free it;
 * the strings borrowed from the list's items, alive as long as the dict holds the list). */
static int opt_argv(PyObject *options, const char *key, const char ***argv) {
    PyObject *v = PyDict_GetItemString(options, key);
    if (!v || v == Py_None)
        return 0;
    if (!PyList_Check(v) || PyList_GET_SIZE(v) == 0) {
        PyErr_Format(PyExc_TypeError, "option %s must be a non-empty list of str", key);
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(v);
    const char **a = PyMem_Calloc((size_t)n + 1, sizeof *a);
    if (!a) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(v, i);
        if (!PyUnicode_Check(item) || !(a[i] = PyUnicode_AsUTF8(item))) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "option %s must be a list of str", key);
            PyMem_Free(a);
            return -1;
        }
    }
    *argv = a;
    return 0;
}

/* Fills o from the options dict (keys as zdag_options' fields). Returns 0 or -1. */
static int take_options(PyObject *d, zdag_options *o) {
    int max_result = 0;
    if (opt_int(d, "jobs", &o->jobs) < 0 || opt_int(d, "local_workers", &o->local_workers) < 0 ||
        opt_double(d, "cpus", &o->cpus) < 0 || opt_str(d, "priority", &o->priority) < 0 ||
        opt_bool(d, "keep_going", &o->keep_going) < 0 ||
        opt_str(d, "state_dir", &o->state_dir) < 0 ||
        opt_str(d, "report_path", &o->report_path) < 0 ||
        opt_str(d, "trace_path", &o->trace_path) < 0 || opt_bool(d, "quiet", &o->quiet) < 0 ||
        opt_bool(d, "resume", &o->resume) < 0 || opt_str(d, "name", &o->name) < 0 ||
        opt_int(d, "max_result_mb", &max_result) < 0 || opt_str(d, "listen", &o->listen) < 0 ||
        opt_str(d, "curve_secret", &o->curve_secret) < 0 ||
        opt_str(d, "authorized_keys", &o->authorized_keys) < 0 ||
        opt_bool(d, "insecure", &o->insecure) < 0 || opt_str(d, "slurm", &o->slurm) < 0 ||
        opt_int(d, "slurm_max_jobs", &o->slurm_max_jobs) < 0 ||
        opt_double(d, "slurm_idle", &o->slurm_idle) < 0)
        return -1;
    const char **worker = NULL; /* freed by the caller (o->slurm_worker) */
    if (opt_argv(d, "slurm_worker", &worker) < 0)
        return -1;
    o->slurm_worker = worker;
    /* workers=0 in Python is `zdag run -w 0`: no local executors, remote workers only. */
    PyObject *remote_only = PyDict_GetItemString(d, "remote_only");
    if (remote_only && PyObject_IsTrue(remote_only) == 1)
        o->local_workers = -1;
    o->max_result = (size_t)max_result << 20;
    return 0;
}

/* One node's outcome: (name, status, error or None, attempts, result bytes/str or None).
 * zone holds the unpacked result (cleared here); statuses caches the status names' str. */
static PyObject *outcome_of(const zdag_result *res, size_t i, msgpack_zone *zone,
                            PyObject *statuses) {
    const char *node = zdag_result_node(res, i), *error = zdag_result_error(res, node);
    const char *data = NULL;
    size_t len = 0;
    bool is_msgpack = false;
    PyObject *value = NULL;
    if (zdag_result_value(res, node, &data, &len, &is_msgpack) == 0) {
        msgpack_object obj;
        if (!is_msgpack)
            value = PyUnicode_DecodeUTF8(data, (Py_ssize_t)len, "surrogateescape");
        else if (zdag_result_object(res, node, zone, &obj) == 0 && obj.type == MSGPACK_OBJECT_BIN)
            value = PyBytes_FromStringAndSize(obj.via.bin.ptr, obj.via.bin.size);
        msgpack_zone_clear(zone);
        if (!value && PyErr_Occurred())
            return NULL;
    }
    if (!value) {
        value = Py_None;
        Py_INCREF(value);
    }
    const char *status_name = zdag_node_status_name(zdag_result_status(res, node));
    PyObject *status = PyDict_GetItemString(statuses, status_name); /* borrowed */
    if (!status) {
        status = PyUnicode_InternFromString(status_name);
        if (!status || PyDict_SetItemString(statuses, status_name, status) < 0) {
            Py_XDECREF(status);
            Py_DECREF(value);
            return NULL;
        }
        Py_DECREF(status); /* the dict holds it */
    }
    return Py_BuildValue("(sOzIN)", node, status, error, zdag_result_attempts(res, node), value);
}

/* (exit_code, [outcome...], log) of a finished run. */
static PyObject *outcomes_of(const zdag_result *res, PyObject *log) {
    size_t n = zdag_result_count(res);
    PyObject *list = PyList_New((Py_ssize_t)n), *statuses = PyDict_New();
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 256)) {
        Py_XDECREF(list);
        Py_XDECREF(statuses);
        return PyErr_NoMemory();
    }
    if (!statuses)
        Py_CLEAR(list);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *o = outcome_of(res, i, &zone, statuses);
        if (!o) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, o);
    }
    msgpack_zone_destroy(&zone);
    Py_XDECREF(statuses);
    return list ? Py_BuildValue("(iNO)", zdag_result_exit_code(res), list, log) : NULL;
}

/* Raises Error for a run that could not start: libzdag's detail, then what it logged as
 * errors (which name the node, e.g. "node \"x\" needs 3 cpus, this host has 2"). */
static void raise_with_log(int code, const char *detail, PyObject *log) {
    PyObject *text = PyUnicode_FromString(detail ? detail : "");
    for (Py_ssize_t i = 0; text && i < PyList_GET_SIZE(log); i++) {
        PyObject *entry = PyList_GET_ITEM(log, i);
        if (PyLong_AsLong(PyTuple_GET_ITEM(entry, 0)) != ZDAG_LOG_ERROR)
            continue;
        PyObject *line = PyUnicode_FromFormat("%U\n%U", text, PyTuple_GET_ITEM(entry, 1));
        Py_SETREF(text, line);
    }
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    zdagpy_raise(code, s ? s : detail);
    Py_XDECREF(text);
}

PyObject *zdagpy_run(PyObject *self, PyObject *args) {
    PyObject *dag_obj, *options;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO!:run", &dag_obj, &PyDict_Type, &options))
        return NULL;
    zdag_dag *dag = zdagpy_dag_of(dag_obj);
    zdag_options o;
    zdag_options_init(&o);
    PyObject *log = PyList_New(0);
    if (!dag || !log || take_options(options, &o) < 0) {
        PyMem_Free((void *)o.slurm_worker);
        Py_XDECREF(log);
        return NULL;
    }
    o.log = gather_log;
    o.log_ctx = log;
    /* Executors are forked from this thread, which keeps the GIL for the whole run: the
     * children then hold it too (see call.c), and no other Python thread runs meanwhile. */
    zdag_result *res = NULL;
    int rc = zdag_run(dag, &o, &res);
    PyMem_Free((void *)o.slurm_worker);
    PyObject *out = NULL;
    if (rc < 0)
        raise_with_log(rc, zdag_dag_error(dag), log);
    else
        out = outcomes_of(res, log);
    zdag_result_free(&res);
    Py_DECREF(log);
    return out;
}

/* Fills w from the options dict (keys as zdag_worker_options' fields). Returns 0 or -1. */
static int take_worker_options(PyObject *d, zdag_worker_options *w) {
    int slots = 0;
    w->cpus = -1;
    if (opt_str(d, "connect", &w->connect) < 0 || opt_int(d, "slots", &slots) < 0 ||
        opt_double(d, "cpus", &w->cpus) < 0 || opt_str(d, "host_id", &w->host_id) < 0 ||
        opt_str(d, "curve_secret", &w->curve_secret) < 0 ||
        opt_str(d, "coordinator_key", &w->coordinator_key) < 0 ||
        opt_bool(d, "insecure", &w->insecure) < 0 || opt_bool(d, "forever", &w->forever) < 0 ||
        opt_double(d, "idle_exit", &w->idle_exit) < 0 ||
        opt_str(d, "allocation", &w->allocation) < 0)
        return -1;
    w->slots = (unsigned)slots;
    if (!w->connect) {
        PyErr_SetString(PyExc_ValueError, "a worker needs connect (the coordinator's endpoint)");
        return -1;
    }
    return 0;
}

PyObject *zdagpy_serve(PyObject *self, PyObject *args) {
    PyObject *options;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!:serve", &PyDict_Type, &options))
        return NULL;
    zdag_worker_options w;
    zdag_worker_options_init(&w);
    PyObject *q = PyDict_GetItemString(options, "quiet");
    int quiet = q ? PyObject_IsTrue(q) : 0;
    if (quiet < 0 || take_worker_options(options, &w) < 0)
        return NULL;
    /* A worker is a program's main loop (the process runs as one, with forever for as long as
     * the service lives): its messages are shown as `zdag worker` shows them, or dropped with
     * quiet, never gathered. */
    w.log = quiet ? NULL : zdag_log_stderr;
    zdag_dag *dag = zdag_dag_new();
    int rc = dag ? zdag_dag_register(dag, ZDAGPY_FN, zdagpy_call) : ZDAG_ENOMEM;
    if (rc < 0) {
        zdag_dag_free(&dag);
        return zdagpy_raise(rc, "cannot set up the worker");
    }
    int status = zdag_worker_run(dag, &w);
    zdag_dag_free(&dag);
    return PyLong_FromLong(status);
}
