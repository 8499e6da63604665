/* The zdag._zdag extension module: its methods, its Error type, libzdag's version. */
#include "zdagpy.h"

PyObject *zdagpy_error;

PyObject *zdagpy_raise(int code, const char *detail) {
    if (detail && *detail)
        PyErr_Format(zdagpy_error, "%s: %s", zdag_strerror(code), detail);
    else
        PyErr_Format(zdagpy_error, "%s", zdag_strerror(code));
    return NULL;
}

static PyMethodDef methods[] = {
    {"set_runtime", zdagpy_set_runtime, METH_O,
     "set_runtime(execute): the callable each Python node's call is handed to."},
    {"build", zdagpy_build, METH_VARARGS,
     "build(nodes, pools) -> Dag: nodes are (name, module, qualname, payload, deps, options)."},
    {"run", zdagpy_run, METH_VARARGS,
     "run(dag, options) -> (exit_code, [(name, status, error, attempts, result)], log)."},
    {"serve", zdagpy_serve, METH_VARARGS,
     "serve(options) -> status: run as a remote worker (zdag_worker_run)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "zdag._zdag",
    .m_doc = "The C half of zdag: libzdag's DAGs of Python calls.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__zdag(void) {
    if (PyType_Ready(&zdagpy_dag_type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    zdagpy_error = PyErr_NewException("zdag._zdag.Error", PyExc_RuntimeError, NULL);
    if (!zdagpy_error || PyModule_AddObjectRef(m, "Error", zdagpy_error) < 0 ||
        PyModule_AddObjectRef(m, "Dag", (PyObject *)&zdagpy_dag_type) < 0 ||
        PyModule_AddStringConstant(m, "LIBZDAG_VERSION", zdag_version_string()) < 0 ||
        PyModule_AddStringConstant(m, "FN", ZDAGPY_FN) < 0 ||
        PyModule_AddIntConstant(m, "ERROR_MAX", ZDAG_ERROR_MAX) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
