/* Building a libzdag DAG from the Python graph's node list, in one call. */
#include "zdagpy.h"

typedef struct {
    PyObject_HEAD zdag_dag *dag; /* owned */
} dag_object;

static void dag_dealloc(PyObject *self) {
    zdag_dag_free(&((dag_object *)self)->dag);
    Py_TYPE(self)->tp_free(self);
}

PyTypeObject zdagpy_dag_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zdag._zdag.Dag",
    .tp_basicsize = sizeof(dag_object),
    .tp_dealloc = dag_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A libzdag DAG of Python calls, made by build().",
};

zdag_dag *zdagpy_dag_of(PyObject *obj) {
    if (!PyObject_TypeCheck(obj, &zdagpy_dag_type)) {
        PyErr_SetString(PyExc_TypeError, "expected a zdag._zdag.Dag");
        return NULL;
    }
    return ((dag_object *)obj)->dag;
}

/* The node's libzdag args: [module, qualname, payload, [dep names]]. Returns 0 or -1. */
static int pack_call(msgpack_packer *pk, PyObject *module, PyObject *qualname, PyObject *payload,
                     PyObject *deps) {
    Py_ssize_t mlen, qlen, n = PySequence_Fast_GET_SIZE(deps);
    const char *m = PyUnicode_AsUTF8AndSize(module, &mlen);
    const char *q = PyUnicode_AsUTF8AndSize(qualname, &qlen);
    if (!m || !q || !PyBytes_Check(payload)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a node's payload must be bytes");
        return -1;
    }
    msgpack_pack_array(pk, 4);
    msgpack_pack_str_with_body(pk, m, (size_t)mlen);
    msgpack_pack_str_with_body(pk, q, (size_t)qlen);
    msgpack_pack_bin_with_body(pk, PyBytes_AS_STRING(payload), (size_t)PyBytes_GET_SIZE(payload));
    msgpack_pack_array(pk, (size_t)n);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len;
        const char *d = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(deps, i), &len);
        if (!d)
            return -1;
        msgpack_pack_str_with_body(pk, d, (size_t)len);
    }
    return 0;
}

/* Applies opts (priority, sequential, pool, cpus, resources, retries, timeout, version,
 * estimate; None = unset) to node. Returns a libzdag code, or -100 with a Python error set. */
static int apply_options(zdag_dag *dag, const char *node, PyObject *opts) {
    if (opts == Py_None)
        return 0;
    if (!PyTuple_Check(opts) || PyTuple_GET_SIZE(opts) != 9) {
        PyErr_SetString(PyExc_TypeError, "node options must be a 9-tuple");
        return -100;
    }
    PyObject *o[9];
    for (int i = 0; i < 9; i++)
        o[i] = PyTuple_GET_ITEM(opts, i) == Py_None ? NULL : PyTuple_GET_ITEM(opts, i);
    int rc = 0;
    if (o[0] && rc == 0)
        rc = zdag_node_set_priority(dag, node, PyLong_AsLongLong(o[0]));
    if (o[1] && rc == 0)
        rc = zdag_node_set_sequential(dag, node, PyObject_IsTrue(o[1]) == 1);
    if (o[2] && rc == 0)
        rc = zdag_node_set_pool(dag, node, PyUnicode_AsUTF8(o[2]));
    if (o[3] && rc == 0)
        rc = zdag_node_set_cpus(dag, node, PyFloat_AsDouble(o[3]));
    if (o[4] && rc == 0) {
        PyObject *k, *v;
        Py_ssize_t at = 0;
        while (rc == 0 && PyDict_Next(o[4], &at, &k, &v))
            rc = zdag_node_set_resource(dag, node, PyUnicode_AsUTF8(k), PyFloat_AsDouble(v));
    }
    if (o[5] && rc == 0)
        rc = zdag_node_set_retries(dag, node, (int)PyLong_AsLong(o[5]));
    if (o[6] && rc == 0)
        rc = zdag_node_set_timeout(dag, node, PyFloat_AsDouble(o[6]));
    if (o[7] && rc == 0)
        rc = zdag_node_set_version(dag, node, PyUnicode_AsUTF8(o[7]));
    if (o[8] && rc == 0)
        rc = zdag_node_set_estimate(dag, node, PyFloat_AsDouble(o[8]));
    return PyErr_Occurred() ? -100 : rc;
}

/* Adds one node (name, module, qualname, payload, deps, opts). Returns a libzdag code, or
 * -100 with a Python error set. */
static int add_node(zdag_dag *dag, PyObject *t, msgpack_sbuffer *sb, msgpack_packer *pk) {
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 6) {
        PyErr_SetString(PyExc_TypeError, "a node must be a 6-tuple");
        return -100;
    }
    const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(t, 0));
    PyObject *deps =
        name ? PySequence_Fast(PyTuple_GET_ITEM(t, 4), "deps must be a sequence") : NULL;
    int rc = -100;
    msgpack_sbuffer_clear(sb);
    if (deps && pack_call(pk, PyTuple_GET_ITEM(t, 1), PyTuple_GET_ITEM(t, 2),
                          PyTuple_GET_ITEM(t, 3), deps) == 0) {
        rc = zdag_dag_add_fn(dag, name, ZDAGPY_FN);
        if (rc == 0)
            rc = zdag_node_set_args(dag, name, sb->data, sb->size);
        for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(deps); i++)
            rc = zdag_node_add_dep(dag, name, PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(deps, i)));
        if (rc == 0)
            rc = apply_options(dag, name, PyTuple_GET_ITEM(t, 5));
    }
    Py_XDECREF(deps);
    return rc;
}

/* A new DAG with the Python function registered and the pools declared; NULL with an error. */
static zdag_dag *new_dag(PyObject *pools) {
    zdag_dag *dag = zdag_dag_new();
    if (!dag) {
        PyErr_NoMemory();
        return NULL;
    }
    int rc = zdag_dag_register(dag, ZDAGPY_FN, zdagpy_call);
    PyObject *k, *v;
    Py_ssize_t at = 0;
    while (rc == 0 && pools != Py_None && PyDict_Next(pools, &at, &k, &v)) {
        const char *pool = PyUnicode_AsUTF8(k);
        long capacity = PyLong_AsLong(v);
        if (!pool || PyErr_Occurred())
            break;
        rc = zdag_dag_add_pool(dag, pool, (int)capacity);
    }
    if (rc < 0 && !PyErr_Occurred())
        zdagpy_raise(rc, zdag_dag_error(dag));
    if (PyErr_Occurred())
        zdag_dag_free(&dag);
    return dag;
}

PyObject *zdagpy_build(PyObject *self, PyObject *args) {
    PyObject *nodes, *pools;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO:build", &nodes, &pools))
        return NULL;
    if (pools != Py_None && !PyDict_Check(pools))
        return PyErr_Format(PyExc_TypeError, "pools must be a dict or None");
    PyObject *seq = PySequence_Fast(nodes, "nodes must be a sequence");
    if (!seq)
        return NULL;
    dag_object *obj = PyObject_New(dag_object, &zdagpy_dag_type);
    if (obj && !(obj->dag = new_dag(pools)))
        Py_CLEAR(obj);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (Py_ssize_t i = 0; obj && i < PySequence_Fast_GET_SIZE(seq); i++) {
        int rc = add_node(obj->dag, PySequence_Fast_GET_ITEM(seq, i), &sb, &pk);
        if (rc < 0) {
            if (rc != -100)
                zdagpy_raise(rc, zdag_dag_error(obj->dag));
            Py_CLEAR(obj);
        }
    }
    msgpack_sbuffer_destroy(&sb);
    Py_DECREF(seq);
    return (PyObject *)obj;
}
