/* The one libzdag function every Python node runs: it hands the node's call to the Python
 * runtime (zdag/runtime.py's execute()) and packs what that returns. */
#include "zdagpy.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

/* The Python callable execute(node, attempt, module, qualname, payload, deps) -> (ok, data),
 * set by zdag.runtime at import (a new reference; NULL until then). Global because libzdag
 * calls a plain C function pointer with no context; one per interpreter process. */
static PyObject *execute_fn;

/* The process the interpreter was last made whole in after a fork (see ensure_after_fork). */
static pid_t whole_in;

/* Set in the child by every fork() (a pthread_atfork handler): only then can the process differ
 * from whole_in, so a call tests a flag, not getpid() (a system call) each time. */
static volatile sig_atomic_t forked;

static void child_after_fork(void) {
    forked = 1;
}

PyObject *zdagpy_set_runtime(PyObject *self, PyObject *fn) {
    static bool handler_set;
    (void)self;
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "set_runtime() needs a callable");
        return NULL;
    }
    if (!handler_set) {
        int rc = pthread_atfork(NULL, NULL, child_after_fork);
        if (rc != 0) {
            errno = rc;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        handler_set = true;
    }
    Py_INCREF(fn);
    Py_XSETREF(execute_fn, fn);
    whole_in = getpid();
    forked = 0;
    Py_RETURN_NONE;
}

/* An executor is forked by libzdag from the thread that called zdag_run() while it held the
 * GIL, so the child's only thread holds it too. Python's own fork() then calls
 * PyOS_AfterFork_Child(): it resets the interpreter's thread state and locks and runs the
 * os.register_at_fork() hooks. libzdag's fork cannot, so the first call in a new process
 * does. */
static void ensure_after_fork(void) {
    if (!forked)
        return;
    forked = 0;
    pid_t me = getpid();
    if (me == whole_in)
        return;
    PyOS_AfterFork_Child();
    whole_in = me;
}

/* A msgpack string's bytes as a Python str (UTF-8, undecodable bytes kept as surrogates). */
static PyObject *str_of(const msgpack_object *o) {
    if (o->type != MSGPACK_OBJECT_STR)
        return NULL;
    return PyUnicode_DecodeUTF8(o->via.str.ptr, o->via.str.size, "surrogateescape");
}

/* The deps' results as {name: bytes (a pickle) or str (a command's stdout)}; NULL when the
 * call is malformed (call failed). */
static PyObject *deps_of(zdag_call *call, const msgpack_object *names) {
    PyObject *deps = PyDict_New();
    for (uint32_t i = 0; deps && i < names->via.array.size; i++) {
        const msgpack_object *n = &names->via.array.ptr[i];
        char name[256];
        if (n->type != MSGPACK_OBJECT_STR || n->via.str.size >= sizeof name) {
            zdag_call_fail(call, "python: malformed dependency name");
            Py_CLEAR(deps);
            break;
        }
        memcpy(name, n->via.str.ptr, n->via.str.size);
        name[n->via.str.size] = '\0';
        const msgpack_object *r = zdag_call_dep(call, name);
        PyObject *v = NULL;
        if (r && r->type == MSGPACK_OBJECT_BIN)
            v = PyBytes_FromStringAndSize(r->via.bin.ptr, r->via.bin.size);
        else if (r && r->type == MSGPACK_OBJECT_STR)
            v = str_of(r);
        else
            zdag_call_fail(call, "python: dependency \"%s\" gave no Python result", name);
        if (!v || PyDict_SetItemString(deps, name, v) < 0)
            Py_CLEAR(deps);
        Py_XDECREF(v);
    }
    return deps;
}

/* Calls execute() with the call's parts; returns its result (a new reference) or NULL with
 * the call failed. args is [module, qualname, payload, [dep names]]. */
static PyObject *call_runtime(zdag_call *call) {
    const msgpack_object *a = zdag_call_args(call);
    if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != 4 ||
        a->via.array.ptr[2].type != MSGPACK_OBJECT_BIN ||
        a->via.array.ptr[3].type != MSGPACK_OBJECT_ARRAY) {
        zdag_call_fail(call, "python: the node's args are not a Python call");
        return NULL;
    }
    const msgpack_object *p = a->via.array.ptr;
    if (p[0].type != MSGPACK_OBJECT_STR || p[1].type != MSGPACK_OBJECT_STR) {
        zdag_call_fail(call, "python: the node's args are not a Python call");
        return NULL;
    }
    PyObject *module = str_of(&p[0]), *qualname = str_of(&p[1]);
    PyObject *payload = PyBytes_FromStringAndSize(p[2].via.bin.ptr, p[2].via.bin.size);
    PyObject *deps = module && qualname && payload ? deps_of(call, &p[3]) : NULL;
    PyObject *node = deps ? PyUnicode_FromString(zdag_call_node(call)) : NULL;
    PyObject *attempt = node ? PyLong_FromUnsignedLong(zdag_call_attempt(call)) : NULL;
    PyObject *out = NULL;
    if (attempt) {
        PyObject *argv[] = {node, attempt, module, qualname, payload, deps};
        out = PyObject_Vectorcall(execute_fn, argv, sizeof argv / sizeof argv[0], NULL);
    }
    Py_XDECREF(node);
    Py_XDECREF(attempt);
    Py_XDECREF(module);
    Py_XDECREF(qualname);
    Py_XDECREF(payload);
    Py_XDECREF(deps);
    return out;
}

/* Packs execute()'s (True, pickle) as a msgpack bin, or fails the call with (False, text). */
static int take_outcome(zdag_call *call, PyObject *outcome, msgpack_packer *out) {
    char *data = NULL;
    Py_ssize_t len = 0;
    if (!PyTuple_Check(outcome) || PyTuple_GET_SIZE(outcome) != 2) {
        zdag_call_fail(call, "python: the runtime returned no (ok, data) pair");
        return 1;
    }
    PyObject *ok = PyTuple_GET_ITEM(outcome, 0), *body = PyTuple_GET_ITEM(outcome, 1);
    if (ok == Py_True && !PyBytes_Check(body)) {
        zdag_call_fail(call, "python: the runtime's result is not bytes (a pickle)");
        return 1;
    }
    if (ok == Py_True && PyBytes_AsStringAndSize(body, &data, &len) == 0) {
        if (msgpack_pack_bin(out, (size_t)len) != 0 ||
            msgpack_pack_bin_body(out, data, (size_t)len) != 0) {
            zdag_call_fail(call, "python: cannot pack the result");
            return 1;
        }
        return 0;
    }
    const char *text = PyUnicode_Check(body) ? PyUnicode_AsUTF8(body) : NULL;
    zdag_call_fail(call, "%s", text ? text : "python: the node failed");
    PyErr_Clear(); /* (text that is not UTF-8): the next call must not find it set */
    return 1;
}

int zdagpy_call(zdag_call *call, msgpack_packer *out) {
    ensure_after_fork();
    if (!execute_fn) {
        zdag_call_fail(call, "python: the zdag runtime is not loaded in this process");
        return 1;
    }
    PyObject *outcome = call_runtime(call);
    int rc = 1;
    if (outcome)
        rc = take_outcome(call, outcome, out);
    else if (PyErr_Occurred()) {
        /* execute() catches what the node raises: this is the runtime itself failing. */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *s = value ? PyObject_Str(value) : NULL;
        const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
        zdag_call_fail(call, "python: the zdag runtime failed: %s", text ? text : "?");
        PyErr_Clear();
        Py_XDECREF(s);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    Py_XDECREF(outcome);
    return rc;
}
