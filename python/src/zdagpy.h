/* zdag._zdag, the C half of the Python module: builds libzdag DAGs of Python calls, runs them
 * on forked executors and serves them as a remote worker. */
#ifndef ZDAGPY_H
#define ZDAGPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <zdag.h>

/* The libzdag function every Python node calls (registered as ZDAGPY_FN). */
#define ZDAGPY_FN "python"

/* zdag_fn of every Python node: calls the runtime's execute() (see call.c). */
int zdagpy_call(zdag_call *call, msgpack_packer *out);

/* _zdag.set_runtime(execute): the callable zdagpy_call() hands each call to. */
PyObject *zdagpy_set_runtime(PyObject *self, PyObject *fn);

/* _zdag.build(nodes, pools) -> Dag (see dag.c). */
PyObject *zdagpy_build(PyObject *self, PyObject *args);

/* _zdag.run(dag, options) -> (exit_code, outcomes, log) (see run.c). */
PyObject *zdagpy_run(PyObject *self, PyObject *args);

/* _zdag.serve(options) -> exit status of zdag_worker_run() (see run.c). */
PyObject *zdagpy_serve(PyObject *self, PyObject *args);

/* The Dag type: owns a zdag_dag (see dag.c). */
extern PyTypeObject zdagpy_dag_type;

/* The zdag_dag of a Dag object (borrowed), or NULL with TypeError set. */
zdag_dag *zdagpy_dag_of(PyObject *obj);

/* Raises zdag._zdag.Error(message) naming libzdag's code and detail. Returns NULL. */
PyObject *zdagpy_raise(int code, const char *detail);

/* The Error exception type (borrowed). */
extern PyObject *zdagpy_error;

#endif
