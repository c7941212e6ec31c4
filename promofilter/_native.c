/* promofilter's optional compiled core: the inner loops of scoring, in C.
 *
 * Built at install by hatch_build.py when a C compiler is there; without it promofilter uses the
 * NumPy code of promofilter/scoring.py, which gives the same numbers (tests/test_native.py
 * compares them). Arrays come in through the buffer protocol, so building needs no NumPy headers.
 *
 * NATIVE_VERSION changes whenever a function here changes meaning: promofilter ignores a
 * compiled module of another version (a stale build left in a source tree).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define NATIVE_VERSION 1

/* A buffer of `count` items of `itemsize` bytes, C-contiguous; writable if asked. */
static int
get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *what)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes, expected %zd", what, view->itemsize, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* One node of a tree, as scoring.NODE_DTYPE lays it out: all a step reads in one cache line. */
typedef struct {
    double threshold;
    double value;           /* a leaf's value */
    int32_t feature;
    int32_t child[2];       /* child[went_left]: right, then left */
    uint8_t leaf;
    uint8_t missing_left;   /* where missing values (NaN) went in training */
    uint8_t pad[2];
} node_t;

/* rows walked down one tree before the next tree: that tree's nodes stay in the cache */
#define ROW_BLOCK 64

PyDoc_STRVAR(tree_sums_doc,
"tree_sums(nodes, roots, X, width, baseline, out)\n\n"
"Raw score of each row of X (rows x width, float64): baseline plus, tree by tree in the order of\n"
"roots (int64), the value of the leaf the row reaches. `nodes` holds all trees' nodes in\n"
"scoring.NODE_DTYPE (children are global node indices). A row goes left when its value is <= the\n"
"threshold, or is NaN and missing values went left in training. Writes `out` (float64 [rows]).");

static PyObject *
tree_sums(PyObject *self, PyObject *args)
{
    PyObject *o_nodes, *o_roots, *o_x, *o_out;
    Py_ssize_t width;
    double baseline;
    if (!PyArg_ParseTuple(args, "OOOndO", &o_nodes, &o_roots, &o_x, &width, &baseline, &o_out))
        return NULL;
    Py_buffer b[4];
    PyObject *objs[4] = {o_nodes, o_roots, o_x, o_out};
    const Py_ssize_t sizes[4] = {sizeof(node_t), 8, 8, 8};
    const char *names[4] = {"nodes", "roots", "X", "out"};
    int got = 0;
    PyObject *result = NULL;
    for (; got < 4; got++)
        if (get_buffer(objs[got], &b[got], sizes[got], got == 3, names[got]) < 0)
            goto done;

    const node_t *nodes = b[0].buf;
    const int64_t *roots = b[1].buf;
    const double *x = b[2].buf;
    double *out = b[3].buf;
    const Py_ssize_t n_nodes = b[0].len / (Py_ssize_t)sizeof(node_t), n_trees = b[1].len / 8;
    const Py_ssize_t n_rows = b[3].len / 8;
    if (width <= 0 || b[2].len / 8 != n_rows * width) {
        PyErr_SetString(PyExc_ValueError, "tree_sums: X and out of inconsistent sizes");
        goto done;
    }
    /* every index the walk reads is checked once here, so it cannot read out of bounds or loop
       (scoring.tree_problem checks the same when a model is loaded) */
    for (Py_ssize_t t = 0; t < n_trees; t++)
        if (roots[t] < 0 || roots[t] >= n_nodes) {
            PyErr_SetString(PyExc_ValueError, "tree_sums: a root outside the nodes");
            goto done;
        }
    for (Py_ssize_t i = 0; i < n_nodes; i++) {
        const node_t *nd = &nodes[i];
        if (nd->leaf)
            continue;
        if (nd->feature < 0 || nd->feature >= width || nd->child[0] <= i || nd->child[0] >= n_nodes
                || nd->child[1] <= i || nd->child[1] >= n_nodes) {
            PyErr_SetString(PyExc_ValueError, "tree_sums: a node outside the tree or input");
            goto done;
        }
    }

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t a = 0; a < n_rows; a += ROW_BLOCK) {
        Py_ssize_t m = n_rows - a < ROW_BLOCK ? n_rows - a : ROW_BLOCK;
        double raw[ROW_BLOCK];
        for (Py_ssize_t r = 0; r < m; r++)
            raw[r] = baseline;
        for (Py_ssize_t t = 0; t < n_trees; t++) {  /* tree by tree: the order of the NumPy sum */
            const node_t *root = &nodes[roots[t]];
            for (Py_ssize_t r = 0; r < m; r++) {
                const double *row = x + (a + r) * width;
                const node_t *nd = root;
                while (!nd->leaf) {
                    double v = row[nd->feature];
                    int left = (v <= nd->threshold) | (isnan(v) & nd->missing_left);
                    nd = &nodes[nd->child[left]];
                }
                raw[r] += nd->value;
            }
        }
        for (Py_ssize_t r = 0; r < m; r++)
            out[a + r] = raw[r];
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);

done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"tree_sums", tree_sums, METH_VARARGS, tree_sums_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "promofilter._native",
    "promofilter's optional compiled core (see promofilter/_native.c).", -1, methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "NATIVE_VERSION", NATIVE_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
