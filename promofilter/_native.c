/* promofilter's optional compiled core: the per-segment inner loops of stripping, in C.
 *
 * Each function restates a Python (or NumPy) function of the package and returns the same
 * result, bit for bit; the Python one stays the reference and the fallback:
 *   tree_sums     scoring._Trees.predict_proba_numpy   (stage 2's boosted trees; prepared_trees
 *                   and tree_sums_prepared: the same, made ready once)
 *   context_features  scoring.context_features     (neighbour features of stage 1's scores)
 *   text_shape    signals._text_shape                  (all but four regex-made columns)
 *   title_runs    signals.TITLE_RUN.sub                (title runs as placeholders)
 *   country_us    signals._country_us                  ("US" the country as "USA")
 *   link_hints    (which texts signals._mask_links has anything to replace in)
 *   link_count, link_sub  findall and sub of signals.URL, EMAIL, HANDLE and HASHTAG (their matches,
 *                   found as the regular expression engine finds them)
 *   mask_tails    the end of signals.mask_text         (emoji and number placeholders, markers)
 *   pieces, segments  segment._pieces, segment.segment  (lines and sentence cuts, Segment objects)
 *   hashed_counts, sparse_dot  scoring._HashedWords, scoring._dot (hashed word n-grams;
 *                   masked_counts: of mask_tails' texts, without making them)
 *   hash_keys     repetition._hash                     (pandas' SipHash of repetition keys)
 *   segment_rows  signals.segment_columns              (the segment table)
 *   removal_ranges_many, strip_texts  policy.choose_removals without user rules (what is removed,
 *                   a batch at a time) and policy.remove_spans of it
 *   template_of, normal_form  mining.template_of, repetition.normal_form (most texts)
 *   repetition_keys  repetition._keys, hashed as repetition._hash hashes (the same texts)
 * tests/test_native.py compares each pair on generated text chosen to be awkward.
 *
 * Built at install by hatch_build.py when a C compiler is there; without it promofilter runs the
 * Python code, with the same results. Arrays come in through the buffer protocol, so building
 * needs no NumPy headers. NATIVE_VERSION changes whenever a function here changes meaning:
 * promofilter ignores a compiled module of another version (a stale build in a source tree).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define QS_QUADS 1  /* qs_quad, compiled for AVX2 and used where the CPU has it */
static int qs_have_avx2;
#else
#define QS_QUADS 0
#endif

#define NATIVE_VERSION 34

/* A C-contiguous buffer of items of `itemsize` bytes, writable if asked, whose struct format is
   one of the characters of `formats` ("d": float64, "lq": int64, "LQ": uint64, "B?": bytes and
   bools; NULL: any, for records) */
static int
get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *what, const char *formats)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes, expected %zd", what, view->itemsize, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    /* the C code reads and writes whole items: an item that straddles its alignment is refused */
    if (view->len > 0 && (uintptr_t)view->buf % (size_t)(itemsize < 8 ? itemsize : 8) != 0) {
        PyErr_Format(PyExc_ValueError, "%s: a buffer not aligned to its items", what);
        PyBuffer_Release(view);
        return -1;
    }
    if (formats != NULL) {
        const char *f = view->format ? view->format : "B";
        if (*f == '@' || *f == '=' || *f == '<')
            f++;
        if (!(f[0] != '\0' && f[1] == '\0' && strchr(formats, f[0]) != NULL)) {
            PyErr_Format(PyExc_TypeError, "%s: items of format '%s', expected one of '%s'", what, view->format, formats);
            PyBuffer_Release(view);
            return -1;
        }
    }
    return 0;
}

/* An array of 8-byte items to write and a uint8 array of flags beside it (the first released
   when the second is refused) */
static int
get_out_and_flags(PyObject *o_out, Py_buffer *out, const char *out_formats, PyObject *o_flags, Py_buffer *flags,
                  const char *flags_name)
{
    if (get_buffer(o_out, out, 8, 1, "out", out_formats) < 0)
        return -1;
    if (get_buffer(o_flags, flags, 1, 1, flags_name, "B") < 0) {
        PyBuffer_Release(out);
        return -1;
    }
    return 0;
}

/* `buf` (an array of `*cap` items) with room for `need` items, doubling from `first`: the array
   (moved, maybe) or NULL with MemoryError set (`buf` is then untouched) */
static void *
grow(void *buf, Py_ssize_t *cap, Py_ssize_t need, size_t itemsize, Py_ssize_t first)
{
    if (need <= *cap)
        return buf;
    Py_ssize_t c = *cap > 0 ? *cap : first;
    while (c < need)
        c *= 2;
    void *grown = PyMem_Realloc(buf, (size_t)c * itemsize);
    if (grown == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *cap = c;
    return grown;
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
/* rows walking one tree side by side (16: 1.07x 8 and 1.04x 32 on the shipped model's stage 2) */
#define WALK_LANES 16


/* -- QuickScorer: all trees at once, by feature (Lucchese et al., SIGIR 2015) -----------------
   A row reaches, in each tree, the leftmost leaf that no "false" node (one the row leaves to the
   right: value > threshold) rules out; a false node rules out the leaves of its left subtree.
   So, per row: start every tree with all its leaves possible, and for each feature clear the
   left-subtree leaves of the nodes on that feature whose threshold is under the row's value
   (nodes sorted by threshold: a prefix). No walk down a tree, no branch per node; the leaf each
   tree adds is its lowest bit left, and the sum runs tree by tree as the walk's does (the same
   number). Trees of at most 64 leaves; rows holding NaN take the walk. */
#define QS_MAX_LEAVES 64
#define QS_MIN_ROWS 512  /* building the sorted nodes costs ~0.4 ms: about what walking 400 rows does */

typedef struct {
    double threshold;
    uint64_t mask;      /* the tree's leaves this node leaves possible when false */
    int32_t feature;
    int32_t tree;
} qs_node_t;

static inline int
lowest_bit(uint64_t v)  /* v != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(v);
#else
    int i = 0;
    while (!(v & 1)) {
        v >>= 1;
        i++;
    }
    return i;
#endif
}

static int
qs_compare(const void *a, const void *b)
{
    const qs_node_t *x = a, *y = b;
    if (x->feature != y->feature)
        return x->feature < y->feature ? -1 : 1;
    return (x->threshold > y->threshold) - (x->threshold < y->threshold);
}

/* leaves lo..hi-1 of a tree as bits */
static inline uint64_t
leaf_bits(int lo, int hi)
{
    uint64_t below_hi = hi >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1);
    uint64_t below_lo = lo >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << lo) - 1);
    return below_hi & ~below_lo;
}

#define QS_STRIDE 4  /* words of `vec` a tree has: one per row scored at once, up to four */

typedef struct {
    qs_node_t *nodes;   /* sorted by feature, then threshold */
    Py_ssize_t *start;  /* nodes of feature f: start[f] .. start[f + 1] - 2, then its sentinel */
    double *leaf_value; /* tree t's leaf i (in order, left to right): leaf_value[leaf_base[t] + i] */
    Py_ssize_t *leaf_base;  /* (the trees' leaves side by side: a row's leaves are read from fewer cache lines) */
    /* the sorted nodes' fields apart, so that the scan reads thresholds alone */
    double *threshold;
    uint64_t *mask;
    int32_t *word;  /* the node's tree's words in `vec`: QS_STRIDE * tree (qs_pair and qs_quad keep rows' side by side) */
} qs_model_t;

static void
qs_free(qs_model_t *m)
{
    PyMem_Free(m->nodes);
    PyMem_Free(m->start);
    PyMem_Free(m->leaf_value);
    PyMem_Free(m->leaf_base);
    PyMem_Free(m->threshold);
    PyMem_Free(m->mask);
    PyMem_Free(m->word);
}

/* The trees as QuickScorer reads them: 1 when built, 0 when some tree does not fit (more than
   64 leaves once shared subtrees are counted as copies, or a NaN threshold: no value is under
   it, yet the walk sends every row right of it), -1 when out of memory. Nodes were checked by
   the caller. */
static int
qs_build(const node_t *nodes, const int64_t *roots, Py_ssize_t n_trees, Py_ssize_t width, qs_model_t *m)
{
    memset(m, 0, sizeof(*m));
    if (n_trees > INT32_MAX / QS_STRIDE)  /* (a node's word, QS_STRIDE * its tree, is an int32) */
        return 0;
    /* a tree of at most 64 leaves has at most 63 inner nodes: a walk of more is not one */
    const Py_ssize_t cap = n_trees * (QS_MAX_LEAVES - 1);
    m->nodes = PyMem_Malloc((cap > 0 ? cap : 1) * sizeof(qs_node_t));
    m->start = PyMem_Calloc(width + 1, sizeof(Py_ssize_t));
    /* (room for 64 leaves a tree, and 64 more: a tree's leaf is read at most 63 past its first) */
    m->leaf_value = PyMem_Calloc((n_trees > 0 ? n_trees : 1) * QS_MAX_LEAVES + QS_MAX_LEAVES, sizeof(double));
    m->leaf_base = PyMem_Malloc((n_trees > 0 ? n_trees : 1) * sizeof(Py_ssize_t));
    /* depth-first, left child first: stack entries are a node and the entry it closes (the
       parent whose right child it is: its left subtree's leaves end where this one starts) */
    int32_t stack_node[2 * QS_MAX_LEAVES + 2];
    int32_t stack_closes[2 * QS_MAX_LEAVES + 2];
    if (m->nodes == NULL || m->start == NULL || m->leaf_value == NULL || m->leaf_base == NULL) {
        qs_free(m);
        return -1;
    }
    Py_ssize_t n = 0, total_leaves = 0;
    int lo_of[QS_MAX_LEAVES];  /* first leaf of each inner node's left subtree, by entry in this tree */
    for (Py_ssize_t t = 0; t < n_trees; t++) {
        int depth = 0, leaves = 0;
        const Py_ssize_t first = n;
        m->leaf_base[t] = total_leaves;
        stack_node[depth] = (int32_t)roots[t];
        stack_closes[depth++] = -1;
        while (depth > 0) {
            depth--;
            const int32_t at = stack_node[depth], closes = stack_closes[depth];
            if (closes >= 0)
                m->nodes[first + closes].mask = ~leaf_bits(lo_of[closes], leaves);
            const node_t *nd = &nodes[at];
            if (nd->leaf) {
                if (leaves >= QS_MAX_LEAVES)
                    goto does_not_fit;
                m->leaf_value[total_leaves + leaves++] = nd->value;
                continue;
            }
            if (n - first >= QS_MAX_LEAVES - 1 || depth + 2 > 2 * QS_MAX_LEAVES + 2 || isnan(nd->threshold))
                goto does_not_fit;
            const int32_t entry = (int32_t)(n - first);
            m->nodes[n].threshold = nd->threshold;
            m->nodes[n].feature = nd->feature;
            m->nodes[n].tree = (int32_t)t;
            m->nodes[n].mask = ~(uint64_t)0;
            n++;
            lo_of[entry] = leaves;
            stack_node[depth] = nd->child[0];  /* right: after the left subtree */
            stack_closes[depth++] = entry;
            stack_node[depth] = nd->child[1];  /* left: next */
            stack_closes[depth++] = -1;
        }
        total_leaves += leaves;
    }
    qsort(m->nodes, (size_t)n, sizeof(qs_node_t), qs_compare);
    /* each feature's nodes end with a sentinel, threshold +inf, that no value (NaN is walked)
       is above: the scan needs no end test */
    for (Py_ssize_t i = 0; i < n; i++)
        m->start[m->nodes[i].feature + 1]++;
    for (Py_ssize_t f = 0; f < width; f++)
        m->start[f + 1] += m->start[f] + 1;
    m->threshold = PyMem_Malloc((n + width) * sizeof(double));
    m->mask = PyMem_Malloc((n + width) * sizeof(uint64_t));
    m->word = PyMem_Malloc((n + width) * sizeof(int32_t));
    if (m->threshold == NULL || m->mask == NULL || m->word == NULL) {
        qs_free(m);
        return -1;
    }
    for (Py_ssize_t i = 0, f = 0, at = 0; f < width; f++) {
        for (; i < n && m->nodes[i].feature == f; i++, at++) {
            m->threshold[at] = m->nodes[i].threshold;
            m->mask[at] = m->nodes[i].mask;
            m->word[at] = QS_STRIDE * m->nodes[i].tree;
        }
        m->threshold[at] = INFINITY;
        m->mask[at] = ~(uint64_t)0;
        m->word[at++] = 0;
    }
    return 1;
does_not_fit:
    qs_free(m);
    return 0;
}

/* raw plus the leaf of each tree that the words of one row (`lane`) in vec leave (the row's leaf is
   never ruled out, so a bit is left; the top bit added only keeps a crafted tree from reading
   past its leaves) */
static inline double
qs_leaves(const qs_model_t *m, const uint64_t *vec, int lane, Py_ssize_t n_trees, double raw)
{
    const double *leaf_value = m->leaf_value;
    const Py_ssize_t *leaf_base = m->leaf_base;
    for (Py_ssize_t t = 0; t < n_trees; t++)
        raw += leaf_value[leaf_base[t] + lowest_bit(vec[QS_STRIDE * t + lane] | ((uint64_t)1 << 63))];
    return raw;
}

/* raw score of one row without NaN: baseline, then each tree's leaf (`vec`: QS_STRIDE * n_trees
   words, of which the row's are every QS_STRIDE-th) */
static double
qs_row(const qs_model_t *m, const double *row, Py_ssize_t width, Py_ssize_t n_trees, double baseline, uint64_t *vec)
{
    /* (the arrays in locals: stores to vec could otherwise be taken to change m's fields, and
       have them read again at every step) */
    const Py_ssize_t *start = m->start;
    const double *threshold = m->threshold;
    const uint64_t *mask = m->mask;
    const int32_t *word = m->word;
    for (Py_ssize_t t = 0; t < n_trees; t++)
        vec[QS_STRIDE * t] = ~(uint64_t)0;
    for (Py_ssize_t f = 0; f < width; f++) {
        const double v = row[f];
        for (Py_ssize_t k = start[f]; threshold[k] < v; k++)  /* (up to the feature's sentinel at most) */
            vec[word[k]] &= mask[k];
    }
    return qs_leaves(m, vec, 0, n_trees, baseline);
}

#if defined(__SSE2__)
#define QS_PAIRS 1
/* raw scores of two rows without NaN at once (`vec`: QS_STRIDE * n_trees words, the rows' words
   of each tree side by side). Each feature's nodes are scanned up to the larger of the two values,
   and each node's mask is applied to the rows whose value is above its threshold: the words, and
   so the leaves and sums, are exactly qs_row's. The two rows share each step over the nodes
   (0.65x the steps of two single rows on generated documents) and each loop exit, which
   mispredicts at most features whose number of nodes passed varies (0.83x the trees' time of
   qs_row). */
static __attribute__((noinline)) void
qs_pair(const qs_model_t *m, const double *row0, const double *row1, Py_ssize_t width, Py_ssize_t n_trees,
        double *raw0, double *raw1, uint64_t *vec)
{
    const Py_ssize_t *start = m->start;
    const double *threshold = m->threshold;
    const uint64_t *mask = m->mask;
    const int32_t *word = m->word;
    const __m128i ones = _mm_set1_epi32(-1);
    for (Py_ssize_t t = 0; t < n_trees; t++)
        _mm_storeu_si128((__m128i *)(vec + QS_STRIDE * t), ones);
    for (Py_ssize_t f = 0; f < width; f++) {
        const double v0 = row0[f], v1 = row1[f];
        const double top = v0 > v1 ? v0 : v1;
        const __m128d v = _mm_set_pd(v1, v0);
        for (Py_ssize_t k = start[f]; threshold[k] < top; k++) {
            /* the rows the node sends right lose the mask's bits: vec &= ~(passed & ~mask) */
            const __m128i passed = _mm_castpd_si128(_mm_cmplt_pd(_mm_set1_pd(threshold[k]), v));
            const __m128i cleared = _mm_andnot_si128(_mm_set1_epi64x((long long)mask[k]), passed);
            __m128i *at = (__m128i *)(vec + word[k]);
            _mm_storeu_si128(at, _mm_andnot_si128(cleared, _mm_loadu_si128(at)));
        }
    }
    *raw0 = qs_leaves(m, vec, 0, n_trees, *raw0);
    *raw1 = qs_leaves(m, vec, 1, n_trees, *raw1);
}
#else
#define QS_PAIRS 0
#endif

#if QS_QUADS
/* qs_pair for four rows, with AVX2 (qs_have_avx2: the CPU has it): 0.40x the steps of four
   single rows on generated documents, 0.70x the trees' time of qs_pair */
static __attribute__((target("avx2"), noinline)) void
qs_quad(const qs_model_t *m, const double *rows, Py_ssize_t width, Py_ssize_t n_trees, double raw[4], uint64_t *vec)
{
    const Py_ssize_t *start = m->start;
    const double *threshold = m->threshold;
    const uint64_t *mask = m->mask;
    const int32_t *word = m->word;
    const __m256i ones = _mm256_set1_epi32(-1);
    for (Py_ssize_t t = 0; t < n_trees; t++)
        _mm256_storeu_si256((__m256i *)(vec + QS_STRIDE * t), ones);
    for (Py_ssize_t f = 0; f < width; f++) {
        const double v0 = rows[f], v1 = rows[width + f], v2 = rows[2 * width + f], v3 = rows[3 * width + f];
        const double top01 = v0 > v1 ? v0 : v1, top23 = v2 > v3 ? v2 : v3;
        const double top = top01 > top23 ? top01 : top23;
        const __m256d v = _mm256_set_pd(v3, v2, v1, v0);
        for (Py_ssize_t k = start[f]; threshold[k] < top; k++) {
            const __m256i passed = _mm256_castpd_si256(_mm256_cmp_pd(_mm256_set1_pd(threshold[k]), v, _CMP_LT_OQ));
            const __m256i cleared = _mm256_andnot_si256(_mm256_set1_epi64x((long long)mask[k]), passed);
            __m256i *at = (__m256i *)(vec + word[k]);
            _mm256_storeu_si256(at, _mm256_andnot_si256(cleared, _mm256_loadu_si256(at)));
        }
    }
    for (int j = 0; j < 4; j++)
        raw[j] = qs_leaves(m, vec, j, n_trees, raw[j]);
}
#endif

/* whether any of x[0:n] is NaN (two at a time where SSE2 is: every x86-64 has it) */
static inline int
has_nan(const double *x, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    int any = 0;
#if defined(__SSE2__)
    __m128d unordered = _mm_setzero_pd();
    for (; i + 2 <= n; i += 2) {
        const __m128d v = _mm_loadu_pd(x + i);
        unordered = _mm_or_pd(unordered, _mm_cmpunord_pd(v, v));
    }
    any = _mm_movemask_pd(unordered);
#endif
    for (; i < n; i++)
        any |= isnan(x[i]) != 0;
    return any != 0;
}

/* Stage 2's trees made ready to sum: the nodes checked, copied for the walk (a leaf leads to
   itself), each tree's height, and (when asked and they fit) QuickScorer's sorted nodes. It
   holds copies only: the arrays it was made from may change or go. */
typedef struct {
    node_t *walk;
    int32_t *height;
    int64_t *roots;
    Py_ssize_t n_nodes, n_trees, width;
    int quick;  /* qs built */
    qs_model_t qs;
} trees_t;

static void
trees_free(trees_t *t)
{
    PyMem_Free(t->walk);
    PyMem_Free(t->height);
    PyMem_Free(t->roots);
    if (t->quick)
        qs_free(&t->qs);
    memset(t, 0, sizeof(*t));
}

/* 0, or -1 with an exception set (bad trees, or out of memory) */
static int
trees_prepare(const node_t *nodes, Py_ssize_t n_nodes, const int64_t *roots, Py_ssize_t n_trees, Py_ssize_t width,
              int want_quick, trees_t *t)
{
    memset(t, 0, sizeof(*t));
    if (n_nodes > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "tree_sums: too many nodes");
        return -1;
    }
    /* every index the walk reads is checked once here, so it cannot read out of bounds or loop
       (scoring.tree_problem checks the same when a model is loaded) */
    for (Py_ssize_t i = 0; i < n_trees; i++)
        if (roots[i] < 0 || roots[i] >= n_nodes) {
            PyErr_SetString(PyExc_ValueError, "tree_sums: a root outside the nodes");
            return -1;
        }
    for (Py_ssize_t i = 0; i < n_nodes; i++) {
        const node_t *nd = &nodes[i];
        if (nd->leaf)
            continue;
        if (nd->feature < 0 || nd->feature >= width || nd->child[0] <= i || nd->child[0] >= n_nodes
                || nd->child[1] <= i || nd->child[1] >= n_nodes) {
            PyErr_SetString(PyExc_ValueError, "tree_sums: a node outside the tree or input");
            return -1;
        }
    }
    t->n_nodes = n_nodes;
    t->n_trees = n_trees;
    t->width = width;
    /* the walk takes as many steps as the tree is high, for every row, without branches: on a
       copy of the nodes where a leaf leads to itself. Heights come from the last node up
       (children come after their parent). */
    t->walk = PyMem_Malloc(n_nodes * sizeof(node_t) + 1);
    t->height = PyMem_Calloc(n_nodes + 1, sizeof(int32_t));
    t->roots = PyMem_Malloc((n_trees > 0 ? n_trees : 1) * sizeof(int64_t));
    if (t->walk == NULL || t->height == NULL || t->roots == NULL)
        goto no_memory;
    memcpy(t->walk, nodes, n_nodes * sizeof(node_t));
    if (n_trees > 0)
        memcpy(t->roots, roots, n_trees * sizeof(int64_t));
    node_t *walk = t->walk;
    for (Py_ssize_t i = n_nodes - 1; i >= 0; i--) {
        if (walk[i].leaf) {
            walk[i].child[0] = walk[i].child[1] = (int32_t)i;
            walk[i].feature = 0;
            walk[i].threshold = 0.0;
            walk[i].missing_left = 0;
        } else {
            int32_t h0 = t->height[walk[i].child[0]], h1 = t->height[walk[i].child[1]];
            t->height[i] = 1 + (h0 > h1 ? h0 : h1);
        }
    }
    const int quick = want_quick ? qs_build(nodes, t->roots, n_trees, width, &t->qs) : 0;
    if (quick < 0)
        goto no_memory;
    t->quick = quick;
    return 0;
no_memory:
    trees_free(t);
    PyErr_NoMemory();
    return -1;
}

/* The raw sums of n_rows rows of x (rows x t->width, float64) into out: baseline (with `add`,
   each row's value in out) plus each tree's leaf, tree by tree. `vec`: QS_STRIDE * t->n_trees words of
   scratch when t->quick. Runs without the GIL. */
static void
trees_run(const trees_t *t, const double *x, Py_ssize_t n_rows, double baseline, double *out, int add, uint64_t *vec)
{
    const node_t *walk = t->walk;
    const int32_t *height = t->height;
    const int64_t *roots = t->roots;
    const Py_ssize_t width = t->width, n_trees = t->n_trees;
    if (t->quick) {
        for (Py_ssize_t r = 0; r < n_rows; r++) {
            const double *rw = x + r * width;
            if (!has_nan(rw, width)) {
#if QS_QUADS
                if (qs_have_avx2 && r + 3 < n_rows && !has_nan(rw + width, 3 * width)) {
                    double raw[4];
                    for (int j = 0; j < 4; j++)
                        raw[j] = add ? out[r + j] : baseline;
                    qs_quad(&t->qs, rw, width, n_trees, raw, vec);
                    for (int j = 0; j < 4; j++)
                        out[r + j] = raw[j];
                    r += 3;
                    continue;
                }
#endif
#if QS_PAIRS
                if (r + 1 < n_rows && !has_nan(rw + width, width)) {
                    double raw0 = add ? out[r] : baseline, raw1 = add ? out[r + 1] : baseline;
                    qs_pair(&t->qs, rw, rw + width, width, n_trees, &raw0, &raw1, vec);
                    out[r] = raw0;
                    out[r + 1] = raw1;
                    r++;
                    continue;
                }
#endif
                out[r] = qs_row(&t->qs, rw, width, n_trees, add ? out[r] : baseline, vec);
                continue;
            }
            double raw = add ? out[r] : baseline;  /* NaN goes where training sent missing values: the walk */
            for (Py_ssize_t k = 0; k < n_trees; k++) {
                int32_t at = (int32_t)roots[k];
                for (int32_t s = 0; s < height[roots[k]]; s++) {
                    const node_t *nd = &walk[at];
                    double v = rw[nd->feature];
                    at = nd->child[(v <= nd->threshold) | ((isnan(v) != 0) & (nd->missing_left != 0))];
                }
                raw += walk[at].value;
            }
            out[r] = raw;
        }
        return;
    }
    for (Py_ssize_t a = 0; a < n_rows; a += ROW_BLOCK) {
        Py_ssize_t m = n_rows - a < ROW_BLOCK ? n_rows - a : ROW_BLOCK;
        double raw[ROW_BLOCK];
        for (Py_ssize_t r = 0; r < m; r++)
            raw[r] = add ? out[a + r] : baseline;
        for (Py_ssize_t k = 0; k < n_trees; k++) {  /* tree by tree: the order of the NumPy sum */
            const int32_t root = (int32_t)roots[k], steps = height[root];
            Py_ssize_t r = 0;
            for (; r + WALK_LANES <= m; r += WALK_LANES) {  /* rows at once: their loads overlap */
                int32_t at[WALK_LANES];
                const double *row[WALK_LANES];
                for (int j = 0; j < WALK_LANES; j++) {
                    at[j] = root;
                    row[j] = x + (a + r + j) * width;
                }
                for (int32_t s = 0; s < steps; s++)
                    for (int j = 0; j < WALK_LANES; j++) {
                        const node_t *nd = &walk[at[j]];
                        double v = row[j][nd->feature];
                        at[j] = nd->child[(v <= nd->threshold) | ((isnan(v) != 0) & (nd->missing_left != 0))];
                    }
                for (int j = 0; j < WALK_LANES; j++)
                    raw[r + j] += walk[at[j]].value;
            }
            for (; r < m; r++) {
                const double *rw = x + (a + r) * width;
                int32_t at = root;
                for (int32_t s = 0; s < steps; s++) {
                    const node_t *nd = &walk[at];
                    double v = rw[nd->feature];
                    at = nd->child[(v <= nd->threshold) | ((isnan(v) != 0) & (nd->missing_left != 0))];
                }
                raw[r] += walk[at].value;
            }
        }
        for (Py_ssize_t r = 0; r < m; r++)
            out[a + r] = raw[r];
    }
}

/* 0 when X (float64 buffer) holds as many rows of `width` as out has values; -1 with an exception set */
static int
check_rows(const Py_buffer *bx, const Py_buffer *bout, Py_ssize_t width)
{
    if (width <= 0 || (bx->len / 8) % width != 0 || (bx->len / 8) / width != bout->len / 8) {
        PyErr_SetString(PyExc_ValueError, "tree_sums: X and out of inconsistent sizes");
        return -1;
    }
    return 0;
}

/* trees_run over buffers X and out, checked against the trees' width */
static int
trees_sum_buffers(const trees_t *t, Py_buffer *bx, Py_buffer *bout, double baseline, int add)
{
    const Py_ssize_t n_rows = bout->len / 8;
    if (check_rows(bx, bout, t->width) < 0)
        return -1;
    uint64_t *vec = NULL;
    if (t->quick && (vec = PyMem_Malloc((t->n_trees > 0 ? QS_STRIDE * t->n_trees : 1) * sizeof(uint64_t))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS
    trees_run(t, bx->buf, n_rows, baseline, bout->buf, add, vec);
    Py_END_ALLOW_THREADS
    PyMem_Free(vec);
    return 0;
}

PyDoc_STRVAR(tree_sums_doc,
"tree_sums(nodes, roots, X, width, baseline, out, add=False)\n\n"
"Raw score of each row of X (rows x width, float64): baseline plus, tree by tree in the order of\n"
"roots (int64), the value of the leaf the row reaches; with `add`, each row's value in `out` in\n"
"place of baseline (the same sums as one call over all the trees, when that value is what the\n"
"trees before these gave). `nodes` holds all trees' nodes in\n"
"scoring.NODE_DTYPE (children are global node indices). A row goes left when its value is <= the\n"
"threshold, or is NaN and missing values went left in training. Writes `out` (float64 [rows]),\n"
"which must not overlap X: rows are read in blocks before their sums are written.");

static PyObject *
tree_sums(PyObject *self, PyObject *args)
{
    PyObject *o_nodes, *o_roots, *o_x, *o_out;
    Py_ssize_t width;
    double baseline;
    int add = 0;
    if (!PyArg_ParseTuple(args, "OOOndO|p", &o_nodes, &o_roots, &o_x, &width, &baseline, &o_out, &add))
        return NULL;
    Py_buffer b[4];
    PyObject *objs[4] = {o_nodes, o_roots, o_x, o_out};
    const Py_ssize_t sizes[4] = {sizeof(node_t), 8, 8, 8};
    const char *names[4] = {"nodes", "roots", "X", "out"};
    const char *formats[4] = {NULL, "lq", "d", "d"};
    int got = 0;
    PyObject *result = NULL;
    for (; got < 4; got++)
        if (get_buffer(objs[got], &b[got], sizes[got], got == 3, names[got], formats[got]) < 0)
            goto done;
    const Py_ssize_t n_rows = b[3].len / 8;
    if (check_rows(&b[2], &b[3], width) < 0)  /* (before the trees are made ready, not after) */
        goto done;
    trees_t t;
    /* small calls (one document) walk: building QuickScorer's nodes would cost more than it saves */
    if (trees_prepare(b[0].buf, b[0].len / (Py_ssize_t)sizeof(node_t), b[1].buf, b[1].len / 8, width,
                      n_rows >= QS_MIN_ROWS, &t) < 0)
        goto done;
    const int ok = trees_sum_buffers(&t, &b[2], &b[3], baseline, add);
    trees_free(&t);
    if (ok == 0)
        result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&b[i]);
    return result;
}

#define TREES_CAPSULE "promofilter._native.trees"

static void
trees_capsule_free(PyObject *capsule)
{
    trees_t *t = PyCapsule_GetPointer(capsule, TREES_CAPSULE);
    if (t != NULL) {
        trees_free(t);
        PyMem_Free(t);
    }
}

PyDoc_STRVAR(prepared_trees_doc,
"prepared_trees(nodes, roots, width) -> trees\n\n"
"The trees at `roots` of `nodes` (as tree_sums takes them), checked and made ready once for\n"
"tree_sums_prepared: an opaque object holding copies (the arrays may change afterwards).");

static PyObject *
prepared_trees(PyObject *self, PyObject *args)
{
    PyObject *o_nodes, *o_roots;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "OOn", &o_nodes, &o_roots, &width))
        return NULL;
    if (width <= 0) {
        PyErr_SetString(PyExc_ValueError, "tree_sums: width must be positive");
        return NULL;
    }
    Py_buffer bn, br;
    if (get_buffer(o_nodes, &bn, sizeof(node_t), 0, "nodes", NULL) < 0)
        return NULL;
    if (get_buffer(o_roots, &br, 8, 0, "roots", "lq") < 0) {
        PyBuffer_Release(&bn);
        return NULL;
    }
    PyObject *capsule = NULL;
    trees_t *t = PyMem_Malloc(sizeof(trees_t));
    if (t == NULL) {
        PyErr_NoMemory();
    } else if (trees_prepare(bn.buf, bn.len / (Py_ssize_t)sizeof(node_t), br.buf, br.len / 8, width, 1, t) < 0) {
        PyMem_Free(t);
    } else if ((capsule = PyCapsule_New(t, TREES_CAPSULE, trees_capsule_free)) == NULL) {
        trees_free(t);
        PyMem_Free(t);
    }
    PyBuffer_Release(&bn);
    PyBuffer_Release(&br);
    return capsule;
}

PyDoc_STRVAR(tree_sums_prepared_doc,
"tree_sums_prepared(trees, X, baseline, out, add=False)\n\n"
"tree_sums with trees from prepared_trees (the same sums; X's width is the one they were made for).");

static PyObject *
tree_sums_prepared(PyObject *self, PyObject *args)
{
    PyObject *capsule, *o_x, *o_out;
    double baseline;
    int add = 0;
    if (!PyArg_ParseTuple(args, "OOdO|p", &capsule, &o_x, &baseline, &o_out, &add))
        return NULL;
    const trees_t *t = PyCapsule_GetPointer(capsule, TREES_CAPSULE);
    if (t == NULL)
        return NULL;
    Py_buffer bx, bout;
    if (get_buffer(o_x, &bx, 8, 0, "X", "d") < 0)
        return NULL;
    if (get_buffer(o_out, &bout, 8, 1, "out", "d") < 0) {
        PyBuffer_Release(&bx);
        return NULL;
    }
    const int ok = trees_sum_buffers(t, &bx, &bout, baseline, add);
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bout);
    return ok == 0 ? Py_NewRef(Py_None) : NULL;
}

/* -- shape and voice features of segment texts (signals._text_shape) -------------------------- */

/* Python's character predicates, tabulated for ASCII at import (from the same functions, so
   the same answers) and asked of Python beyond it */
enum { C_ALPHA = 1, C_ALNUM = 2, C_SPACE = 4, C_UPPER = 8, C_DIGIT = 16, C_DECIMAL = 32 };
static uint8_t ascii_class[128];
static uint8_t ascii_word[128];  /* \w: a letter, a digit or "_" */

static void
ascii_class_init(void)
{
    for (Py_UCS4 c = 0; c < 128; c++)
        ascii_word[c] = Py_UNICODE_ISALNUM(c) || c == '_';
    for (Py_UCS4 c = 0; c < 128; c++)
        ascii_class[c] = (uint8_t)((Py_UNICODE_ISALPHA(c) ? C_ALPHA : 0) | (Py_UNICODE_ISALNUM(c) ? C_ALNUM : 0)
                                   | (Py_UNICODE_ISSPACE(c) ? C_SPACE : 0) | (Py_UNICODE_ISUPPER(c) ? C_UPPER : 0)
                                   | (Py_UNICODE_ISDIGIT(c) ? C_DIGIT : 0) | (Py_UNICODE_ISDECIMAL(c) ? C_DECIMAL : 0));
}

/* ASCII text's class counts in one add a character: ten-bit fields of letters, letters or
   digits, spaces, capitals, digits and separators ('|'; flushed before a field can fill) */
enum { PACK_ALPHA = 0, PACK_ALNUM = 10, PACK_SPACE = 20, PACK_UPPER = 30, PACK_DIGIT = 40, PACK_BAR = 50 };
#define PACK_FLUSH 1000

/* -- mostly-ASCII text as bytes ("narrowed") ----------------------------------------------------
   Most non-ASCII segments are ASCII but for a few typographic characters (’ “ ” — – …, € £ ™),
   and the 2-byte code paths cost about four times as much a character. Such a text is copied
   to bytes with each of those characters as a control byte that stands for it (its code, below),
   and goes through the ASCII code with the narrow tables, which give each code what the tests
   ask of its character. None of them is a letter, a digit, a space, cased or an emoji (checked at
   import; narrowing is off otherwise), so only the tests that name a character see one: the
   apostrophe that joins words (’), quotes (“ ”), separators (» · • → ← ›) and the copyright sign. A
   text holding any other non-ASCII character, or a code byte itself, is not narrowed. */
enum { N_RSQUO = 1, N_LDQUO = 3, N_RDQUO = 4, N_COPY = 15 };
static const Py_UCS4 narrow_char[32] = {
    [N_RSQUO] = 0x2019, [2] = 0x2018, [N_LDQUO] = 0x201C, [N_RDQUO] = 0x201D, [5] = 0x2014, [6] = 0x2013,
    [7] = 0x2026, [8] = 0x20AC, [14] = 0xA3, [N_COPY] = 0xA9, [16] = 0xBB, [17] = 0xB7, [18] = 0xB0,
    [19] = 0x2022, [20] = 0x2192, [21] = 0x2212, [22] = 0x2122, [23] = 0xAE, [24] = 0x2190, [25] = 0x203A};
static int narrow_ok;

/* the code standing for c (not ASCII), or 0 */
static inline uint8_t
narrow_code(Py_UCS4 c)
{
    switch (c) {
    case 0x2019: return N_RSQUO;
    case 0x2018: return 2;
    case 0x201C: return N_LDQUO;
    case 0x201D: return N_RDQUO;
    case 0x2014: return 5;
    case 0x2013: return 6;
    case 0x2026: return 7;
    case 0x20AC: return 8;
    case 0xA3: return 14;
    case 0xA9: return N_COPY;
    case 0xBB: return 16;
    case 0xB7: return 17;
    case 0xB0: return 18;
    case 0x2022: return 19;
    case 0x2192: return 20;
    case 0x2212: return 21;
    case 0x2122: return 22;
    case 0xAE: return 23;
    case 0x2190: return 24;
    case 0x203A: return 25;
    default: return 0;
    }
}

/* The ASCII code's tables: class counts (ascii_pack); what a title word cannot follow (\w or an
   apostrophe); what needs a look of its own (@ # and quotes); the apostrophe that joins words
   besides "'". Plain ones for ASCII text, narrow ones for narrowed text. */
typedef struct {
    uint64_t pack[128];
    uint8_t word_or_quote[128], special[128];
    uint8_t joiner;
} ascii_tables;
static ascii_tables plain_tables, narrow_tables;

static inline int is_separator(Py_UCS4 c);
static inline int is_emoji(Py_UCS4 c);

static void
ascii_pack_init(void)
{
    for (int c = 0; c < 128; c++) {
        const uint8_t k = ascii_class[c];
        plain_tables.pack[c] = ((uint64_t)((k & C_ALPHA) != 0) << PACK_ALPHA)
                               | ((uint64_t)((k & C_ALNUM) != 0) << PACK_ALNUM)
                               | ((uint64_t)((k & C_SPACE) != 0) << PACK_SPACE)
                               | ((uint64_t)((k & C_UPPER) != 0) << PACK_UPPER)
                               | ((uint64_t)((k & C_DIGIT) != 0) << PACK_DIGIT) | ((uint64_t)(c == '|') << PACK_BAR);
        plain_tables.word_or_quote[c] = (k & C_ALNUM) != 0 || c == '_' || c == '\'';
        plain_tables.special[c] = c == '@' || c == '#' || c == '"';
    }
    plain_tables.joiner = '\'';
    narrow_tables = plain_tables;
    narrow_tables.joiner = N_RSQUO;
    narrow_tables.word_or_quote[N_RSQUO] = 1;
    narrow_tables.special[N_LDQUO] = narrow_tables.special[N_RDQUO] = 1;
    narrow_ok = 1;
    for (int code = 0; code < 32; code++) {
        const Py_UCS4 c = narrow_char[code];
        if (c == 0)
            continue;
        narrow_tables.pack[code] = (uint64_t)is_separator(c) << PACK_BAR;
        /* what the tables take for granted of a code and of its character */
        if (ascii_class[code] != 0 || narrow_code(c) != code || Py_UNICODE_ISALNUM(c) || Py_UNICODE_ISSPACE(c)
                || Py_UNICODE_ISUPPER(c) || Py_UNICODE_ISLOWER(c) || Py_UNICODE_ISDECIMAL(c)
                || Py_UNICODE_TOLOWER(c) != c || Py_UNICODE_TOUPPER(c) != c || is_emoji(c))
            narrow_ok = 0;
    }
}

/* `text` (not ASCII) narrowed into *buf (grown to its length): its length, -2 when it cannot be
   narrowed, -1 when out of memory. *maxchar: its largest character. */
static Py_ssize_t
narrow_text(PyObject *text, uint8_t **buf, Py_ssize_t *cap, Py_UCS4 *maxchar)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    if (!narrow_ok || kind == PyUnicode_4BYTE_KIND)
        return -2;
    uint8_t *grown = grow(*buf, cap, n, 1, 256);
    if (grown == NULL)
        return -1;
    *buf = grown;
    const void *data = PyUnicode_DATA(text);
    Py_UCS4 top = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Py_UCS4 c = kind == PyUnicode_1BYTE_KIND ? ((const Py_UCS1 *)data)[i] : ((const Py_UCS2 *)data)[i];
        uint8_t b;
        if (c < 128) {
            if (c < 32 && narrow_char[c])
                return -2;
            b = (uint8_t)c;
        } else {
            if ((b = narrow_code(c)) == 0)
                return -2;
            top = c > top ? c : top;
        }
        grown[i] = b;
    }
    *maxchar = top;
    return n;
}

static inline Py_ssize_t pack_field(uint64_t acc, int shift) { return (Py_ssize_t)((acc >> shift) & 1023); }

static inline int is_alpha(Py_UCS4 c) { return c < 128 ? (ascii_class[c] & C_ALPHA) != 0 : Py_UNICODE_ISALPHA(c) != 0; }
static inline int is_alnum(Py_UCS4 c) { return c < 128 ? (ascii_class[c] & C_ALNUM) != 0 : Py_UNICODE_ISALNUM(c) != 0; }
static inline int is_space(Py_UCS4 c) { return c < 128 ? (ascii_class[c] & C_SPACE) != 0 : Py_UNICODE_ISSPACE(c) != 0; }
static inline int is_upper(Py_UCS4 c) { return c < 128 ? (ascii_class[c] & C_UPPER) != 0 : Py_UNICODE_ISUPPER(c) != 0; }
static inline int is_digit(Py_UCS4 c) { return c < 128 ? (ascii_class[c] & C_DIGIT) != 0 : Py_UNICODE_ISDIGIT(c) != 0; }
static inline int is_decimal(Py_UCS4 c)
{ return c < 128 ? (ascii_class[c] & C_DECIMAL) != 0 : Py_UNICODE_ISDECIMAL(c) != 0; }

/* the character classes of Python's re module on str patterns */
static inline int re_word(Py_UCS4 c) { return is_alnum(c) || c == '_'; }
/* [^\W\d_]: a word character that is not a digit or an underscore */
static inline int re_letter(Py_UCS4 c) { return c != '_' && is_alnum(c) && !is_decimal(c); }
static inline int is_lower_ascii(Py_UCS4 c) { return c >= 'a' && c <= 'z'; }
static inline int is_upper_ascii(Py_UCS4 c) { return c >= 'A' && c <= 'Z'; }

/* WORD (signals.WORD: [^\W\d_]+(?:['’][^\W\d_]+)?) matched at i, where a letter is: its end */
static Py_ssize_t
word_end(int kind, const void *data, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j = i + 1;
    while (j < n && re_letter(PyUnicode_READ(kind, data, j)))
        j++;
    if (j + 1 < n) {
        Py_UCS4 q = PyUnicode_READ(kind, data, j);
        if ((q == '\'' || q == 0x2019) && re_letter(PyUnicode_READ(kind, data, j + 1))) {
            j += 2;
            while (j < n && re_letter(PyUnicode_READ(kind, data, j)))
                j++;
        }
    }
    return j;
}

static inline int is_close(Py_UCS4 c)  /* "'”’»)] */
{ return c == '"' || c == '\'' || c == 0x201D || c == 0x2019 || c == 0xBB || c == ')' || c == ']'; }

static inline int is_separator(Py_UCS4 c)  /* signals.SEPARATORS: |•·»›→←▶► */
{
    return c == '|' || c == 0x2022 || c == 0xB7 || c == 0xBB || c == 0x203A || c == 0x2192 || c == 0x2190
        || c == 0x25B6 || c == 0x25BA;
}

static inline int is_emoji(Py_UCS4 c)  /* signals.EMOJI */
{ return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) || (c >= 0x2B00 && c <= 0x2BFF) || c == 0xFE0F; }

/* The word lists (signals.CTA_VERBS, ...) as a small open-addressing table of ASCII words with
   the lists each is in: a lookup without making a str of each word. Built per call from the
   sets; when a list holds a non-ASCII word the sets themselves are asked instead. */
#define WT_SLOTS 2048
typedef struct {
    const char *word[WT_SLOTS];
    Py_ssize_t len[WT_SLOTS];
    uint8_t mask[WT_SLOTS];
    int usable;
    int narrowable;  /* no listed word holds a control character (which could be a narrowed code) */
} word_table;

static uint32_t
fnv1a(const uint8_t *s, Py_ssize_t n)
{
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

static int
word_table_build(word_table *wt, PyObject *sets[5])
{
    memset(wt, 0, sizeof(*wt));
    wt->usable = wt->narrowable = 1;
    Py_ssize_t filled = 0;
    for (int s = 0; s < 5; s++) {
        PyObject *it = PyObject_GetIter(sets[s]), *item;
        if (it == NULL)
            return -1;
        while ((item = PyIter_Next(it)) != NULL) {
            /* the table borrows the word's bytes: the set holds the word for the whole call */
            if (!PyUnicode_Check(item) || !PyUnicode_IS_ASCII(item) || filled >= WT_SLOTS / 2) {
                wt->usable = 0;
            } else {
                const char *w = (const char *)PyUnicode_DATA(item);
                Py_ssize_t len = PyUnicode_GET_LENGTH(item);
                for (Py_ssize_t k = 0; k < len; k++)
                    wt->narrowable &= (uint8_t)w[k] >= 32;
                uint32_t h = fnv1a((const uint8_t *)w, len) & (WT_SLOTS - 1);
                while (wt->word[h] != NULL && !(wt->len[h] == len && memcmp(wt->word[h], w, len) == 0))
                    h = (h + 1) & (WT_SLOTS - 1);
                if (wt->word[h] == NULL) {
                    wt->word[h] = w;
                    wt->len[h] = len;
                    filled++;
                }
                wt->mask[h] |= (uint8_t)(1 << s);
            }
            Py_DECREF(item);
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            return -1;
    }
    return 0;
}

/* the lists holding the word data[i:j] (a word with a non-ASCII character is in none) */
static uint8_t
word_table_mask(const word_table *wt, int kind, const void *data, Py_ssize_t i, Py_ssize_t j)
{
    uint8_t w[64];
    if (j - i > 64)
        return 0;  /* longer than any listed word */
    for (Py_ssize_t k = i; k < j; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, k);
        if (c > 127)
            return 0;
        w[k - i] = (uint8_t)c;
    }
    uint32_t h = fnv1a(w, j - i) & (WT_SLOTS - 1);
    while (wt->word[h] != NULL) {
        if (wt->len[h] == j - i && memcmp(wt->word[h], w, j - i) == 0)
            return wt->mask[h];
        h = (h + 1) & (WT_SLOTS - 1);
    }
    return 0;
}

/* whether the ASCII needle occurs in buf[0:n] */
static int
contains_ascii(const uint8_t *buf, Py_ssize_t n, const char *needle)
{
    Py_ssize_t m = (Py_ssize_t)strlen(needle);
    for (Py_ssize_t i = 0; i + m <= n; i++)
        if (buf[i] == (uint8_t)needle[0] && memcmp(buf + i, needle, m) == 0)
            return 1;
    return 0;
}

#define N_TEXT_SHAPE 30
/* columns of signals.SHAPE_FEATURE_NAMES left to Python (regular expressions too intricate to
   restate here: URLs and e-mails), and the bullet and label columns */
enum { COL_URLS = 12, COL_EMAILS = 13, COL_BULLET = 18, COL_LABEL = 19 };
enum { HINT_URL = 1, HINT_AT = 2, HINT_HASH = 4 };

/* signals.BULLET.match: ^\s*(?:[-•*▪►▶→»✓✔]|\d{1,2}[.)])\s */
static int
bullet_at_start(int kind, const void *data, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n && is_space(PyUnicode_READ(kind, data, i)))
        i++;
    if (i >= n)
        return 0;
    Py_UCS4 c = PyUnicode_READ(kind, data, i);
    if (c == '-' || c == 0x2022 || c == '*' || c == 0x25AA || c == 0x25BA || c == 0x25B6 || c == 0x2192 || c == 0xBB
            || c == 0x2713 || c == 0x2714) {
        i++;
    } else {
        /* one or two digits, then "." or ")": a third digit can take neither place */
        Py_ssize_t j = i;
        while (j < n && j - i < 3 && is_decimal(PyUnicode_READ(kind, data, j)))
            j++;
        if (j == i || j - i > 2 || j >= n)
            return 0;
        Py_UCS4 d = PyUnicode_READ(kind, data, j);
        if (d != '.' && d != ')')
            return 0;
        i = j + 1;
    }
    return i < n && is_space(PyUnicode_READ(kind, data, i));
}

static inline int is_label_separator(Py_UCS4 c)  /* [:|»›>–—-] */
{ return c == ':' || c == '|' || c == 0xBB || c == 0x203A || c == '>' || c == 0x2013 || c == 0x2014 || c == '-'; }

/* what LABEL asks of a character after the label's first letter, tabulated for ASCII at import */
enum { L_LABEL = 1, L_SEP = 2, L_SPACE = 4 };  /* [\w'’&/ -], [:|»›>–—-], \s */
static uint8_t label_ascii[128];

static void
label_ascii_init(void)
{
    for (Py_UCS4 c = 0; c < 128; c++)
        label_ascii[c] = (uint8_t)((re_word(c) || c == '\'' || c == '&' || c == '/' || c == ' ' || c == '-' ? L_LABEL : 0)
                                   | (is_label_separator(c) ? L_SEP : 0) | (is_space(c) ? L_SPACE : 0));
}

static inline uint8_t
label_class(Py_UCS4 c)
{
    if (c < 128)
        return label_ascii[c];
    return (uint8_t)((re_word(c) || c == 0x2019 ? L_LABEL : 0) | (is_label_separator(c) ? L_SEP : 0)
                     | (is_space(c) ? L_SPACE : 0));
}

/* signals.LABEL.match: ^[\W_]*[A-Za-z][\w'’&/ -]{0,30}?\s?[:|»›>–—-]\s -- the shortest label
   first, as the lazy quantifier tries them. Inlined into label_at_start once per kind, so that
   each copy reads its characters without a test of the kind (most segments' first 31 characters
   are read: that test was half the time) */
static inline __attribute__((always_inline)) int
label_at_start_of_kind(const int kind, const void *data, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (re_word(c) && c != '_')
            break;
        i++;
    }
    if (i >= n || !(is_upper_ascii(PyUnicode_READ(kind, data, i)) || is_lower_ascii(PyUnicode_READ(kind, data, i))))
        return 0;
    for (Py_ssize_t k = 0; k <= 30; k++) {
        Py_ssize_t q = i + 1 + k;  /* after the label's k further characters */
        if (q >= n)
            return 0;
        const uint8_t c = label_class(PyUnicode_READ(kind, data, q));
        if ((c & L_SPACE) && q + 2 < n && (label_class(PyUnicode_READ(kind, data, q + 1)) & L_SEP)
                && (label_class(PyUnicode_READ(kind, data, q + 2)) & L_SPACE))
            return 1;
        if ((c & L_SEP) && q + 1 < n && (label_class(PyUnicode_READ(kind, data, q + 1)) & L_SPACE))
            return 1;
        if (!(c & L_LABEL))
            return 0;  /* the label cannot take this character in */
    }
    return 0;
}

static int
label_at_start(int kind, const void *data, Py_ssize_t n)
{
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        return label_at_start_of_kind(PyUnicode_1BYTE_KIND, data, n);
    case PyUnicode_2BYTE_KIND:
        return label_at_start_of_kind(PyUnicode_2BYTE_KIND, data, n);
    default:
        return label_at_start_of_kind(PyUnicode_4BYTE_KIND, data, n);
    }
}

/* signals._URL_HINT: ://|www\.|\.(?:com|org|...)\b in any case, a test every URL match passes.
   A letter of a top-level domain may be one of the four non-ASCII characters the regex engine
   matches with an ASCII letter when it ignores case (İ ı ſ K); they count as that letter. */
static const char *const url_tlds[] = {"com", "org", "net", "io", "co", "uk", "de", "fr", "info", "news", "xyz",
                                       "app", "ai", "me", "tv", "us", "ca", "au", "in", "biz"};

static inline Py_UCS4 fold_ascii(Py_UCS4 c)
{
    if (c < 128)
        return c | 0x20;
    return c == 0x130 || c == 0x131 ? 'i' : c == 0x17F ? 's' : c == 0x212A ? 'k' : 0;
}

static int
url_hint(int kind, const void *data, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i + 2 < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == ':') {
            if (PyUnicode_READ(kind, data, i + 1) == '/' && PyUnicode_READ(kind, data, i + 2) == '/')
                return 1;
        } else if (c == 'w' || c == 'W') {
            if (i + 3 < n && (PyUnicode_READ(kind, data, i + 1) | 0x20) == 'w'
                    && (PyUnicode_READ(kind, data, i + 2) | 0x20) == 'w' && PyUnicode_READ(kind, data, i + 3) == '.')
                return 1;
        } else if (c == '.') {
            for (size_t t = 0; t < sizeof(url_tlds) / sizeof(url_tlds[0]); t++) {
                const char *tld = url_tlds[t];
                Py_ssize_t k = 0;
                while (tld[k] && i + 1 + k < n && fold_ascii(PyUnicode_READ(kind, data, i + 1 + k)) == (Py_UCS4)tld[k])
                    k++;
                if (!tld[k] && (i + 1 + k == n || !re_word(PyUnicode_READ(kind, data, i + 1 + k))))
                    return 1;
            }
        }
    }
    return 0;
}

/* url_hint of an ASCII text: the same tests on its bytes, found from its rare characters (":"
   and ".", by memchr): "://"; "www." (at the period: the three characters before it); a
   period and a TLD */
static int
url_hint_ascii(const uint8_t *s, Py_ssize_t n)
{
    if (n < 3)
        return 0;
    for (const uint8_t *p = s; (p = memchr(p, ':', (size_t)(s + n - 2 - p))) != NULL; p++)
        if (p[1] == '/' && p[2] == '/')
            return 1;
    for (const uint8_t *p = s; p < s + n && (p = memchr(p, '.', (size_t)(s + n - p))) != NULL; p++) {
        const Py_ssize_t i = p - s;
        if (i >= 3 && (s[i - 3] | 0x20) == 'w' && (s[i - 2] | 0x20) == 'w' && (s[i - 1] | 0x20) == 'w')
            return 1;
        if (i + 2 >= n)
            continue;
        for (size_t t = 0; t < sizeof(url_tlds) / sizeof(url_tlds[0]); t++) {
            const char *tld = url_tlds[t];
            Py_ssize_t k = 0;
            while (tld[k] && i + 1 + k < n && (s[i + 1 + k] | 0x20) == (uint8_t)tld[k])
                k++;
            if (!tld[k] && (i + 1 + k == n || !re_word(s[i + 1 + k])))
                return 1;
        }
    }
    return 0;
}

/* -- signals.URL: its matches, as the regular expression engine finds them ----------------------
   (?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:TLDS)\b(?:/\S*)?, ignoring case (fold_ascii).
   How its backtracking goes, and so which match it finds at a position:
   - [\w-]+ takes the whole run of word characters and hyphens: giving some back leaves a word
     character or a hyphen next, where both the groups and the last \. need a period;
   - likewise each (?:\.[\w-]+) takes a period and the whole run after it, as many groups as there
     are; the star then gives groups back one at a time, from the last, until \.(?:TLDS)\b
     follows: the match takes the most groups after which a period and a TLD ending a word come;
   - at most one TLD can end a word at a place (one that is a prefix of another is followed by a
     letter where the longer one goes on), so their order does not matter. */
#define URL_AT(i) PyUnicode_READ(kind, data, i)

static inline int url_run_char(Py_UCS4 c) { return re_word(c) || c == '-'; }

/* the end of a TLD starting at i and ending a word, or -1 */
static Py_ssize_t
url_tld_end(int kind, const void *data, Py_ssize_t n, Py_ssize_t i)
{
    for (size_t t = 0; t < sizeof(url_tlds) / sizeof(url_tlds[0]); t++) {
        const char *tld = url_tlds[t];
        Py_ssize_t k = 0;
        while (tld[k] && i + k < n && fold_ascii(URL_AT(i + k)) == (Py_UCS4)tld[k])
            k++;
        if (!tld[k] && (i + k == n || !re_word(URL_AT(i + k))))
            return i + k;
    }
    return -1;
}

/* the end of the run of non-space characters from i */
static inline Py_ssize_t
url_non_space_end(int kind, const void *data, Py_ssize_t n, Py_ssize_t i)
{
    while (i < n && !is_space(URL_AT(i)))
        i++;
    return i;
}

/* the end of (?:https?://|www\.)\S+ matched at i, or -1 */
static Py_ssize_t
url_scheme_match(int kind, const void *data, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t j = -1;
    if (i + 3 < n && fold_ascii(URL_AT(i)) == 'h' && fold_ascii(URL_AT(i + 1)) == 't'
            && fold_ascii(URL_AT(i + 2)) == 't' && fold_ascii(URL_AT(i + 3)) == 'p') {
        Py_ssize_t k = i + 4;
        if (k < n && fold_ascii(URL_AT(k)) == 's')
            k++;  /* (s? gives its s back only to meet ":", which an s is not) */
        if (k + 2 < n && URL_AT(k) == ':' && URL_AT(k + 1) == '/' && URL_AT(k + 2) == '/')
            j = k + 3;
    } else if (i + 3 < n && fold_ascii(URL_AT(i)) == 'w' && fold_ascii(URL_AT(i + 1)) == 'w'
               && fold_ascii(URL_AT(i + 2)) == 'w' && URL_AT(i + 3) == '.') {
        j = i + 4;
    }
    if (j < 0 || j >= n || is_space(URL_AT(j)))
        return -1;  /* \S+ needs one character at least */
    return url_non_space_end(kind, data, n, j);
}

/* the end of \b[\w-]+(?:\.[\w-]+)*\.(?:TLDS)\b(?:/\S*)? matched at i, or -1; *chain_end: where the
   dotted chain of [\w-] runs from i ends. When no match starts at i, none starts anywhere in that
   chain: a later start has a tail of the same places to end groups at. (Skipping the chain keeps
   a long one without a TLD linear: "a." * 20000 took a minute, tried from each run.) */
static Py_ssize_t
url_domain_match(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *chain_end)
{
    Py_ssize_t q = i;
    while (q < n && url_run_char(URL_AT(q)))
        q++;
    Py_ssize_t end = -1;
    /* each place a group could end (q, then after each further group): the last one followed by
       a period and a TLD ending a word is where the star stops */
    for (;;) {
        if (q < n && URL_AT(q) == '.') {
            const Py_ssize_t e = url_tld_end(kind, data, n, q + 1);
            if (e >= 0)
                end = e;
        }
        if (!(q + 1 < n && URL_AT(q) == '.' && url_run_char(URL_AT(q + 1))))
            break;
        q += 2;
        while (q < n && url_run_char(URL_AT(q)))
            q++;
    }
    *chain_end = q;
    if (end >= 0 && end < n && URL_AT(end) == '/')
        end = url_non_space_end(kind, data, n, end + 1);
    return end;
}

/* the end of a URL match at i, or -1 (*failed_until: the end of the dotted chain from i, when no
   domain match can start in it) */
static Py_ssize_t
url_match_at(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *failed_until)
{
    Py_ssize_t end = url_scheme_match(kind, data, n, i);
    if (end < 0 && i >= *failed_until) {
        const Py_UCS4 c = URL_AT(i);
        const int before = i > 0 && re_word(URL_AT(i - 1));
        if (url_run_char(c) && before != re_word(c)) {  /* \b, then [\w-] */
            Py_ssize_t chain_end;
            end = url_domain_match(kind, data, n, i, &chain_end);
            if (end < 0)
                *failed_until = chain_end;
        }
    }
    return end;
}

/* signals.EMAIL, \b[\w.+-]+@[\w-]+\.[\w.-]+\b: its match at i, or -1. Backtracking can only
   shorten the last run: each of the others must take its whole run to meet the "@" or the
   period after it (neither is in the run's class); the last gives characters back until a word
   boundary follows. What follows the first run decides alike for every start in it
   (*failed_until, when it fails). */
static inline int email_local_char(Py_UCS4 c) { return re_word(c) || c == '.' || c == '+' || c == '-'; }

static Py_ssize_t
email_match_at(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *failed_until)
{
    const Py_UCS4 c = URL_AT(i);
    if (i < *failed_until || !email_local_char(c) || (i > 0 && re_word(URL_AT(i - 1))) == re_word(c))
        return -1;
    Py_ssize_t q = i + 1;
    while (q < n && email_local_char(URL_AT(q)))
        q++;
    *failed_until = q;  /* (until it matches) */
    if (q >= n || URL_AT(q) != '@')
        return -1;
    Py_ssize_t r = q + 1;
    while (r < n && url_run_char(URL_AT(r)))
        r++;
    if (r == q + 1 || r >= n || URL_AT(r) != '.')
        return -1;
    Py_ssize_t end = r + 1;
    while (end < n && (url_run_char(URL_AT(end)) || URL_AT(end) == '.'))
        end++;
    for (; end >= r + 2; end--)  /* \b: the first place giving back reaches */
        if (re_word(URL_AT(end - 1)) != (end < n && re_word(URL_AT(end)))) {
            *failed_until = 0;
            return end;
        }
    return -1;
}

/* signals.HANDLE, (?<![\w@])@\w{2,}, and signals.HASHTAG, (?<![\w#&])#[A-Za-z]\w+: the match at i,
   or -1 */
static Py_ssize_t
handle_match_at(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *unused)
{
    if (URL_AT(i) != '@' || (i > 0 && (re_word(URL_AT(i - 1)) || URL_AT(i - 1) == '@')))
        return -1;
    Py_ssize_t end = i + 1;
    while (end < n && re_word(URL_AT(end)))
        end++;
    return end - i - 1 >= 2 ? end : -1;
}

static Py_ssize_t
hashtag_match_at(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *unused)
{
    if (URL_AT(i) != '#' || i + 2 >= n || (i > 0 && (re_word(URL_AT(i - 1)) || URL_AT(i - 1) == '#' || URL_AT(i - 1) == '&'))
            || !(is_upper_ascii(URL_AT(i + 1)) || is_lower_ascii(URL_AT(i + 1))) || !re_word(URL_AT(i + 2)))
        return -1;
    Py_ssize_t end = i + 3;
    while (end < n && re_word(URL_AT(end)))
        end++;
    return end;
}

typedef Py_ssize_t (*link_match_at)(int kind, const void *data, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *memo);
/* signals.URL, EMAIL, HANDLE, HASHTAG (LINK_PATTERNS in signals.py) */
static const link_match_at link_matchers[] = {url_match_at, email_match_at, handle_match_at, hashtag_match_at};
#define N_LINK_PATTERNS ((Py_ssize_t)(sizeof(link_matchers) / sizeof(link_matchers[0])))

/* The matches of a link pattern in a str, in order, as re.finditer finds them (start and end of
   each in `spans`: room for n is enough, as each match is three characters at least): how many */
static Py_ssize_t
link_matches(PyObject *text, link_match_at match_at, Py_ssize_t *spans)
{
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t found = 0, memo = 0;
    for (Py_ssize_t i = 0; i < n;) {
        const Py_ssize_t end = match_at(kind, data, n, i, &memo);
        if (end < 0) {
            i++;
            continue;
        }
        spans[2 * found] = i;
        spans[2 * found + 1] = end;
        found++;
        i = end;
    }
    return found;
}
#undef URL_AT

/* link_count's and link_sub's arguments: the text, its matches' spans (PyMem_Free them) */
static Py_ssize_t
link_spans(PyObject *text, Py_ssize_t which, Py_ssize_t **spans, const char *name)
{
    if (which < 0 || which >= N_LINK_PATTERNS) {
        PyErr_Format(PyExc_ValueError, "%s: no link pattern %zd", name, which);
        return -1;
    }
    *spans = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(PyUnicode_GET_LENGTH(text) + 2));
    if (*spans == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return link_matches(text, link_matchers[which], *spans);
}

PyDoc_STRVAR(link_count_doc,
"link_count(text, which) -> int\n\n"
"len(pattern.findall(text)) of signals.LINK_PATTERNS[which] (URL, EMAIL, HANDLE, HASHTAG).");

static PyObject *
link_count(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t which, *spans;
    if (!PyArg_ParseTuple(args, "Un", &text, &which))
        return NULL;
    const Py_ssize_t found = link_spans(text, which, &spans, "link_count");
    if (found < 0)
        return NULL;
    PyMem_Free(spans);
    return PyLong_FromSsize_t(found);
}

PyDoc_STRVAR(link_sub_doc,
"link_sub(text, which, replacement) -> str\n\n"
"pattern.sub(replacement, text) of signals.LINK_PATTERNS[which], the replacement taken as it is\n"
"(no backslash escapes); the text itself when nothing matches.");

static PyObject *
link_sub(PyObject *self, PyObject *args)
{
    PyObject *text, *replacement;
    Py_ssize_t which, *spans;
    if (!PyArg_ParseTuple(args, "UnU", &text, &which, &replacement))
        return NULL;
    const Py_ssize_t found = link_spans(text, which, &spans, "link_sub");
    if (found < 0)
        return NULL;
    PyObject *result = NULL, *pieces = NULL, *empty = NULL;
    if (found == 0) {
        result = Py_NewRef(text);
        goto done;
    }
    pieces = PyList_New(0);
    empty = PyUnicode_New(0, 0);
    if (pieces == NULL || empty == NULL)
        goto done;
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k <= found; k++) {
        const Py_ssize_t stop = k < found ? spans[2 * k] : PyUnicode_GET_LENGTH(text);
        PyObject *piece = PyUnicode_Substring(text, at, stop);
        if (piece == NULL || PyList_Append(pieces, piece) < 0) {
            Py_XDECREF(piece);
            goto done;
        }
        Py_DECREF(piece);
        if (k < found) {
            if (PyList_Append(pieces, replacement) < 0)
                goto done;
            at = spans[2 * k + 1];
        }
    }
    result = PyUnicode_Join(empty, pieces);
done:
    Py_XDECREF(pieces);
    Py_XDECREF(empty);
    PyMem_Free(spans);
    return result;
}

/* The character counts of shape_one's first loop over an ASCII text (where no character is an
   emoji, a non-ASCII separator or the copyright sign) */
static void
ascii_counts(const uint8_t *s, Py_ssize_t n, const ascii_tables *t, Py_ssize_t *letters, Py_ssize_t *alnum, Py_ssize_t *spaces,
             Py_ssize_t *upper, Py_ssize_t *digits, Py_ssize_t *titles, Py_ssize_t *handles, Py_ssize_t *hashtags,
             Py_ssize_t *separators, int *quotes, int *at)
{
    int after_word = 0;  /* the previous character is \w or an apostrophe */
    Py_ssize_t title_count = 0;  /* (counts in locals: stores through the pointers could alias the tables) */
    int quote = 0;
    /* the packed counters, in blocks they cannot overflow in */
    for (Py_ssize_t a = 0; a < n; a += PACK_FLUSH) {
        const Py_ssize_t z = n - a < PACK_FLUSH ? n : a + PACK_FLUSH;
        uint64_t acc = 0;
        for (Py_ssize_t i = a; i < z; i++) {
            const uint8_t c = s[i];
            acc += t->pack[c];
            /* TITLE_WORD at its first letter: a capital not after a word character or apostrophe */
            title_count += ((unsigned)(c - 'A') < 26u) & !after_word;
            if (t->special[c]) {
                const uint8_t prev = i ? s[i - 1] : 0;
                const int prev_word = i && ((ascii_class[prev] & C_ALNUM) || prev == '_');
                quote |= c == '"' || c == N_LDQUO || c == N_RDQUO;  /* (codes only in narrowed text) */
                if (c == '@') {
                    *at = 1;
                    if (!(prev_word || prev == '@')) {
                        Py_ssize_t j = i + 1;
                        while (j < n && ((ascii_class[s[j]] & C_ALNUM) || s[j] == '_'))
                            j++;
                        *handles += j - i - 1 >= 2;
                    }
                } else if (c == '#' && !(prev_word || prev == '#' || prev == '&') && i + 2 < n) {
                    const uint8_t d = s[i + 1] | 0x20;
                    *hashtags += d >= 'a' && d <= 'z' && ((ascii_class[s[i + 2]] & C_ALNUM) || s[i + 2] == '_');
                }
            }
            after_word = t->word_or_quote[c];
        }
        *letters += pack_field(acc, PACK_ALPHA);
        *alnum += pack_field(acc, PACK_ALNUM);
        *spaces += pack_field(acc, PACK_SPACE);
        *upper += pack_field(acc, PACK_UPPER);
        *digits += pack_field(acc, PACK_DIGIT);
        *separators += pack_field(acc, PACK_BAR);
    }
    *titles += title_count;
    *quotes |= quote;
}

static inline int is_lower_byte(uint8_t c) { return (unsigned)(c - 'a') < 26u; }

/* the end of the run of a-z from j in s[0:n]. Where SSE2 is, 16 bytes are tested at a time: a
   word shorter than that ends without a loop over its bytes, whose exit was mispredicted at most
   words. */
static inline Py_ssize_t
lower_run_end(const uint8_t *s, Py_ssize_t n, Py_ssize_t j)
{
#if defined(__SSE2__)
    /* (a byte x is in a-z when x + (128 - 'a'), signed, is under -128 + 26) */
    const __m128i shift = _mm_set1_epi8((char)(128 - 'a')), limit = _mm_set1_epi8((char)(-128 + 26));
    for (; j + 16 <= n; j += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(s + j));
        const unsigned others = ~(unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(_mm_add_epi8(x, shift), limit)) & 0xFFFFu;
        if (others)
            return j + __builtin_ctz(others);
    }
#endif
    while (j < n && is_lower_byte(s[j]))
        j++;
    return j;
}

/* WORD ([^\W\d_]+(?:['’][^\W\d_]+)?) over lower-cased ASCII, where its letters are a-z: the end
   of the match at i, a letter (`joiner`: the tables' code of ’, or "'") */
static Py_ssize_t
ascii_word_end(const uint8_t *s, Py_ssize_t n, Py_ssize_t i, uint8_t joiner)
{
    Py_ssize_t j = lower_run_end(s, n, i + 1);
    if (j + 1 < n && (s[j] == '\'' || s[j] == joiner) && is_lower_byte(s[j + 1]))
        j = lower_run_end(s, n, j + 2);
    return j;
}

/* whether "copyright" or "rights reserved" occurs in lower-cased ASCII text, asked of each word
   s[i:j] of it: a run of letters lies within one word, so "copyright" occurs in a word, and
   "rights reserved" where a word ends in "rights" before " reserved" */
static inline int
copyright_at(const uint8_t *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t j)
{
    for (Py_ssize_t k = i; k + 9 <= j; k++)
        if (s[k] == 'c' && memcmp(s + k, "copyright", 9) == 0)
            return 1;
    return j - i >= 6 && j + 9 <= n && s[j] == ' ' && memcmp(s + j - 6, "rights", 6) == 0
           && memcmp(s + j + 1, "reserved", 8) == 0;
}

/* WORD over lower-cased ASCII (its letters are a-z), each word looked up in the table: the
   number of words, and of words in each list; whether the first is a call-to-action verb, and
   whether the text says "copyright" or "rights reserved" */
static Py_ssize_t
ascii_words(const uint8_t *s, Py_ssize_t n, uint8_t joiner, const word_table *wt, Py_ssize_t counts[5],
            int *cta_first, int *copyright)
{
    Py_ssize_t words = 0;
    for (Py_ssize_t i = 0; i < n;) {
        if (!is_lower_byte(s[i])) {
            i++;
            continue;
        }
        const Py_ssize_t j = ascii_word_end(s, n, i, joiner);
        *copyright |= j - i >= 6 && copyright_at(s, n, i, j);
        uint8_t mask = 0;
        if (j - i <= 64) {  /* longer than any listed word */
            uint32_t h = fnv1a(s + i, j - i) & (WT_SLOTS - 1);
            while (wt->word[h] != NULL) {
                if (wt->len[h] == j - i && memcmp(wt->word[h], s + i, j - i) == 0) {
                    mask = wt->mask[h];
                    break;
                }
                h = (h + 1) & (WT_SLOTS - 1);
            }
        }
        for (int k = 0; k < 5; k++)
            counts[k] += (mask >> k) & 1;
        if (words == 0)
            *cta_first = mask & 1;
        words++;
        i = j;
    }
    return words;
}

/* log1p of the counts most segments have, from log1p itself (the same values), at start-up:
   glibc's log1p takes about 160 instructions a call, two calls a segment */
#define LOG1P_TABLE 1024
static double log1p_table[LOG1P_TABLE];

static void
log1p_table_init(void)
{
    for (int i = 0; i < LOG1P_TABLE; i++)
        log1p_table[i] = log1p((double)i);
}

static inline double
log1p_count(Py_ssize_t n)
{
    return n >= 0 && n < LOG1P_TABLE ? log1p_table[n] : log1p((double)n);
}

/* One text's columns into row[N_TEXT_SHAPE]; hint bits say which Python columns may be nonzero.
   Returns -1 with an exception set on error. */
static int
shape_one(PyObject *text, PyObject *sets[5], const word_table *wt, PyObject *needles[2], double *row,
          uint8_t *hint, uint8_t **scratch, Py_ssize_t *scratch_cap, uint8_t **narrowed, Py_ssize_t *narrowed_cap)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "text_shape: an empty segment text");
        return -1;
    }
    Py_ssize_t letters = 0, alnum = 0, spaces = 0, upper = 0, digits = 0, titles = 0;
    Py_ssize_t handles = 0, hashtags = 0, emoji = 0, separators = 0;
    int quotes = 0, copyright = 0, ascii_only = 1, at = 0;
    Py_UCS4 prev = 0;
    /* ASCII text (most of it) is counted byte by byte with tables, and so is narrowed text: the
       same counts */
    const uint8_t *bytes = NULL;
    const ascii_tables *tables = &plain_tables;
    if (PyUnicode_IS_ASCII(text) && wt->usable) {
        bytes = data;
    } else if (wt->usable && wt->narrowable) {
        Py_UCS4 maxchar;
        const Py_ssize_t got = narrow_text(text, narrowed, narrowed_cap, &maxchar);
        if (got == -1)
            return -1;
        if (got >= 0) {
            bytes = *narrowed;
            tables = &narrow_tables;
            copyright = memchr(bytes, N_COPY, (size_t)n) != NULL;
        }
    }
    const int ascii_fast = bytes != NULL;
    if (ascii_fast) {
        ascii_counts(bytes, n, tables, &letters, &alnum, &spaces, &upper, &digits, &titles, &handles, &hashtags,
                     &separators, &quotes, &at);
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c > 127)
                ascii_only = 0;
            letters += is_alpha(c) != 0;
            alnum += is_alnum(c) != 0;
            spaces += is_space(c) != 0;
            upper += is_upper(c) != 0;
            digits += is_digit(c) != 0;
            /* TITLE_WORD: (?<![\w'’])[^\W\d_a-z][^\W\d_]*, counted at its first letter */
            if (re_letter(c) && !(c >= 'a' && c <= 'z')
                    && (i == 0 || !(re_word(prev) || prev == '\'' || prev == 0x2019)))
                titles++;
            emoji += is_emoji(c);
            separators += is_separator(c);
            quotes |= c == '"' || c == 0x201C || c == 0x201D;
            copyright |= c == 0xA9;
            at |= c == '@';
            /* HANDLE: (?<![\w@])@\w{2,}   HASHTAG: (?<![\w#&])#[A-Za-z]\w+  (a match runs on to the
               end of its word characters, where the next cannot start) */
            if (c == '@' && (i == 0 || !(re_word(prev) || prev == '@'))) {
                Py_ssize_t j = i + 1;
                while (j < n && re_word(PyUnicode_READ(kind, data, j)))
                    j++;
                if (j - i - 1 >= 2)
                    handles++;
            }
            if (c == '#' && (i == 0 || !(re_word(prev) || prev == '#' || prev == '&')) && i + 2 < n) {
                Py_UCS4 d = PyUnicode_READ(kind, data, i + 1);
                if (((d | 0x20) >= 'a' && (d | 0x20) <= 'z') && re_word(PyUnicode_READ(kind, data, i + 2)))
                    hashtags++;
            }
            prev = c;
        }
    }

    /* the lower-cased text: ASCII lower-cased here, anything else by str.lower (its length may
       change: "İ" lower-cases to two characters) */
    PyObject *lowered = NULL;
    Py_ssize_t ln;
    int lkind;
    const void *ldata;
    if (ascii_only) {
        uint8_t *grown = grow(*scratch, scratch_cap, n, 1, 256);
        if (grown == NULL)
            return -1;
        *scratch = grown;
        const uint8_t *src = ascii_fast ? bytes : (const uint8_t *)data;
        for (Py_ssize_t i = 0; i < n; i++)
            (*scratch)[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (uint8_t)(src[i] | 0x20) : src[i];
        ln = n;
        lkind = PyUnicode_1BYTE_KIND;
        ldata = *scratch;
    } else {
        lowered = PyObject_CallMethod(text, "lower", NULL);
        if (lowered == NULL)
            return -1;
        ln = PyUnicode_GET_LENGTH(lowered);
        lkind = PyUnicode_KIND(lowered);
        ldata = PyUnicode_DATA(lowered);
    }
    /* WORD: [^\W\d_]+(?:['’][^\W\d_]+)? over the lower-cased text */
    Py_ssize_t words = 0, counts[5] = {0, 0, 0, 0, 0};  /* cta, stop, second, plural, reporting */
    int cta_first = 0;
    if (ascii_fast)  /* (copyright is 1 here only for a narrowed ©) */
        words = ascii_words(ldata, ln, tables->joiner, wt, counts, &cta_first, &copyright);
    for (Py_ssize_t i = 0; !ascii_fast && i < ln;) {
        if (!re_letter(PyUnicode_READ(lkind, ldata, i))) {
            i++;
            continue;
        }
        Py_ssize_t j = word_end(lkind, ldata, ln, i);
        uint8_t mask = 0;
        if (wt->usable) {
            mask = word_table_mask(wt, lkind, ldata, i, j);
        } else {
            PyObject *word = lowered ? PyUnicode_Substring(lowered, i, j)
                                     : PyUnicode_FromStringAndSize((const char *)ldata + i, j - i);
            if (word == NULL)
                goto fail;
            for (int s = 0; s < 5; s++) {
                int found = PySet_Contains(sets[s], word);
                if (found < 0) {
                    Py_DECREF(word);
                    goto fail;
                }
                mask |= (uint8_t)(found << s);
            }
            Py_DECREF(word);
        }
        for (int s = 0; s < 5; s++)
            counts[s] += (mask >> s) & 1;
        if (words == 0)
            cta_first = mask & 1;
        words++;
        i = j;
    }
    if (!copyright && !ascii_fast) {  /* (ascii_words looked) */
        if (lowered == NULL) {
            copyright = contains_ascii(ldata, ln, "copyright") || contains_ascii(ldata, ln, "rights reserved");
        } else {
            for (int k = 0; k < 2 && !copyright; k++) {
                Py_ssize_t found = PyUnicode_Find(lowered, needles[k], 0, ln, 1);
                if (found == -2)
                    goto fail;
                copyright = found >= 0;
            }
        }
    }
    Py_XDECREF(lowered);

    /* the text without closing quotes, brackets and asterisks: its last character */
    Py_ssize_t last = n;
    while (last > 0) {
        Py_UCS4 c = PyUnicode_READ(kind, data, last - 1);
        if (!(is_close(c) || c == '*'))
            break;
        last--;
    }
    Py_UCS4 last_char = last ? PyUnicode_READ(kind, data, last - 1) : 0;
    Py_UCS4 end = PyUnicode_READ(kind, data, n - 1), first = PyUnicode_READ(kind, data, 0);
    const double n_words = words > 0 ? (double)words : 1.0;
    const double n_letters = letters > 0 ? (double)letters : 1.0;
    const double n_chars = (double)n;
    double *r = row;
    r[0] = log1p_count(n);
    r[1] = log1p_count(words);
    r[2] = last_char == '.';
    r[3] = last_char == '!';
    r[4] = last_char == '?';
    r[5] = last_char == ':';
    r[6] = is_alnum(end) != 0;
    r[7] = is_close(end);
    r[8] = (double)upper / n_letters;
    r[9] = (double)titles / n_words;
    r[10] = (double)digits / n_chars;
    r[11] = (double)(n - alnum - spaces) / n_chars;
    r[COL_URLS] = r[COL_EMAILS] = 0.0;
    r[14] = (double)handles;
    r[15] = (double)hashtags;
    r[16] = ascii_only ? 0.0 : (double)emoji;
    r[17] = (double)separators;
    r[COL_BULLET] = bullet_at_start(kind, data, n);
    r[COL_LABEL] = label_at_start(kind, data, n);
    r[20] = first == '(' || first == '[' || first == '{';
    r[21] = is_upper(first) != 0;
    r[22] = cta_first;
    r[23] = (double)counts[0] / n_words;
    r[24] = (double)counts[2] / n_words;
    r[25] = (double)counts[3] / n_words;
    r[26] = counts[4] > 0;
    r[27] = quotes;
    r[28] = (double)counts[1] / n_words;
    r[29] = copyright;
    *hint = (uint8_t)(((ascii_fast ? url_hint_ascii(bytes, n) : url_hint(kind, data, n)) ? HINT_URL : 0) | (at ? HINT_AT : 0));
    return 0;
fail:
    Py_XDECREF(lowered);
    return -1;
}

PyDoc_STRVAR(text_shape_doc,
"text_shape(texts, cta, stop, second, plural, reporting, out, hints)\n\n"
"The first 30 columns of signals.SHAPE_FEATURE_NAMES for each str of the list `texts` (already\n"
"through signals._country_us), as signals._text_shape computes them, into `out` (float64,\n"
"len(texts) x 30), except the URL and e-mail columns (left 0 for Python).\n"
"`hints` (uint8 [len(texts)]) gets bit 1 where a URL may be in the text, bit 2 where an '@' is.\n"
"The five sets are the word lists of signals (CTA_VERBS, STOPWORDS, ...).");

static PyObject *
text_shape(PyObject *self, PyObject *args)
{
    PyObject *texts, *sets[5], *o_out, *o_hints;
    if (!PyArg_ParseTuple(args, "O!OOOOOOO", &PyList_Type, &texts, &sets[0], &sets[1], &sets[2], &sets[3],
                          &sets[4], &o_out, &o_hints))
        return NULL;
    for (int s = 0; s < 5; s++)
        if (!PyAnySet_Check(sets[s])) {
            PyErr_SetString(PyExc_TypeError, "text_shape: the word lists must be sets");
            return NULL;
        }
    Py_buffer out, hints;
    if (get_out_and_flags(o_out, &out, "d", o_hints, &hints, "hints") < 0)
        return NULL;
    PyObject *result = NULL;
    word_table *wt = NULL;
    uint8_t *scratch = NULL, *narrowed = NULL;
    Py_ssize_t scratch_cap = 0, narrowed_cap = 0;
    PyObject *needles[2] = {PyUnicode_FromString("copyright"), PyUnicode_FromString("rights reserved")};
    const Py_ssize_t n = PyList_GET_SIZE(texts);
    if (needles[0] == NULL || needles[1] == NULL)
        goto done;
    if (out.len / 8 != n * N_TEXT_SHAPE || hints.len != n) {
        PyErr_SetString(PyExc_ValueError, "text_shape: out or hints of the wrong size");
        goto done;
    }
    if ((wt = PyMem_Malloc(sizeof(word_table))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (word_table_build(wt, sets) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "text_shape: texts must be str");
            goto done;
        }
        /* a str of its own (an exact str, not a subclass whose lower() could run code) */
        PyObject *text = PyUnicode_FromObject(item);
        if (text == NULL)
            goto done;
        int status = shape_one(text, sets, wt, needles, (double *)out.buf + i * N_TEXT_SHAPE,
                               (uint8_t *)hints.buf + i, &scratch, &scratch_cap, &narrowed, &narrowed_cap);
        Py_DECREF(text);
        if (status < 0)
            goto done;
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(wt);
    PyMem_Free(scratch);
    PyMem_Free(narrowed);
    Py_XDECREF(needles[0]);
    Py_XDECREF(needles[1]);
    PyBuffer_Release(&out);
    PyBuffer_Release(&hints);
    return result;
}

/* -- the end of signals.mask_text ------------------------------------------------------------- */

/* a growing UCS4 buffer (and room for a narrowed text) */
typedef struct {
    Py_UCS4 *buf;
    Py_ssize_t len, cap;
    uint8_t *narrowed;
    Py_ssize_t narrowed_cap;
} ubuf;

static void
ubuf_free(ubuf *b)
{
    PyMem_Free(b->buf);
    PyMem_Free(b->narrowed);
}

static int
ubuf_grow(ubuf *b)
{
    Py_UCS4 *grown = grow(b->buf, &b->cap, b->len + 1, sizeof(Py_UCS4), 256);
    if (grown == NULL)
        return -1;
    b->buf = grown;
    return 0;
}

static inline int
ubuf_put(ubuf *b, Py_UCS4 c)
{
    if (b->len == b->cap && ubuf_grow(b) < 0)
        return -1;
    b->buf[b->len++] = c;
    return 0;
}

static int
ubuf_puts(ubuf *b, const char *s)
{
    for (; *s; s++)
        if (ubuf_put(b, (Py_UCS4)(unsigned char)*s) < 0)
            return -1;
    return 0;
}

static int
ubuf_put_range(ubuf *b, int kind, const void *data, Py_ssize_t a, Py_ssize_t z)
{
    for (; a < z; a++)
        if (ubuf_put(b, PyUnicode_READ(kind, data, a)) < 0)
            return -1;
    return 0;
}

static inline int is_digit_ascii(uint8_t c) { return (unsigned)(c - '0') < 10u; }

static PyObject *marked_ascii(const uint8_t *m, Py_ssize_t len, uint8_t joiner, Py_UCS4 maxchar);

/* The masked text of an ASCII or narrowed text (no emoji; \d is 0-9; lower-casing is ASCII's),
   lower-cased as it is written, as bytes in b's buffer: its length, or -1 when out of memory */
static Py_ssize_t
mask_digits_ascii(const uint8_t *s, Py_ssize_t n, ubuf *b)
{
    /* a character becomes at most six (a digit: " xnum "); the buffer's memory is used as bytes */
    Py_UCS4 *grown = grow(b->buf, &b->cap, (6 * n) / (Py_ssize_t)sizeof(Py_UCS4) + 2, sizeof(Py_UCS4), 256);
    if (grown == NULL)
        return -1;
    b->buf = grown;
    uint8_t *m = (uint8_t *)b->buf;
    Py_ssize_t len = 0;
    for (Py_ssize_t i = 0; i < n;) {
        if (!is_digit_ascii(s[i])) {  /* a run without digits, lower-cased in a loop of its own (it vectorises) */
            Py_ssize_t r = i + 1;
            while (r < n && !is_digit_ascii(s[r]))
                r++;
            uint8_t *o = m + len;
            for (Py_ssize_t k = i; k < r; k++)
                o[k - i] = (uint8_t)(s[k] | (((unsigned)(s[k] - 'A') < 26u) << 5));
            len += r - i;
            i = r;
            continue;
        }
        Py_ssize_t j = i + 1;
        for (;;) {
            while (j < n && is_digit_ascii(s[j]))
                j++;
            if (j + 1 < n && (s[j] == '.' || s[j] == ',') && is_digit_ascii(s[j + 1]))
                j += 2;
            else
                break;
        }
        memcpy(m + len, " xnum ", 6);
        len += 6;
        i = j;
    }
    return len;
}

/* mask_tail_one of an ASCII or narrowed text, on bytes: the masked text, then the markers of its
   first and last words (`joiner` and `maxchar` as marked_ascii's) */
static PyObject *
mask_tail_ascii(const uint8_t *s, Py_ssize_t n, ubuf *b, uint8_t joiner, Py_UCS4 maxchar)
{
    const Py_ssize_t len = mask_digits_ascii(s, n, b);
    return len < 0 ? NULL : marked_ascii((uint8_t *)b->buf, len, joiner, maxchar);
}

/* WORD ([a-z]+(?:'[a-z]+)? here) in a masked, lower-cased ASCII text, left to right as findall:
   its first and last matches' bounds (0: there is none). The first starts at the first letter.
   No match holds a character that is neither a letter nor an apostrophe, so after one the
   matches are those of a scan started there: the last is found by scanning from the last such
   character before the last letter, not from the start */
static int
marked_words(const uint8_t *m, Py_ssize_t len, uint8_t joiner, Py_ssize_t bounds[4])
{
    Py_ssize_t fs = 0;
    while (fs < len && !is_lower_byte(m[fs]))
        fs++;
    if (fs == len)
        return 0;
    const Py_ssize_t fe = ascii_word_end(m, len, fs, joiner);
    Py_ssize_t last_letter = len - 1;
    while (!is_lower_byte(m[last_letter]))  /* (there is one: m[fs]) */
        last_letter--;
    Py_ssize_t from = last_letter;
    while (from > 0 && (is_lower_byte(m[from - 1]) || m[from - 1] == '\'' || m[from - 1] == joiner))
        from--;
    Py_ssize_t ls = -1, le = -1;
    for (Py_ssize_t i = from; i < len;) {
        if (!is_lower_byte(m[i])) {
            i++;
            continue;
        }
        const Py_ssize_t j = ascii_word_end(m, len, i, joiner);
        ls = i;
        le = j;
        i = j;
    }
    bounds[0] = fs;
    bounds[1] = fe;
    bounds[2] = ls;
    bounds[3] = le;
    return 1;
}

/* A masked, lower-cased ASCII text's marked_bytes as one str. A narrowed text: `joiner` N_RSQUO,
   and `maxchar` the largest of the characters its codes stand for, which go back in their places
   (ASCII: "'" and 0). */
static PyObject *
marked_ascii(const uint8_t *m, Py_ssize_t len, uint8_t joiner, Py_UCS4 maxchar)
{
    Py_ssize_t w[4];
    if (!marked_words(m, len, joiner, w))
        return PyUnicode_FromString("xempty");
    const Py_ssize_t fs = w[0], fe = w[1], ls = w[2], le = w[3];
    /* "xfirst" first " " text " xlast" last */
    const Py_ssize_t size = 6 + (fe - fs) + 1 + len + 6 + (le - ls);
    PyObject *out = PyUnicode_New(size, maxchar ? maxchar : 127);
    if (out == NULL)
        return NULL;
    if (maxchar) {  /* the bytes written as ASCII, then each code as its character */
        uint8_t *tmp = PyMem_Malloc((size_t)size);
        if (tmp == NULL) {
            Py_DECREF(out);
            return PyErr_NoMemory();
        }
        uint8_t *t = tmp;
        memcpy(t, "xfirst", 6);
        memcpy(t + 6, m + fs, (size_t)(fe - fs));
        t += 6 + (fe - fs);
        *t++ = ' ';
        memcpy(t, m, (size_t)len);
        memcpy(t + len, " xlast", 6);
        memcpy(t + len + 6, m + ls, (size_t)(le - ls));
        const int kind = PyUnicode_KIND(out);
        void *data = PyUnicode_DATA(out);
        for (Py_ssize_t i = 0; i < size; i++)
            PyUnicode_WRITE(kind, data, i, tmp[i] < 32 && narrow_char[tmp[i]] ? narrow_char[tmp[i]] : tmp[i]);
        PyMem_Free(tmp);
        return out;
    }
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(out);
    memcpy(o, "xfirst", 6);
    o += 6;
    memcpy(o, m + fs, (size_t)(fe - fs));
    o += fe - fs;
    *o++ = ' ';
    memcpy(o, m, (size_t)len);
    o += len;
    memcpy(o, " xlast", 6);
    o += 6;
    memcpy(o, m + ls, (size_t)(le - ls));
    return out;
}

/* The bytes the ASCII code paths read a text as: its own (ASCII: joiner "'", maxchar 0) or its
   narrowed copy in b (joiner N_RSQUO, maxchar as narrow_text's); *bytes NULL when it is neither.
   -1 when out of memory. */
static int
ascii_bytes_of(PyObject *text, ubuf *b, const uint8_t **bytes, uint8_t *joiner, Py_UCS4 *maxchar)
{
    *joiner = '\'';
    *maxchar = 0;
    *bytes = NULL;
    if (PyUnicode_IS_ASCII(text)) {
        *bytes = PyUnicode_DATA(text);
        return 0;
    }
    const Py_ssize_t narrowed = narrow_text(text, &b->narrowed, &b->narrowed_cap, maxchar);
    if (narrowed == -1)
        return -1;
    if (narrowed >= 0) {
        *bytes = b->narrowed;
        *joiner = N_RSQUO;
    }
    return 0;
}

/* EMOJI -> " xemoji " (non-ASCII text only), DIGITS (\d+(?:[.,]\d+)*) -> " xnum ", lower-cased,
   with first- and last-word markers: the steps of signals.mask_text after the URL, e-mail,
   handle and hashtag placeholders. */
static PyObject *
mask_tail_one(PyObject *text, ubuf *b)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const uint8_t *bytes;
    uint8_t joiner;
    Py_UCS4 maxchar;
    if (ascii_bytes_of(text, b, &bytes, &joiner, &maxchar) < 0)
        return NULL;
    if (bytes != NULL)
        return mask_tail_ascii(bytes, n, b, joiner, maxchar);
    b->len = 0;
    for (Py_ssize_t i = 0; i < n;) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (is_emoji(c)) {
            if (ubuf_puts(b, " xemoji ") < 0)
                return NULL;
            i++;
        } else if (is_decimal(c)) {
            Py_ssize_t j = i + 1;
            for (;;) {
                while (j < n && is_decimal(PyUnicode_READ(kind, data, j)))
                    j++;
                if (j + 1 < n && (PyUnicode_READ(kind, data, j) == '.' || PyUnicode_READ(kind, data, j) == ',')
                        && is_decimal(PyUnicode_READ(kind, data, j + 1)))
                    j += 2;
                else
                    break;
            }
            if (ubuf_puts(b, " xnum ") < 0)
                return NULL;
            i = j;
        } else {
            if (ubuf_put(b, c) < 0)
                return NULL;
            i++;
        }
    }
    int ascii_out = 1;
    for (Py_ssize_t i = 0; i < b->len && ascii_out; i++)
        ascii_out = b->buf[i] < 128;
    if (ascii_out) {
        /* ASCII (emoji replaced): lower-cased into bytes in place (str.lower's answer there; byte
           i lies below character i, at 4i, and every character after it), then marked as ASCII
           text is */
        uint8_t *m = (uint8_t *)b->buf;
        for (Py_ssize_t i = 0; i < b->len; i++) {
            const Py_UCS4 c = b->buf[i];
            m[i] = (uint8_t)((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
        }
        return marked_ascii(m, b->len, '\'', 0);
    }
    PyObject *replaced = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, b->buf, b->len);
    if (replaced == NULL)
        return NULL;
    PyObject *lowered = PyObject_CallMethod(replaced, "lower", NULL);
    Py_DECREF(replaced);
    if (lowered == NULL)
        return NULL;
    const Py_ssize_t ln = PyUnicode_GET_LENGTH(lowered);
    const int lkind = PyUnicode_KIND(lowered);
    const void *ldata = PyUnicode_DATA(lowered);
    Py_ssize_t first_start = -1, first_end = -1, last_start = -1, last_end = -1;
    for (Py_ssize_t i = 0; i < ln;) {  /* left to right, as findall: the last match is findall's */
        if (!re_letter(PyUnicode_READ(lkind, ldata, i))) {
            i++;
            continue;
        }
        Py_ssize_t j = word_end(lkind, ldata, ln, i);
        if (first_start < 0) {
            first_start = i;
            first_end = j;
        }
        last_start = i;
        last_end = j;
        i = j;
    }
    PyObject *result;
    if (first_start < 0) {
        result = PyUnicode_FromString("xempty");
    } else {
        PyObject *first = PyUnicode_Substring(lowered, first_start, first_end);
        PyObject *last = PyUnicode_Substring(lowered, last_start, last_end);
        result = (first && last) ? PyUnicode_FromFormat("xfirst%U %U xlast%U", first, lowered, last) : NULL;
        Py_XDECREF(first);
        Py_XDECREF(last);
    }
    Py_DECREF(lowered);
    return result;
}

/* -- signals.TITLE_RUN: runs of three or more Title Case words or figures -> " xtitle " --------- */

static const char *const title_connectors[] = {"of", "for", "the", "a", "an", "and", "in", "on", "to", "as",
                                               "at", "by", "is", "with", "vs"};

static inline int is_title_tail(Py_UCS4 c)  /* [\w'’.,-] */
{ return re_word(c) || c == '\'' || c == 0x2019 || c == '.' || c == ',' || c == '-'; }
static inline int is_figure_tail(Py_UCS4 c)  /* [\w$.,%-] */
{ return re_word(c) || c == '$' || c == '.' || c == ',' || c == '%' || c == '-'; }

/* One word of a run at i: [A-Z][a-z][\w'’.,-]* or [$\d][\w$.,%-]*; its end, or -1 */
static Py_ssize_t
title_word(int kind, const void *data, Py_ssize_t n, Py_ssize_t i)
{
    if (i >= n)
        return -1;
    Py_UCS4 c = PyUnicode_READ(kind, data, i);
    if (c >= 'A' && c <= 'Z') {
        if (i + 1 >= n || !is_lower_ascii(PyUnicode_READ(kind, data, i + 1)))
            return -1;
        Py_ssize_t j = i + 2;
        while (j < n && is_title_tail(PyUnicode_READ(kind, data, j)))
            j++;
        return j;
    }
    if (c == '$' || is_decimal(c)) {
        Py_ssize_t j = i + 1;
        while (j < n && is_figure_tail(PyUnicode_READ(kind, data, j)))
            j++;
        return j;
    }
    return -1;
}

/* The end of a title run starting at p, or -1: TITLE_RUN without its look-behind. Each further
   word follows whitespace and, maybe, one connector word and whitespace; the regex engine's
   choices are forced (a connector is lower case and must be followed by whitespace, a word
   starts with a capital or a figure), so the longest chain of words is its match. */
static Py_ssize_t
title_run_end(int kind, const void *data, Py_ssize_t n, Py_ssize_t p)
{
    if (!(is_upper_ascii(PyUnicode_READ(kind, data, p)) && p + 1 < n && is_lower_ascii(PyUnicode_READ(kind, data, p + 1))))
        return -1;
    Py_ssize_t end = title_word(kind, data, n, p);
    int more = 0;
    for (;;) {
        Py_ssize_t q = end;
        while (q < n && is_space(PyUnicode_READ(kind, data, q)))
            q++;
        if (q == end)
            break;
        Py_ssize_t word = title_word(kind, data, n, q);
        if (word < 0) {  /* a connector, then whitespace, then a word */
            for (size_t k = 0; k < sizeof(title_connectors) / sizeof(*title_connectors) && word < 0; k++) {
                const char *c = title_connectors[k];
                Py_ssize_t len = (Py_ssize_t)strlen(c), r = q;
                while (r - q < len && r < n && PyUnicode_READ(kind, data, r) == (Py_UCS4)(unsigned char)c[r - q])
                    r++;
                if (r - q != len || r >= n || !is_space(PyUnicode_READ(kind, data, r)))
                    continue;
                while (r < n && is_space(PyUnicode_READ(kind, data, r)))
                    r++;
                word = title_word(kind, data, n, r);
                if (word < 0)
                    break;  /* only one connector can fit here */
            }
        }
        if (word < 0)
            break;
        end = word;
        more++;
    }
    return more >= 2 ? end : -1;
}

PyDoc_STRVAR(title_runs_doc,
"title_runs(texts) -> list\n\n"
"signals.TITLE_RUN.sub(\" xtitle \", text) for each str of the list `texts`.");

/* the first space (' ') in text[from:n], or n */
static inline Py_ssize_t
find_space(int kind, const void *data, Py_ssize_t from, Py_ssize_t n)
{
    if (from >= n)
        return n;
    if (kind == PyUnicode_1BYTE_KIND) {
        const uint8_t *hit = memchr((const uint8_t *)data + from, ' ', (size_t)(n - from));
        return hit != NULL ? hit - (const uint8_t *)data : n;
    }
    for (; from < n; from++)
        if (PyUnicode_READ(kind, data, from) == ' ')
            return from;
    return n;
}

/* TITLE_RUN.sub(" xtitle ", text) of one text (the text itself when nothing is replaced: most
   texts, so nothing is copied until a run is found). A run starts after a space: only the
   positions after one are tried, and the text between runs is copied a range at a time. */
static PyObject *
title_runs_one(PyObject *text, ubuf *b)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t copied = 0;  /* text[:copied] is done: in the buffer once a run is found */
    int copying = 0;
    b->len = 0;
    for (Py_ssize_t sp = find_space(kind, data, 1, n); sp + 1 < n;) {
        /* (?<=\S ): p after a space, after something that is not one */
        const Py_ssize_t p = sp + 1;
        const Py_ssize_t end = is_space(PyUnicode_READ(kind, data, sp - 1)) ? -1 : title_run_end(kind, data, n, p);
        if (end > p) {
            if (ubuf_put_range(b, kind, data, copied, p) < 0 || ubuf_puts(b, " xtitle ") < 0)
                return NULL;
            copying = 1;
            copied = end;
            sp = find_space(kind, data, end, n);  /* (a run ends in a word: not at a space) */
        } else {
            sp = find_space(kind, data, sp + 1, n);
        }
    }
    if (!copying)
        return PyUnicode_FromObject(text);
    if (ubuf_put_range(b, kind, data, copied, n) < 0)
        return NULL;
    return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, b->buf, b->len);
}

/* A new list of one_text(text) for each str of the list in args (a scratch buffer shared) */
static PyObject *
map_texts(PyObject *args, const char *name, PyObject *(*one_text)(PyObject *, ubuf *))
{
    PyObject *texts;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &texts))
        return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(texts);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    ubuf b = {NULL, 0, 0, NULL, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "%s: texts must be str", name);
            goto fail;
        }
        PyObject *done = one_text(text, &b);
        if (done == NULL)
            goto fail;
        PyList_SET_ITEM(out, i, done);
    }
    ubuf_free(&b);
    return out;
fail:
    ubuf_free(&b);
    Py_DECREF(out);
    return NULL;
}

static PyObject *
title_runs(PyObject *self, PyObject *args)
{
    return map_texts(args, "title_runs", title_runs_one);
}

/* -- signals._country_us, and the texts signals._mask_links has work in ----------------------- */

PyDoc_STRVAR(country_us_doc,
"country_us(texts) -> list\n\n"
"signals._country_us of each str of the list `texts`: COUNTRY_US.sub(\"USA\", text), that is\n"
"\\bU\\.S\\.(?=\\W|$)|(?<![A-Z][A-Z] )\\bUS\\b replaced (the text itself when nothing is).");

static PyObject *
country_us_one(PyObject *text, ubuf *b)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t copied = 0;  /* text[:copied] is in the buffer */
    int replaced = 0;
    b->len = 0;
    for (Py_ssize_t p = 0; p + 1 < n; p++) {
        /* both alternatives start with \bU (in 1-byte text, found by memchr) */
        if (kind == PyUnicode_1BYTE_KIND) {
            const uint8_t *hit = memchr((const uint8_t *)data + p, 'U', (size_t)(n - 1 - p));
            if (hit == NULL)
                break;
            p = hit - (const uint8_t *)data;
        }
        if (PyUnicode_READ(kind, data, p) != 'U' || (p > 0 && re_word(PyUnicode_READ(kind, data, p - 1))))
            continue;
        Py_ssize_t len = 0;
        if (p + 3 < n && PyUnicode_READ(kind, data, p + 1) == '.' && PyUnicode_READ(kind, data, p + 2) == 'S'
                && PyUnicode_READ(kind, data, p + 3) == '.' && (p + 4 == n || !re_word(PyUnicode_READ(kind, data, p + 4))))
            len = 4;
        else if (PyUnicode_READ(kind, data, p + 1) == 'S' && (p + 2 == n || !re_word(PyUnicode_READ(kind, data, p + 2)))
                 && !(p >= 3 && is_upper_ascii(PyUnicode_READ(kind, data, p - 3))
                      && is_upper_ascii(PyUnicode_READ(kind, data, p - 2)) && PyUnicode_READ(kind, data, p - 1) == ' '))
            len = 2;
        if (len == 0)
            continue;
        if (ubuf_put_range(b, kind, data, copied, p) < 0 || ubuf_puts(b, "USA") < 0)
            return NULL;
        replaced = 1;
        copied = p + len;
        p = copied - 1;
    }
    if (!replaced)
        return PyUnicode_FromObject(text);  /* an exact str, as re.sub returns (a str subclass copied) */
    if (ubuf_put_range(b, kind, data, copied, n) < 0)
        return NULL;
    return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, b->buf, b->len);
}

static PyObject *
country_us(PyObject *self, PyObject *args)
{
    return map_texts(args, "country_us", country_us_one);
}

PyDoc_STRVAR(link_hints_doc,
"link_hints(texts, hints)\n\n"
"For each str of the list `texts`, which steps of signals._mask_links may replace something,\n"
"into `hints` (uint8 [len(texts)]): bit 1 where a URL may be (signals._URL_HINT finds a match),\n"
"bit 2 where an '@' is, bit 4 where a '#' is. A text with no bit set is left as it is.");

static PyObject *
link_hints(PyObject *self, PyObject *args)
{
    PyObject *texts, *o_hints;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &texts, &o_hints))
        return NULL;
    Py_buffer hints;
    if (get_buffer(o_hints, &hints, 1, 1, "hints", "B") < 0)
        return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(texts);
    PyObject *result = NULL;
    if (hints.len != n) {
        PyErr_SetString(PyExc_ValueError, "link_hints: hints of the wrong size");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "link_hints: texts must be str");
            goto done;
        }
        const Py_ssize_t len = PyUnicode_GET_LENGTH(text);
        const int kind = PyUnicode_KIND(text);
        const void *data = PyUnicode_DATA(text);
        if (PyUnicode_IS_ASCII(text)) {
            ((uint8_t *)hints.buf)[i] = (uint8_t)((url_hint_ascii(data, len) ? HINT_URL : 0)
                                                  | (memchr(data, '@', (size_t)len) ? HINT_AT : 0)
                                                  | (memchr(data, '#', (size_t)len) ? HINT_HASH : 0));
            continue;
        }
        uint8_t bits = url_hint(kind, data, len) ? HINT_URL : 0;
        for (Py_ssize_t j = 0; j < len && (bits & (HINT_AT | HINT_HASH)) != (HINT_AT | HINT_HASH); j++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, j);
            bits |= c == '@' ? HINT_AT : c == '#' ? HINT_HASH : 0;
        }
        ((uint8_t *)hints.buf)[i] = bits;
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&hints);
    return result;
}

PyDoc_STRVAR(mask_tails_doc,
"mask_tails(texts) -> list\n\n"
"The last steps of signals.mask_text for each str of the list `texts`: emoji and numbers\n"
"replaced by placeholders, lower-cased, with first- and last-word markers (\"xempty\" when no\n"
"word is left).");

static PyObject *
mask_tails(PyObject *self, PyObject *args)
{
    return map_texts(args, "mask_tails", mask_tail_one);
}

/* -- segmentation (segment._pieces) ----------------------------------------------------------- */

static inline int is_line_break(Py_UCS4 c) { return c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029; }
static inline int is_latin_term(Py_UCS4 c) { return c == '.' || c == '!' || c == '?' || c == 0x2026; }
static inline int is_latin_close(Py_UCS4 c)  /* "'”’»)] */
{ return c == '"' || c == '\'' || c == 0x201D || c == 0x2019 || c == 0xBB || c == ')' || c == ']'; }
static inline int is_cjk_term(Py_UCS4 c) { return c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == '!' || c == '?'; }
static inline int is_cjk_close(Py_UCS4 c)  /* 」』”’)） */
{ return c == 0x300D || c == 0x300F || c == 0x201D || c == 0x2019 || c == ')' || c == 0xFF09; }

/* a sorted set of sentence ends, small */
typedef struct { Py_ssize_t *v; Py_ssize_t len, cap; } ends_t;

static int
ends_add(ends_t *e, Py_ssize_t x)
{
    for (Py_ssize_t i = 0; i < e->len; i++)
        if (e->v[i] == x)
            return 0;
    Py_ssize_t *grown = grow(e->v, &e->cap, e->len + 1, sizeof(Py_ssize_t), 16);
    if (grown == NULL)
        return -1;
    e->v = grown;
    Py_ssize_t i = e->len++;
    while (i > 0 && e->v[i - 1] > x) {
        e->v[i] = e->v[i - 1];
        i--;
    }
    e->v[i] = x;
    return 0;
}

/* segment._is_abbreviation(line, end) for the stripped line text[a:b]: whether the period
   before `end` closes an abbreviation or an initial. The token before it is the run of word
   characters and periods reaching back at most 24 characters, without its trailing periods. An
   ASCII token is judged here; any other is handed to the Python function. */
static int
abbreviation(PyObject *is_abbreviation, PyObject *abbreviations, PyObject **line, PyObject *text, int kind,
             const void *data, Py_ssize_t a, Py_ssize_t b, Py_ssize_t end)
{
    Py_ssize_t from = end, floor = end - 24 > 0 ? end - 24 : 0;
    int ascii = 1;
    while (from > floor) {
        Py_UCS4 c = PyUnicode_READ(kind, data, a + from - 1);
        if (!(re_word(c) || c == '.'))
            break;
        ascii &= c < 128;
        from--;
    }
    if (ascii) {
        Py_ssize_t to = end;
        while (to > from && PyUnicode_READ(kind, data, a + to - 1) == '.')
            to--;
        char token[32];
        Py_ssize_t len = to - from;  /* at most 24 */
        for (Py_ssize_t i = 0; i < len; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, a + from + i);
            token[i] = (char)((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
        }
        PyObject *word = PyUnicode_FromStringAndSize(token, len);
        if (word == NULL)
            return -1;
        int listed = PySet_Contains(abbreviations, word);
        Py_DECREF(word);
        if (listed != 0)
            return listed;  /* 1, or -1 on error */
        if (len == 1)  /* a single initial: a letter (a digit or "_" is not one) */
            return (token[0] >= 'a' && token[0] <= 'z');
        /* a dotted acronym, (?:[a-z]\.)+[a-z]: "u.s", "n.y" */
        if (len >= 3 && len % 2 == 1) {
            for (Py_ssize_t i = 0; i < len; i++)
                if (i % 2 ? token[i] != '.' : !(token[i] >= 'a' && token[i] <= 'z'))
                    return 0;
            return 1;
        }
        return 0;
    }
    if (*line == NULL && (*line = PyUnicode_Substring(text, a, b)) == NULL)
        return -1;
    PyObject *r = PyObject_CallFunction(is_abbreviation, "On", *line, end);
    if (r == NULL)
        return -1;
    int truth = PyObject_IsTrue(r);
    Py_DECREF(r);
    return truth;
}

/* From i in the line at a (n long): the end r of a run of terminators, and the end c of the
   closers after it */
static void
punct_run(int kind, const void *data, Py_ssize_t a, Py_ssize_t n, Py_ssize_t i, int (*is_term)(Py_UCS4),
          int (*is_close)(Py_UCS4), Py_ssize_t *r, Py_ssize_t *c)
{
    *r = i;
    while (*r < n && is_term(PyUnicode_READ(kind, data, a + *r)))
        (*r)++;
    *c = *r;
    while (*c < n && is_close(PyUnicode_READ(kind, data, a + *c)))
        (*c)++;
}

/* segment._sentence_ends of the stripped line text[a:b], as offsets within it */
static int
sentence_ends(PyObject *text, int kind, const void *data, Py_ssize_t a, Py_ssize_t b,
              PyObject *is_abbreviation, PyObject *abbreviations, ends_t *ends, ends_t *found)
{
    const Py_ssize_t n = b - a;
    PyObject *line = NULL;
    int status = -1;
#define AT(i) PyUnicode_READ(kind, data, a + (i))
    ends->len = 0;
    /* The three patterns below start at a terminator ([.!?…] or [。！？!?]): the loops visit the
       terminators' positions alone (found in one pass), in the same order, with the same skips */
    Py_ssize_t n_terms = 0;
    /* (`found`: the caller's buffer, reused line to line, with room for every character; a loop
       per string kind: this scan is a third of segmenting) */
    Py_ssize_t *grown = grow(found->v, &found->cap, n > 0 ? n : 1, sizeof(Py_ssize_t), 64);
    if (grown == NULL)
        goto done;
    found->v = grown;
#define SCAN_TERMS(T)                                                                                     \
    for (Py_ssize_t i = 0; i < n; i++) {                                                                  \
        const Py_UCS4 c = ((const T *)data)[a + i];                                                       \
        if (c < 0x80 ? (c == '.' || c == '!' || c == '?') : (c == 0x2026 || c == 0x3002 || c == 0xFF01 || c == 0xFF1F)) \
            grown[n_terms++] = i;                                                                         \
    }
    if (kind == PyUnicode_1BYTE_KIND)
        SCAN_TERMS(Py_UCS1)
    else if (kind == PyUnicode_2BYTE_KIND)
        SCAN_TERMS(Py_UCS2)
    else
        SCAN_TERMS(Py_UCS4)
#undef SCAN_TERMS
    const Py_ssize_t *terms = found->v;
    /* the next position from i that may start a match: the next terminator */
#define NEXT_TERM(i, k) ((k) < n_terms ? terms[(k)] : n)
    /* _LATIN_END: [.!?…]+["'”’»)\]]*(?=\s+[^\s\-a-z,;:)\]}%]) -- a run matches as a whole or not
       at all (a shorter run is followed by punctuation, not space) */
    for (Py_ssize_t i = 0, k = 0; i < n;) {
        while (k < n_terms && terms[k] < i)
            k++;
        i = NEXT_TERM(i, k);
        if (i >= n)
            break;
        if (!is_latin_term(AT(i))) {
            i++;
            continue;
        }
        Py_ssize_t r, c;
        punct_run(kind, data, a, n, i, is_latin_term, is_latin_close, &r, &c);
        Py_ssize_t s = c;
        while (s < n && is_space(AT(s)))
            s++;
        if (s > c && s < n) {
            Py_UCS4 d = AT(s);
            if (!(d == '-' || is_lower_ascii(d) || d == ',' || d == ';' || d == ':' || d == ')' || d == ']'
                  || d == '}' || d == '%')) {
                int abbr = 0;
                if (AT(c - 1) == '.' && (abbr = abbreviation(is_abbreviation, abbreviations, &line, text, kind, data, a, b, c)) < 0)
                    goto done;
                if (!abbr && ends_add(ends, c) < 0)
                    goto done;
            }
            i = c;  /* matched or not, the next match cannot start inside this run */
        } else {
            i = c > r ? c : r;
        }
    }
    /* _CJK_END: [。！？!?]+[」』”’)）]*(?=\S), with the regex engine's backtracking: when the
       longest match is not followed by a non-space, it gives back one closer, or else one
       terminator, whichever is last (that character is itself a non-space) */
    for (Py_ssize_t i = 0, k = 0; i < n;) {
        while (k < n_terms && terms[k] < i)
            k++;
        i = NEXT_TERM(i, k);
        if (i >= n)
            break;
        if (!is_cjk_term(AT(i))) {
            i++;
            continue;
        }
        Py_ssize_t r, c;
        punct_run(kind, data, a, n, i, is_cjk_term, is_cjk_close, &r, &c);
        Py_ssize_t end;
        if (c < n && !is_space(AT(c)))
            end = c;
        else if (c > r)
            end = c - 1;
        else if (r - i >= 2)
            end = r - 1;
        else {
            i++;
            continue;
        }
        if (ends_add(ends, end) < 0)
            goto done;
        i = end;
    }
    /* _GLUED_END: (?<=[a-z]{2}[.!?])(?=[A-Z][a-z]) */
    for (Py_ssize_t p = 3, k = 0; p + 1 < n; p++) {
        while (k < n_terms && terms[k] < p - 1)  /* p - 1 at the next terminator */
            k++;
        if (k == n_terms)
            break;
        p = terms[k] + 1;
        if (p + 1 >= n)
            break;
        Py_UCS4 t = AT(p - 1);
        if ((t == '.' || t == '!' || t == '?') && is_lower_ascii(AT(p - 3)) && is_lower_ascii(AT(p - 2))
                && is_upper_ascii(AT(p)) && is_lower_ascii(AT(p + 1))) {
            int abbr = 0;
            if (t == '.' && (abbr = abbreviation(is_abbreviation, abbreviations, &line, text, kind, data, a, b, p)) < 0)
                goto done;
            if (!abbr && ends_add(ends, p) < 0)
                goto done;
        }
    }
    /* only ends strictly inside the line */
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < ends->len; i++)
        if (ends->v[i] > 0 && ends->v[i] < n)
            ends->v[kept++] = ends->v[i];
    ends->len = kept;
    status = 0;
done:
    Py_XDECREF(line);
    return status;
#undef NEXT_TERM
#undef AT
}

/* a non-blank line or sentence: content_start, content_end, and whether it starts / ends its line */
typedef struct { Py_ssize_t start, end; uint8_t line_start, line_end; } piece_t;
typedef struct { piece_t *v; Py_ssize_t len, cap; } pieces_t;

static int
pieces_add(pieces_t *p, Py_ssize_t start, Py_ssize_t end, int line_start, int line_end)
{
    piece_t *grown = grow(p->v, &p->cap, p->len + 1, sizeof(piece_t), 64);
    if (grown == NULL)
        return -1;
    p->v = grown;
    p->v[p->len++] = (piece_t){start, end, (uint8_t)line_start, (uint8_t)line_end};
    return 0;
}

/* The first line break of data at or after i (n when there is none): a loop per string kind,
   each character tested once against the one bound that rules out almost all of them */
static Py_ssize_t
next_line_break(int kind, const void *data, Py_ssize_t i, Py_ssize_t n)
{
#define SCAN_BREAKS(T)                                                                             \
    {                                                                                              \
        for (const T *s = data; i < n; i++)                                                        \
            if ((s[i] <= '\r' || s[i] >= 0x2028) && is_line_break(s[i]))                           \
                break;                                                                             \
    }
    if (kind == PyUnicode_1BYTE_KIND)
        SCAN_BREAKS(Py_UCS1)
    else if (kind == PyUnicode_2BYTE_KIND)
        SCAN_BREAKS(Py_UCS2)
    else
        SCAN_BREAKS(Py_UCS4)
#undef SCAN_BREAKS
    return i;
}

/* segment._pieces(text) into `out` (emptied first); -1 with an exception set on error */
static int
collect_pieces(PyObject *text, PyObject *is_abbreviation, PyObject *abbreviations, pieces_t *out)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    ends_t ends = {NULL, 0, 0}, terms = {NULL, 0, 0};
    out->len = 0;
    for (Py_ssize_t i = 0; i < n;) {
        if (is_line_break(PyUnicode_READ(kind, data, i))) {
            i++;
            continue;
        }
        const Py_ssize_t line_end = next_line_break(kind, data, i, n);  /* _LINE_BODY: a run of anything but line breaks */
        Py_ssize_t a = i, b = line_end;  /* body.strip() */
        while (a < b && is_space(PyUnicode_READ(kind, data, a)))
            a++;
        while (b > a && is_space(PyUnicode_READ(kind, data, b - 1)))
            b--;
        i = line_end;
        if (a == b)
            continue;
        if (sentence_ends(text, kind, data, a, b, is_abbreviation, abbreviations, &ends, &terms) < 0)
            goto fail;
        Py_ssize_t n_cuts = ends.len + 2;
        for (Py_ssize_t k = 0; k + 1 < n_cuts; k++) {
            Py_ssize_t from = a + (k == 0 ? 0 : ends.v[k - 1]);
            Py_ssize_t to = a + (k + 1 == n_cuts - 1 ? b - a : ends.v[k]);
            while (from < to && is_space(PyUnicode_READ(kind, data, from)))
                from++;
            while (to > from && is_space(PyUnicode_READ(kind, data, to - 1)))
                to--;
            if (from == to)
                continue;
            if (pieces_add(out, from, to, k == 0, k == n_cuts - 2) < 0)
                goto fail;
        }
    }
    PyMem_Free(ends.v);
    PyMem_Free(terms.v);
    return 0;
fail:
    PyMem_Free(ends.v);
    PyMem_Free(terms.v);
    return -1;
}

PyDoc_STRVAR(pieces_doc,
"pieces(text, is_abbreviation, abbreviations) -> list\n\n"
"segment._pieces(text) as a list: (content_start, content_end, line_start, line_end) of every\n"
"non-blank line or sentence. is_abbreviation(line, end) is segment._is_abbreviation (asked about\n"
"non-ASCII tokens), abbreviations its set segment._ABBREVIATIONS.");

static PyObject *
pieces(PyObject *self, PyObject *args)
{
    PyObject *text, *is_abbreviation, *abbreviations;
    if (!PyArg_ParseTuple(args, "UOO", &text, &is_abbreviation, &abbreviations))
        return NULL;
    pieces_t found = {NULL, 0, 0};
    PyObject *out = NULL;
    if (collect_pieces(text, is_abbreviation, abbreviations, &found) < 0)
        goto done;
    if ((out = PyList_New(found.len)) == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < found.len; i++) {
        const piece_t *pc = &found.v[i];
        PyObject *piece = Py_BuildValue("(nnOO)", pc->start, pc->end, pc->line_start ? Py_True : Py_False,
                                        pc->line_end ? Py_True : Py_False);
        if (piece == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, piece);
    }
done:
    PyMem_Free(found.v);
    return out;
}

/* Where each of `count` fields (`names`) of a class with slots lives in its objects
   (offsets[k]), as its member descriptors say: 1 when all are object slots, 0 when not (then
   the fields are asked for, or the class called), -1 on error. */
static int
slot_offsets(PyTypeObject *type, PyObject **names, int count, Py_ssize_t *offsets)
{
    if (type->tp_dictoffset != 0)
        return 0;
    for (int k = 0; k < count; k++) {
        PyObject *descr = PyObject_GetAttr((PyObject *)type, names[k]);
        if (descr == NULL) {  /* (a field the class supplies otherwise: asked for, then) */
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                return -1;
            PyErr_Clear();
            return 0;
        }
        int usable = Py_IS_TYPE(descr, &PyMemberDescr_Type)
                     && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX
                     && ((PyMemberDescrObject *)descr)->d_common.d_type == type;
        if (usable)
            offsets[k] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!usable)
            return 0;
    }
    return 1;
}

/* A Segment (results.Segment, a frozen dataclass) with these six fields, made as its generated
   __init__ makes it, without running Python code: its slots filled in (`offsets`, from
   slot_offsets), or object.__setattr__ of each field for a class with an instance dict. Any
   other class is called. */
static PyObject *
new_segment(PyTypeObject *type, PyObject *names[6], const Py_ssize_t *offsets, Py_ssize_t start,
            Py_ssize_t end, Py_ssize_t cs, Py_ssize_t ce, int ls, int le)
{
    if (type->tp_dictoffset == 0 && offsets == NULL)
        return PyObject_CallFunction((PyObject *)type, "nnnnOO", start, end, cs, ce, ls ? Py_True : Py_False,
                                     le ? Py_True : Py_False);
    PyObject *obj = type->tp_alloc(type, 0);
    if (obj == NULL)
        return NULL;
    PyObject *values[6] = {PyLong_FromSsize_t(start), PyLong_FromSsize_t(end), PyLong_FromSsize_t(cs),
                           PyLong_FromSsize_t(ce), Py_NewRef(ls ? Py_True : Py_False),
                           Py_NewRef(le ? Py_True : Py_False)};
    int failed = 0;
    for (int k = 0; k < 6; k++) {
        if (failed || values[k] == NULL) {
            failed = 1;
            Py_XDECREF(values[k]);
        } else if (offsets != NULL) {  /* the slot takes the reference (tp_alloc zeroed it) */
            *(PyObject **)((char *)obj + offsets[k]) = values[k];
        } else {
            if (PyObject_GenericSetAttr(obj, names[k], values[k]) < 0)
                failed = 1;
            Py_DECREF(values[k]);
        }
    }
    if (failed) {
        Py_DECREF(obj);
        return NULL;
    }
    /* ints and bools alone in a frozen object: it can be in no reference cycle, so the cyclic
       collector need not visit it (as CPython does for tuples of atoms) */
    if (offsets != NULL && PyObject_GC_IsTracked(obj))
        PyObject_GC_UnTrack(obj);
    return obj;
}

PyDoc_STRVAR(segments_doc,
"segments(text, is_abbreviation, abbreviations, segment_type) -> list\n\n"
"segment.segment(text): the pieces tiled into segment_type objects (results.Segment). Each\n"
"segment owns the whitespace after its content, the first also what comes before it; a text of\n"
"whitespace alone is one segment with empty content; an empty text has none.");

static PyObject *
segments(PyObject *self, PyObject *args)
{
    PyObject *text, *is_abbreviation, *abbreviations, *segment_type;
    if (!PyArg_ParseTuple(args, "UOOO!", &text, &is_abbreviation, &abbreviations, &PyType_Type, &segment_type))
        return NULL;
    PyTypeObject *type = (PyTypeObject *)segment_type;
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n == 0)
        return PyList_New(0);
    pieces_t found = {NULL, 0, 0};
    if (collect_pieces(text, is_abbreviation, abbreviations, &found) < 0) {
        PyMem_Free(found.v);  /* what was collected before the error */
        return NULL;
    }
    static const char *field_names[6] = {"start", "end", "content_start", "content_end", "line_start", "line_end"};
    PyObject *names[6] = {NULL, NULL, NULL, NULL, NULL, NULL}, *out = NULL;
    for (int k = 0; k < 6; k++)
        if ((names[k] = PyUnicode_InternFromString(field_names[k])) == NULL)
            goto done;
    Py_ssize_t offsets[6];
    int slotted = slot_offsets(type, names, 6, offsets);
    if (slotted < 0)
        goto done;
    const Py_ssize_t *slots = slotted ? offsets : NULL;
    const Py_ssize_t m = found.len;
    if (m == 0) {
        PyObject *only = new_segment(type, names, slots, 0, n, 0, 0, 1, 1);
        if (only != NULL) {
            out = PyList_New(1);
            if (out == NULL)
                Py_DECREF(only);
            else
                PyList_SET_ITEM(out, 0, only);
        }
        goto done;
    }
    if ((out = PyList_New(m)) == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < m; i++) {
        const piece_t *pc = &found.v[i];
        Py_ssize_t end = i + 1 < m ? found.v[i + 1].start : n;
        PyObject *seg = new_segment(type, names, slots, i == 0 ? 0 : pc->start, end, pc->start, pc->end,
                                    pc->line_start, pc->line_end);
        if (seg == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, seg);
    }
done:
    for (int k = 0; k < 6; k++)
        Py_XDECREF(names[k]);
    PyMem_Free(found.v);
    return out;
}

/* -- hashed word n-grams (scoring._HashedWords) ------------------------------------------------ */

/* MurmurHash3 x86 32-bit, seed 0, in two steps: the body over the whole 4-byte blocks of
   key[*done:len] from state h (*done advanced past them), then the tail and the mix. A hash of
   a longer key with the same start goes on from the state of a shorter one: the body reads the
   same blocks in the same order. */
static inline uint32_t
murmur3_body(uint32_t h, const uint8_t *key, Py_ssize_t *done, Py_ssize_t len)
{
    const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
    Py_ssize_t i = *done;
    for (; i + 4 <= len; i += 4) {
        uint32_t k = (uint32_t)key[i] | (uint32_t)key[i + 1] << 8 | (uint32_t)key[i + 2] << 16
                     | (uint32_t)key[i + 3] << 24;
        k *= c1;
        k = (k << 15) | (k >> 17);
        k *= c2;
        h ^= k;
        h = (h << 13) | (h >> 19);
        h = h * 5 + 0xe6546b64;
    }
    *done = i;
    return h;
}

/* the hash (signed, as scikit-learn's murmurhash3_32 of bytes) of key[0:len] from the body's
   state after key[0:done], done = len rounded down to whole blocks. key[done:done + 3] must be
   readable: the tail is read whole and masked to its len & 3 bytes, without a branch on its
   length (a switch on it was mispredicted at about one n-gram in three). An empty tail mixes in
   k = 0, which leaves h as it is: what the reference's skipped tail step does. */
static inline int32_t
murmur3_finish(uint32_t h, const uint8_t *key, Py_ssize_t done, Py_ssize_t len)
{
    const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
    const uint8_t *tail = key + done;
    uint32_t k = ((uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16)
                 & (((uint32_t)1 << (8 * (len & 3))) - 1);
    k *= c1;
    k = (k << 15) | (k >> 17);
    k *= c2;
    h ^= k;
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return (int32_t)h;
}

/* HashingVectorizer's column of a hash: Python's modulo (never negative), -2**31 mapped as
   scikit-learn maps it */
static inline int64_t
hash_column(int32_t h, Py_ssize_t n_features, int pow2)
{
    return h == INT32_MIN ? (((int64_t)2147483647 - (n_features - 1)) % n_features + n_features) % n_features
         : pow2 ? (int64_t)(h < 0 ? -(int64_t)h : h) & (n_features - 1)
                : (int64_t)(h < 0 ? -(int64_t)h : h) % n_features;
}

typedef struct { uint8_t *buf; Py_ssize_t len, cap; } bbuf;

static int
bbuf_reserve(bbuf *b, Py_ssize_t more)
{
    uint8_t *grown = grow(b->buf, &b->cap, b->len + more, 1, 1024);
    if (grown == NULL)
        return -1;
    b->buf = grown;
    return 0;
}

/* UTF-8 of one code point (never a surrogate here: tokens are word characters) */
static int
bbuf_utf8(bbuf *b, Py_UCS4 c)
{
    if (bbuf_reserve(b, 4) < 0)
        return -1;
    uint8_t *o = b->buf + b->len;
    if (c < 0x80) {
        o[0] = (uint8_t)c;
        b->len += 1;
    } else if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | (c >> 6));
        o[1] = (uint8_t)(0x80 | (c & 0x3F));
        b->len += 2;
    } else if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (c >> 12));
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F));
        b->len += 3;
    } else {
        o[0] = (uint8_t)(0xF0 | (c >> 18));
        o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
        o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[3] = (uint8_t)(0x80 | (c & 0x3F));
        b->len += 4;
    }
    return 0;
}

/* the end of the run of ASCII word bytes (letters, digits, "_") from j in bytes[0:len]. Where
   SSE2 is, 16 bytes are tested at a time: a token shorter than that ends without a loop over its
   bytes, whose exit was mispredicted at most tokens. */
static inline Py_ssize_t
ascii_token_end(const uint8_t *bytes, Py_ssize_t len, Py_ssize_t j)
{
#if defined(__SSE2__)
    /* (bytes are ASCII: a byte x is in [lo, hi] when x + (128 - lo), signed, is under -128 + (hi - lo) + 1) */
    const __m128i letter_shift = _mm_set1_epi8((char)(128 - 'a')), letter_limit = _mm_set1_epi8((char)(-128 + 26));
    const __m128i digit_shift = _mm_set1_epi8((char)(128 - '0')), digit_limit = _mm_set1_epi8((char)(-128 + 10));
    const __m128i case_bit = _mm_set1_epi8(0x20), underscore = _mm_set1_epi8('_');
    for (; j + 16 <= len; j += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(bytes + j));
        const __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(x, case_bit), letter_shift), letter_limit);
        const __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(x, digit_shift), digit_limit);
        const __m128i word = _mm_or_si128(_mm_or_si128(letter, digit), _mm_cmpeq_epi8(x, underscore));
        const unsigned others = ~(unsigned)_mm_movemask_epi8(word) & 0xFFFFu;
        if (others)
            return j + __builtin_ctz(others);
    }
#endif
    while (j < len && ascii_word[bytes[j]])
        j++;
    return j;
}

/* "xfirst" first " " text " xlast" last, of `m` into `out` (bytes): its length, or -1 when out of
   memory. "xempty" when it has no word. */
static Py_ssize_t
marked_bytes(const uint8_t *m, Py_ssize_t len, uint8_t joiner, bbuf *out)
{
    Py_ssize_t w[4];
    out->len = 0;
    if (!marked_words(m, len, joiner, w)) {
        if (bbuf_reserve(out, 6) < 0)
            return -1;
        memcpy(out->buf, "xempty", 6);
        return out->len = 6;
    }
    const Py_ssize_t size = 6 + (w[1] - w[0]) + 1 + len + 6 + (w[3] - w[2]);
    if (bbuf_reserve(out, size) < 0)
        return -1;
    uint8_t *t = out->buf;
    memcpy(t, "xfirst", 6);
    memcpy(t + 6, m + w[0], (size_t)(w[1] - w[0]));
    t += 6 + (w[1] - w[0]);
    *t++ = ' ';
    memcpy(t, m, (size_t)len);
    memcpy(t + len, " xlast", 6);
    memcpy(t + len + 6, m + w[2], (size_t)(w[3] - w[2]));
    return out->len = size;
}

/* The tokens of `text` (maximal runs of word characters, at least min_token long): their UTF-8,
   space-separated, into utf8 (emptied first; three zero bytes follow its length), and each
   one's start and end in it into tok (pairs). Returns the number of tokens, -1 when out of
   memory. */
static Py_ssize_t text_tokens_of(PyObject *text, const uint8_t *bytes, Py_ssize_t len, Py_ssize_t min_token,
                                 bbuf *utf8_out, Py_ssize_t **tok_out, Py_ssize_t *tok_cap);

static Py_ssize_t
text_tokens(PyObject *text, Py_ssize_t min_token, bbuf *utf8_out, Py_ssize_t **tok_out, Py_ssize_t *tok_cap)
{
    const Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    return text_tokens_of(PyUnicode_IS_ASCII(text) ? NULL : text, PyUnicode_IS_ASCII(text) ? PyUnicode_DATA(text) : NULL,
                          len, min_token, utf8_out, tok_out, tok_cap);
}

/* text_tokens of a str (`text`), or of `len` ASCII bytes (`bytes`, text NULL) */
static Py_ssize_t
text_tokens_of(PyObject *text, const uint8_t *bytes, Py_ssize_t len, Py_ssize_t min_token, bbuf *utf8_out,
               Py_ssize_t **tok_out, Py_ssize_t *tok_cap)
{
    const int kind = text == NULL ? PyUnicode_1BYTE_KIND : PyUnicode_KIND(text);
    const void *data = text == NULL ? bytes : PyUnicode_DATA(text);
    bbuf utf8 = *utf8_out;
    Py_ssize_t *tok = *tok_out;
    /* (ASCII text is its own UTF-8: copied a token at a time, into buffers sized once) */
    const int ascii = text == NULL;
    utf8.len = 0;
    Py_ssize_t n_tok = 0;
    if (ascii) {
        /* room for every token at once: at most (len + 1) / 2 of them (two are a character apart
           at least), their bytes, and a space between each two */
        const Py_ssize_t max_tok = (len + 1) / 2 + 1;
        Py_ssize_t *grown = grow(tok, tok_cap, 2 * max_tok, sizeof(Py_ssize_t), 128);
        if (grown == NULL)
            goto fail;
        tok = grown;
        if (bbuf_reserve(&utf8, len + max_tok) < 0)
            goto fail;
        for (Py_ssize_t i = 0; i < len;) {
            if (!ascii_word[bytes[i]]) {
                i++;
                continue;
            }
            const Py_ssize_t j = ascii_token_end(bytes, len, i + 1);
            if (j - i >= min_token) {
                if (n_tok > 0)
                    utf8.buf[utf8.len++] = ' ';
                tok[2 * n_tok] = utf8.len;
                memcpy(utf8.buf + utf8.len, bytes + i, (size_t)(j - i));
                utf8.len += j - i;
                tok[2 * n_tok + 1] = utf8.len;
                n_tok++;
            }
            i = j;
        }
    }
    for (Py_ssize_t i = 0; !ascii && i < len;) {  /* any other text, growing the buffers as it goes */
        if (!re_word(PyUnicode_READ(kind, data, i))) {
            i++;
            continue;
        }
        Py_ssize_t j = i;
        while (j < len && re_word(PyUnicode_READ(kind, data, j)))
            j++;
        if (j - i >= min_token) {
            Py_ssize_t *grown = grow(tok, tok_cap, 2 * (n_tok + 1), sizeof(Py_ssize_t), 128);
            if (grown == NULL)
                goto fail;
            tok = grown;
            if (n_tok > 0 && bbuf_utf8(&utf8, ' ') < 0)
                goto fail;
            tok[2 * n_tok] = utf8.len;
            for (Py_ssize_t k = i; k < j; k++)
                if (bbuf_utf8(&utf8, PyUnicode_READ(kind, data, k)) < 0)
                    goto fail;
            tok[2 * n_tok + 1] = utf8.len;
            n_tok++;
        }
        i = j;
    }
    /* three bytes past the last token, zeros: murmur3_finish reads a tail of three */
    if (bbuf_reserve(&utf8, 3) < 0)
        goto fail;
    memset(utf8.buf + utf8.len, 0, 3);
    *utf8_out = utf8;
    *tok_out = tok;
    return n_tok;
fail:  /* the buffers as grown so far go back to the caller, who frees them */
    *utf8_out = utf8;
    *tok_out = tok;
    return -1;
}

/* sorts a segment's columns (tens of them): runs of 8 by a sorting network (19 exchanges, without
   branches: an insertion sort's inner loop was mispredicted at about one column in four), a
   shorter last run by insertion, then merges through tmp */
#define SORT_RUN 8
static void
insertion_sort(int64_t *v, Py_ssize_t n)
{
    for (Py_ssize_t i = 1; i < n; i++) {
        int64_t x = v[i];
        Py_ssize_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

#define EXCHANGE(a, b) do { const int64_t lo_ = a < b ? a : b, hi_ = a < b ? b : a; a = lo_; b = hi_; } while (0)

static inline void
sort8(int64_t *v)
{
    int64_t a0 = v[0], a1 = v[1], a2 = v[2], a3 = v[3], a4 = v[4], a5 = v[5], a6 = v[6], a7 = v[7];
    EXCHANGE(a0, a2); EXCHANGE(a1, a3); EXCHANGE(a4, a6); EXCHANGE(a5, a7);
    EXCHANGE(a0, a4); EXCHANGE(a1, a5); EXCHANGE(a2, a6); EXCHANGE(a3, a7);
    EXCHANGE(a0, a1); EXCHANGE(a2, a3); EXCHANGE(a4, a5); EXCHANGE(a6, a7);
    EXCHANGE(a2, a4); EXCHANGE(a3, a5);
    EXCHANGE(a1, a4); EXCHANGE(a3, a6);
    EXCHANGE(a1, a2); EXCHANGE(a3, a4); EXCHANGE(a5, a6);
    v[0] = a0; v[1] = a1; v[2] = a2; v[3] = a3; v[4] = a4; v[5] = a5; v[6] = a6; v[7] = a7;
}

static void
sort_columns(int64_t *v, Py_ssize_t n, int64_t *tmp)
{
    Py_ssize_t run = 0;
    for (; run + SORT_RUN <= n; run += SORT_RUN)
        sort8(v + run);
    insertion_sort(v + run, n - run);
    int64_t *from = v, *to = tmp;
    for (Py_ssize_t width = SORT_RUN; width < n; width *= 2) {
        for (Py_ssize_t a = 0; a < n; a += 2 * width) {
            Py_ssize_t i = a, mid = a + width < n ? a + width : n, j = mid, end = a + 2 * width < n ? a + 2 * width : n;
            Py_ssize_t k = a;
            while (i < mid && j < end) {  /* (without branches: which side goes first is a coin toss) */
                const int64_t left = from[i], right = from[j];
                const int take_right = right < left;  /* (a tie takes the left one: a stable merge) */
                to[k++] = take_right ? right : left;
                j += take_right;
                i += !take_right;
            }
            while (i < mid)
                to[k++] = from[i++];
            while (j < end)
                to[k++] = from[j++];
        }
        int64_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != v)
        memcpy(v, from, (size_t)n * sizeof(int64_t));
}

/* Scratch for one text's n-grams: its tokens' UTF-8 and bounds, and its columns */
typedef struct {
    bbuf utf8;
    Py_ssize_t *tok, tok_cap;
    int64_t *grams;  /* the columns, then scratch for sorting them */
    Py_ssize_t grams_cap;
} gram_scratch;

static void
gram_scratch_free(gram_scratch *g)
{
    PyMem_Free(g->utf8.buf);
    PyMem_Free(g->tok);
    PyMem_Free(g->grams);
}

/* The columns of the n-grams (1..max_n) of one str, sorted (repeats kept), in g->grams: their
   number, or -1 when out of memory. Each n-gram starting at a token is hashed on from the one a
   token shorter (an n-gram is the bytes from its first token's start to its last token's end). */
static Py_ssize_t
token_columns(Py_ssize_t n_tok, Py_ssize_t max_n, Py_ssize_t n_features, gram_scratch *g)
{
    const int pow2 = (n_features & (n_features - 1)) == 0;
    if (n_tok < 0)
        return -1;
    Py_ssize_t n_grams = 0;
    for (Py_ssize_t k = 1; k <= max_n && k <= n_tok; k++)
        n_grams += n_tok - k + 1;
    if (n_grams == 0)
        return 0;
    int64_t *grown = grow(g->grams, &g->grams_cap, 2 * n_grams, sizeof(int64_t), 256);
    if (grown == NULL)
        return -1;
    g->grams = grown;
    Py_ssize_t m = 0;
    for (Py_ssize_t t = 0; t < n_tok; t++) {
        const uint8_t *key = g->utf8.buf + g->tok[2 * t];
        uint32_t h = 0;
        Py_ssize_t done = 0;
        for (Py_ssize_t k = 1; k <= max_n && t + k <= n_tok; k++) {
            const Py_ssize_t len = g->tok[2 * (t + k - 1) + 1] - g->tok[2 * t];
            h = murmur3_body(h, key, &done, len);
            g->grams[m++] = hash_column(murmur3_finish(h, key, done, len), n_features, pow2);
        }
    }
    sort_columns(g->grams, m, g->grams + n_grams);
    return m;
}

static Py_ssize_t
text_columns(PyObject *text, Py_ssize_t min_token, Py_ssize_t max_n, Py_ssize_t n_features, gram_scratch *g)
{
    return token_columns(text_tokens(text, min_token, &g->utf8, &g->tok, &g->tok_cap), max_n, n_features, g);
}

/* text_columns of mask_tail_one(text). An ASCII or narrowed text is masked and marked as bytes,
   and its tokens read there: no str is made of it (its tokens are the same: the characters a
   narrowed text holds as codes are none of them word characters). */
static Py_ssize_t
masked_columns(PyObject *text, Py_ssize_t min_token, Py_ssize_t max_n, Py_ssize_t n_features, gram_scratch *g,
               ubuf *b, bbuf *marked)
{
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const uint8_t *ascii;
    uint8_t joiner;
    Py_UCS4 maxchar;
    if (ascii_bytes_of(text, b, &ascii, &joiner, &maxchar) < 0)
        return -1;
    Py_ssize_t n_tok;
    if (ascii != NULL) {
        const Py_ssize_t len = mask_digits_ascii(ascii, n, b);
        if (len < 0 || marked_bytes((const uint8_t *)b->buf, len, joiner, marked) < 0)
            return -1;
        n_tok = text_tokens_of(NULL, marked->buf, marked->len, min_token, &g->utf8, &g->tok, &g->tok_cap);
    } else {
        PyObject *masked = mask_tail_one(text, b);
        if (masked == NULL)
            return -1;
        n_tok = text_tokens(masked, min_token, &g->utf8, &g->tok, &g->tok_cap);
        Py_DECREF(masked);
    }
    return token_columns(n_tok, max_n, n_features, g);
}

/* hashed_counts' checks of its arguments */
static int
check_hashing(PyObject *texts, Py_ssize_t min_token, Py_ssize_t max_n, Py_ssize_t n_features, const char *name)
{
    if (min_token < 1 || max_n < 1 || n_features < 1) {
        PyErr_Format(PyExc_ValueError, "%s: min_token, max_n and n_features must be positive", name);
        return -1;
    }
    for (Py_ssize_t row = 0; row < PyList_GET_SIZE(texts); row++)
        if (!PyUnicode_Check(PyList_GET_ITEM(texts, row))) {
            PyErr_Format(PyExc_TypeError, "%s: texts must be str", name);
            return -1;
        }
    return 0;
}

PyDoc_STRVAR(hashed_counts_doc,
"hashed_counts(texts, min_token, max_n, n_features, squares=None, ends=None) -> (rows, columns, counts)\n\n"
"HashingVectorizer's columns of the word n-grams (1..max_n) of each str of the list `texts`,\n"
"tokens being runs of at least `min_token` word characters (token pattern (?u)\\b\\w\\w+\\b for 2,\n"
"(?u)\\b\\w+\\b for 1): each (row, column) once with its count, sorted by row, then column (what\n"
"numpy.unique of row * n_features + column gives), as bytes of int64, int64 and float64.\n"
"With squares (float64, one per text), each text's sum of its squared counts is written there,\n"
"added in the order of its entries (numpy.bincount(rows, counts * counts)'s sums); with ends\n"
"(int64, one per text), the index just after each text's last entry.");

/* an optional array of one item per text, for hashed_counts to write (NULL: None) */
static int
per_text_buffer(PyObject *obj, Py_buffer *view, void **out, Py_ssize_t n, const char *what, const char *formats)
{
    *out = NULL;
    if (obj == Py_None)
        return 0;
    if (get_buffer(obj, view, 8, 1, what, formats) < 0)
        return -1;
    if (view->len != n * 8) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "hashed_counts: %s must hold one item per text", what);
        return -1;
    }
    *out = view->buf;
    return 0;
}

/* hashed_counts, and (`masked`) masked_counts, which hashes mask_tail_one of each text */
static PyObject *
counts_of(PyObject *args, int masked, const char *name)
{
    PyObject *texts, *o_squares = Py_None, *o_ends = Py_None;
    Py_ssize_t min_token, max_n, n_features;
    if (!PyArg_ParseTuple(args, "O!nnn|OO", &PyList_Type, &texts, &min_token, &max_n, &n_features, &o_squares, &o_ends)
            || check_hashing(texts, min_token, max_n, n_features, name) < 0)
        return NULL;
    const Py_ssize_t n = PyList_GET_SIZE(texts);
    Py_buffer squares_buf, ends_buf;
    double *squares;
    int64_t *ends;
    if (per_text_buffer(o_squares, &squares_buf, (void **)&squares, n, "squares", "d") < 0)
        return NULL;
    if (per_text_buffer(o_ends, &ends_buf, (void **)&ends, n, "ends", "lq") < 0) {
        if (squares != NULL)
            PyBuffer_Release(&squares_buf);
        return NULL;
    }
    /* at most max_n n-grams a token, and a text of L characters has at most (L + 1) / (min_token
       + 1) tokens: the output is written straight into bytes objects of that size, shrunk at the
       end (pages never written are never touched). A masked text is longer than its text (its
       markers, placeholders): its bytes objects grow when they must. */
    Py_ssize_t bound = 0;
    for (Py_ssize_t row = 0; row < n; row++) {
        const Py_ssize_t len = PyUnicode_GET_LENGTH(PyList_GET_ITEM(texts, row));
        const Py_ssize_t tokens = min_token > len ? 0 : (len + 1) / (min_token + 1);
        /* t tokens make at most t n-grams of each length up to t */
        const Py_ssize_t lengths = max_n < tokens ? max_n : tokens;
        if ((tokens > 0 && lengths > (PY_SSIZE_T_MAX / 8) / tokens) || bound > PY_SSIZE_T_MAX / 8 - 8 - tokens * lengths) {
            PyErr_Format(PyExc_MemoryError, "%s: too many n-grams", name);
            if (squares != NULL)
                PyBuffer_Release(&squares_buf);
            if (ends != NULL)
                PyBuffer_Release(&ends_buf);
            return NULL;
        }
        bound += tokens * lengths + (masked ? 8 : 0);  /* (a masked text: room for its markers too) */
    }
    gram_scratch g = {{NULL, 0, 0}, NULL, 0, NULL, 0};
    ubuf b = {NULL, 0, 0, NULL, 0};
    bbuf marked = {NULL, 0, 0};
    Py_ssize_t capacity = bound;  /* entries */
    PyObject *out_rows = PyBytes_FromStringAndSize(NULL, capacity * 8);
    PyObject *out_cols = PyBytes_FromStringAndSize(NULL, capacity * 8);
    PyObject *out_counts = PyBytes_FromStringAndSize(NULL, capacity * 8), *result = NULL;
    if (out_rows == NULL || out_cols == NULL || out_counts == NULL)
        goto done;
    int64_t *r_out = (int64_t *)PyBytes_AS_STRING(out_rows), *c_out = (int64_t *)PyBytes_AS_STRING(out_cols);
    double *n_out = (double *)PyBytes_AS_STRING(out_counts);
    Py_ssize_t k = 0;  /* entries written */
    for (Py_ssize_t row = 0; row < n; row++) {
        PyObject *text = PyList_GET_ITEM(texts, row);
        const Py_ssize_t m = masked ? masked_columns(text, min_token, max_n, n_features, &g, &b, &marked)
                                    : text_columns(text, min_token, max_n, n_features, &g);
        if (m < 0)
            goto done;
        if (k + m > capacity) {  /* (a row writes m entries at most) */
            capacity = 2 * capacity > k + m ? 2 * capacity : k + m;
            if (_PyBytes_Resize(&out_rows, capacity * 8) < 0 || _PyBytes_Resize(&out_cols, capacity * 8) < 0
                    || _PyBytes_Resize(&out_counts, capacity * 8) < 0)
                goto done;
            r_out = (int64_t *)PyBytes_AS_STRING(out_rows);
            c_out = (int64_t *)PyBytes_AS_STRING(out_cols);
            n_out = (double *)PyBytes_AS_STRING(out_counts);
        }
        double square_sum = 0.0;
        for (Py_ssize_t i = 0; i < m;) {
            Py_ssize_t j = i;
            while (j < m && g.grams[j] == g.grams[i])
                j++;
            const double count = (double)(j - i);
            r_out[k] = row;
            c_out[k] = g.grams[i];
            n_out[k] = count;
            square_sum += count * count;
            k++;
            i = j;
        }
        if (squares != NULL)
            squares[row] = square_sum;
        if (ends != NULL)
            ends[row] = k;
    }
    if (_PyBytes_Resize(&out_rows, k * 8) < 0 || _PyBytes_Resize(&out_cols, k * 8) < 0
            || _PyBytes_Resize(&out_counts, k * 8) < 0)
        goto done;
    result = PyTuple_Pack(3, out_rows, out_cols, out_counts);
done:
    Py_XDECREF(out_rows);
    Py_XDECREF(out_cols);
    Py_XDECREF(out_counts);
    gram_scratch_free(&g);
    ubuf_free(&b);
    PyMem_Free(marked.buf);
    if (squares != NULL)
        PyBuffer_Release(&squares_buf);
    if (ends != NULL)
        PyBuffer_Release(&ends_buf);
    return result;
}

static PyObject *
hashed_counts(PyObject *self, PyObject *args)
{
    return counts_of(args, 0, "hashed_counts");
}

PyDoc_STRVAR(masked_counts_doc,
"masked_counts(texts, min_token, max_n, n_features, squares=None, ends=None) -> (rows, columns, counts)\n\n"
"hashed_counts(mask_tails(texts), ...), without making the masked texts.");

static PyObject *
masked_counts(PyObject *self, PyObject *args)
{
    return counts_of(args, 1, "masked_counts");
}

#define SPARSE_AHEAD 16  /* entries */

PyDoc_STRVAR(sparse_dot_doc,
"sparse_dot(rows, columns, counts, weights, out)\n\n"
"out[row, k] += counts[i] * weights[k, columns[i]] for each entry i in order (float64; weights\n"
"classes x features, rows may be strided; out rows x classes): numpy.bincount's sums, class by class.");

static PyObject *
sparse_dot(PyObject *self, PyObject *args)
{
    PyObject *objs[5];
    if (!PyArg_ParseTuple(args, "OOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4]))
        return NULL;
    Py_buffer b[5];
    const Py_ssize_t sizes[5] = {8, 8, 8, 8, 8};
    const char *names[5] = {"rows", "columns", "counts", "weights", "out"};
    const char *formats[5] = {"lq", "lq", "d", "d", "d"};
    int got = 0;
    PyObject *result = NULL;
    for (; got < 5; got++) {
        if (got == 3) {  /* the weights may be any strided view (a slice of wider rows, Fortran order) */
            if (PyObject_GetBuffer(objs[3], &b[3], PyBUF_STRIDES | PyBUF_FORMAT) < 0)
                goto done;
            if (b[3].itemsize != 8 || b[3].ndim != 2 || b[3].strides[0] % 8 || b[3].strides[1] % 8
                    || b[3].format == NULL || strcmp(b[3].format, "d") != 0
                    || b[3].strides[0] < 0 || b[3].strides[1] < 0) {
                PyErr_SetString(PyExc_ValueError, "sparse_dot: weights must be a 2-d float64 array");
                got++;
                goto done;
            }
        } else if (get_buffer(objs[got], &b[got], sizes[got], got == 4, names[got], formats[got]) < 0) {
            goto done;
        }
    }
    if (b[4].ndim != 2 || b[3].shape[0] != b[4].shape[1] || b[0].len != b[1].len || b[0].len != b[2].len) {
        PyErr_SetString(PyExc_ValueError, "sparse_dot: arrays of inconsistent shapes");
        goto done;
    }
    {
        const int64_t *rows = b[0].buf, *cols = b[1].buf;
        const double *counts = b[2].buf, *w = b[3].buf;
        double *out = b[4].buf;
        const Py_ssize_t n = b[0].len / 8, k_n = b[3].shape[0], f = b[3].shape[1], n_rows = b[4].shape[0];
        const Py_ssize_t row_stride = b[3].strides[0] / 8, column_stride = b[3].strides[1] / 8;
        int outside = 0;  /* (as unsigned, a negative index is out of range too: one test, no branch) */
        for (Py_ssize_t i = 0; i < n; i++)
            outside |= ((uint64_t)rows[i] >= (uint64_t)n_rows) | ((uint64_t)cols[i] >= (uint64_t)f);
        if (outside) {
            PyErr_SetString(PyExc_ValueError, "sparse_dot: an entry outside the matrices");
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS
        /* a row's entries come in runs (sorted by row, as hashing gives them). With one class,
           the run's sum is kept in a register from the row's value in out and written back at
           its end: the same additions in the same order as adding to out entry by entry, without
           a store and a reload between each two. The weights are megabytes read at random
           columns: those of the entry SPARSE_AHEAD on are asked for while one is summed (each
           is a miss to memory otherwise). */
        for (Py_ssize_t i = 0; i < n && k_n == 1;) {
            const int64_t row = rows[i];
            double sum = out[row];
            do {
                if (i + SPARSE_AHEAD < n)
                    __builtin_prefetch(&w[cols[i + SPARSE_AHEAD] * column_stride]);
                double product = counts[i] * w[cols[i] * column_stride];  /* rounded, then added: as NumPy */
                sum += product;
                i++;
            } while (i < n && rows[i] == row);
            out[row] = sum;
        }
        for (Py_ssize_t i = 0; i < n && k_n != 1; i++) {
            if (i + SPARSE_AHEAD < n)
                __builtin_prefetch(&w[cols[i + SPARSE_AHEAD] * column_stride]);
            for (Py_ssize_t k = 0; k < k_n; k++) {
                double product = counts[i] * w[k * row_stride + cols[i] * column_stride];  /* rounded, then added: as NumPy */
                out[rows[i] * k_n + k] += product;
            }
        }
        Py_END_ALLOW_THREADS
    }
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&b[i]);
    return result;
}

/* -- repetition keys (repetition._hash: pandas.util.hash_array of str objects) ------------------ */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                  \
    do {                                                                          \
        v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);             \
        v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                                  \
        v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                                  \
        v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);             \
    } while (0)

static uint64_t
load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* SipHash-2-4 of `in` under the 16-byte key k (pandas' hash of a string's bytes) */
static uint64_t
siphash24(const uint8_t *in, Py_ssize_t len, const uint8_t k[16])
{
    uint64_t k0 = load_le64(k), k1 = load_le64(k + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = ((uint64_t)len) << 56;
    const uint8_t *end = in + len - (len % 8);
    for (; in != end; in += 8) {
        uint64_t m = load_le64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    switch (len & 7) {
    case 7: b |= ((uint64_t)in[6]) << 48; /* fall through */
    case 6: b |= ((uint64_t)in[5]) << 40; /* fall through */
    case 5: b |= ((uint64_t)in[4]) << 32; /* fall through */
    case 4: b |= ((uint64_t)in[3]) << 24; /* fall through */
    case 3: b |= ((uint64_t)in[2]) << 16; /* fall through */
    case 2: b |= ((uint64_t)in[1]) << 8;  /* fall through */
    case 1: b |= ((uint64_t)in[0]);
    }
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* pandas' step after SipHash (pandas/_libs/hashing.pyx: the splitmix64 finaliser) */
static inline uint64_t
pandas_mix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

PyDoc_STRVAR(hash_keys_doc,
"hash_keys(strings, key, out)\n\n"
"pandas.util.hash_array(np.array(strings, dtype=object), categorize=False) with hash_key `key`\n"
"(16 bytes) into `out` (uint64 [len(strings)]): SipHash-2-4 of each string's UTF-8, then\n"
"pandas' mixing step. A string holding lone surrogates (undecodable input bytes) is hashed as\n"
"repetition._hash passes it: its surrogatepass UTF-8 bytes read as Latin-1, encoded as UTF-8.");

static PyObject *
hash_keys(PyObject *self, PyObject *args)
{
    PyObject *strings, *o_out;
    const char *key;
    Py_ssize_t key_len;
    if (!PyArg_ParseTuple(args, "O!y#O", &PyList_Type, &strings, &key, &key_len, &o_out))
        return NULL;
    if (key_len != 16) {
        PyErr_SetString(PyExc_ValueError, "hash_keys: the key must be 16 bytes");
        return NULL;
    }
    Py_buffer out;
    if (get_buffer(o_out, &out, 8, 1, "out", "LQ") < 0)
        return NULL;
    PyObject *result = NULL;
    bbuf raw = {NULL, 0, 0};
    const Py_ssize_t n = PyList_GET_SIZE(strings);
    if (out.len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "hash_keys: out of the wrong size");
        goto done;
    }
    uint64_t *o = out.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(strings, i);
        if (!PyUnicode_Check(s)) {
            PyErr_SetString(PyExc_TypeError, "hash_keys: strings must be str");
            goto done;
        }
        Py_ssize_t len;
        const char *utf8 = PyUnicode_AsUTF8AndSize(s, &len);
        uint64_t h;
        if (utf8 != NULL) {
            h = siphash24((const uint8_t *)utf8, len, (const uint8_t *)key);
        } else {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
                goto done;
            PyErr_Clear();
            PyObject *bytes = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
            if (bytes == NULL)
                goto done;
            const uint8_t *bs = (const uint8_t *)PyBytes_AS_STRING(bytes);
            raw.len = 0;
            for (Py_ssize_t j = 0; j < PyBytes_GET_SIZE(bytes); j++)
                if (bbuf_utf8(&raw, bs[j]) < 0) {
                    Py_DECREF(bytes);
                    goto done;
                }
            Py_DECREF(bytes);
            h = siphash24(raw.buf, raw.len, (const uint8_t *)key);
        }
        o[i] = pandas_mix(h);
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(raw.buf);
    PyBuffer_Release(&out);
    return result;
}

/* -- the segment table (signals.segment_columns) ---------------------------------------------- */

/* policy._breaks: line breaks in text[a:b] (\r\n counts once) */
static Py_ssize_t
count_breaks(int kind, const void *data, Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t breaks = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '\n' || c == 0x2028 || c == 0x2029)
            breaks++;
        else if (c == '\r')
            breaks += !(i + 1 < b && PyUnicode_READ(kind, data, i + 1) == '\n');
    }
    return breaks;
}

/* A segment's content_start, content_end and the truth of line_start and line_end (`names`):
   read from its slots when it is of `slotted` (whose slots are at `offsets`), else asked for */
static int
segment_fields(PyObject *seg, PyObject *names[4], PyTypeObject *slotted, const Py_ssize_t offsets[4],
               Py_ssize_t v[2], int flags[2])
{
    for (int k = 0; k < 4; k++) {
        PyObject *value = NULL;
        if (slotted != NULL && Py_IS_TYPE(seg, slotted))
            value = Py_XNewRef(*(PyObject **)((char *)seg + offsets[k]));
        if (value == NULL && (value = PyObject_GetAttr(seg, names[k])) == NULL)  /* (unset: the error) */
            return -1;
        if (k < 2)
            v[k] = PyNumber_AsSsize_t(value, PyExc_OverflowError);
        else
            flags[k - 2] = PyObject_IsTrue(value);
        Py_DECREF(value);
        if ((k < 2 && v[k] == -1 && PyErr_Occurred()) || (k >= 2 && flags[k - 2] < 0))
            return -1;
    }
    return 0;
}

/* The rows of one document (an exact str and its own list of segments) from `*row` on. */
static int
document_rows(PyObject *text, PyObject *segs, PyObject *names[4], PyTypeObject *slotted, const Py_ssize_t offsets[4],
              Py_ssize_t d, Py_ssize_t rows, Py_ssize_t *row_at,
              PyObject *out, int64_t *doc, int64_t *idx, int64_t *nseg, int64_t *before, int64_t *after,
              int64_t *in_line, int64_t *chars_after, int64_t *doc_chars, uint8_t *line_start, uint8_t *line_end)
{
    const Py_ssize_t n = PyList_GET_SIZE(segs), len = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t row = *row_at;
    if (row + n > rows) {
        PyErr_SetString(PyExc_ValueError, "segment_rows: columns shorter than the segments");
        return -1;
    }
    Py_ssize_t line_first = row;  /* the first row of the current line */
    for (Py_ssize_t i = 0; i < n; i++, row++) {
        PyObject *seg = PyList_GET_ITEM(segs, i);  /* held by segs, which only we hold */
        Py_ssize_t v[2];
        int flags[2];  /* line_start, line_end: their truth, as bool() */
        if (segment_fields(seg, names, slotted, offsets, v, flags) < 0)
            return -1;
        if (!(0 <= v[0] && v[0] < v[1] && v[1] <= len)) {
            PyErr_SetString(PyExc_ValueError, "segment_rows: a segment outside its text or empty");
            return -1;
        }
        PyObject *content = PyUnicode_Substring(text, v[0], v[1]);
        if (content == NULL || PyList_Append(out, content) < 0) {
            Py_XDECREF(content);
            return -1;
        }
        Py_DECREF(content);
        doc[row] = d;
        idx[row] = i;
        nseg[row] = n;
        line_start[row] = (uint8_t)flags[0];
        line_end[row] = (uint8_t)flags[1];
        chars_after[row] = len - v[1];
        doc_chars[row] = len;
        /* breaks between the previous segment's content and this one's (2 for the first) */
        before[row] = 2;
        if (i) {
            Py_ssize_t prev_end = len - chars_after[row - 1];
            before[row] = count_breaks(kind, data, prev_end, v[0]);
            after[row - 1] = before[row];
        }
        after[row] = 2;  /* the last segment's; the next one overwrites it */
        if (flags[1] || i + 1 == n) {  /* a line ends here: its segments learn how many it has */
            for (Py_ssize_t r = line_first; r <= row; r++)
                in_line[r] = row - line_first + 1;
            line_first = row + 1;
        }
    }
    *row_at = row;
    return 0;
}

PyDoc_STRVAR(segment_rows_doc,
"segment_rows(texts, segments, columns) -> list\n\n"
"The segment table of signals.segment_columns: `segments` holds each text's segments (Segment\n"
"objects with content, all non-empty); `columns` is a dict of int64 arrays doc, idx, n,\n"
"breaks_before, breaks_after, segs_in_line, chars_after, doc_chars and bool arrays line_start,\n"
"line_end, one entry per segment, filled here. Returns the segments' content texts.");

static PyObject *
segment_rows(PyObject *self, PyObject *args)
{
    PyObject *texts, *segments, *columns;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyList_Type, &texts, &PyList_Type, &segments, &PyDict_Type, &columns))
        return NULL;
    static const char *int_names[8] = {"doc", "idx", "n", "breaks_before", "breaks_after", "segs_in_line",
                                       "chars_after", "doc_chars"};
    static const char *bool_names[2] = {"line_start", "line_end"};
    Py_buffer cols[10];
    int got = 0;
    PyObject *out = NULL, *names[4] = {NULL, NULL, NULL, NULL};
    const char *attr[4] = {"content_start", "content_end", "line_start", "line_end"};
    PyTypeObject *slotted = NULL;  /* (a reference held for the call) */
    Py_ssize_t offsets[4];
    for (; got < 10; got++) {
        const char *name = got < 8 ? int_names[got] : bool_names[got - 8];
        PyObject *column = PyDict_GetItemString(columns, name);
        if (column == NULL) {
            PyErr_Format(PyExc_KeyError, "segment_rows: no column %s", name);
            goto done;
        }
        if (get_buffer(column, &cols[got], got < 8 ? 8 : 1, 1, name, got < 8 ? "lq" : "?B") < 0)
            goto done;
    }
    for (int k = 0; k < 4; k++)
        if ((names[k] = PyUnicode_InternFromString(attr[k])) == NULL)
            goto done;
    for (int k = 1; k < 10; k++)  /* every column as long as the first */
        if (cols[k].len / cols[k].itemsize != cols[0].len / 8) {
            PyErr_SetString(PyExc_ValueError, "segment_rows: columns of different lengths");
            goto done;
        }
    if (PyList_GET_SIZE(texts) != PyList_GET_SIZE(segments)) {
        PyErr_SetString(PyExc_ValueError, "segment_rows: one list of segments per text");
        goto done;
    }
    /* segments of the class of the first one (results.Segment) are read from their slots */
    for (Py_ssize_t d = 0; d < PyList_GET_SIZE(segments); d++) {
        PyObject *segs = PyList_GET_ITEM(segments, d);
        if (PyList_Check(segs) && PyList_GET_SIZE(segs) > 0) {
            PyTypeObject *type = Py_TYPE(PyList_GET_ITEM(segs, 0));
            /* (a class with its own __getattribute__ is asked for its fields) */
            int usable = type->tp_getattro == PyObject_GenericGetAttr ? slot_offsets(type, names, 4, offsets) : 0;
            if (usable < 0)
                goto done;
            if (usable)
                slotted = (PyTypeObject *)Py_NewRef(type);
            break;
        }
    }
    out = PyList_New(0);
    if (out == NULL)
        goto done;
    int64_t *doc = cols[0].buf, *idx = cols[1].buf, *nseg = cols[2].buf, *before = cols[3].buf,
            *after = cols[4].buf, *in_line = cols[5].buf, *chars_after = cols[6].buf, *doc_chars = cols[7].buf;
    uint8_t *line_start = cols[8].buf, *line_end = cols[9].buf;
    const Py_ssize_t rows = cols[0].len / 8;
    Py_ssize_t row = 0;
    for (Py_ssize_t d = 0; d < PyList_GET_SIZE(texts) && d < PyList_GET_SIZE(segments); d++) {
        /* references of our own: reading a segment's fields may run Python code that empties
           the lists; the text is an exact str, the segments a copy of the list */
        PyObject *text = PyUnicode_Check(PyList_GET_ITEM(texts, d)) ? PyUnicode_FromObject(PyList_GET_ITEM(texts, d)) : NULL;
        PyObject *segs = PyList_Check(PyList_GET_ITEM(segments, d)) ? PyList_GetSlice(PyList_GET_ITEM(segments, d), 0, PY_SSIZE_T_MAX) : NULL;
        if (text == NULL || segs == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "segment_rows: texts are str, segments lists");
            Py_XDECREF(text);
            Py_XDECREF(segs);
            goto fail;
        }
        int status = document_rows(text, segs, names, slotted, offsets, d, rows, &row, out, doc, idx, nseg, before, after, in_line,
                                   chars_after, doc_chars, line_start, line_end);
        Py_DECREF(text);
        Py_DECREF(segs);
        if (status < 0)
            goto fail;
    }
    if (PyList_GET_SIZE(texts) != PyList_GET_SIZE(segments)) {
        PyErr_SetString(PyExc_ValueError, "segment_rows: one list of segments per text");
        goto fail;
    }
    if (row != rows) {
        PyErr_SetString(PyExc_ValueError, "segment_rows: columns longer than the segments");
        goto fail;
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    Py_XDECREF(slotted);
    for (int k = 0; k < 4; k++)
        Py_XDECREF(names[k]);
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&cols[i]);
    return out;
}

/* -- the policy's removals: policy.choose_removals without rules -------------------------------- */

/* the threshold `limits` (a dict) gives `kind`, as a double; -1 with an exception when missing */
static int
limit_of(PyObject *limits, PyObject *kind, double *value)
{
    PyObject *v = Py_XNewRef(PyDict_GetItemWithError(limits, kind));  /* (its __float__ may empty the dict) */
    if (v == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyError, "removals: a kind without a threshold");
        return -1;
    }
    *value = PyFloat_AsDouble(v);
    Py_DECREF(v);
    return (*value == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* One text's removals: its segments' content bounds and flags, and what reading and deciding
   them needs, kept from text to text of a call */
typedef struct {
    Py_ssize_t *cs, *ce;  /* content starts and ends */
    uint8_t *flags;       /* bit 1: removed, 4: ends its line */
    Py_ssize_t cap;
    PyObject *names[4];
    PyTypeObject *slotted;  /* (a reference held for the call) */
    Py_ssize_t offsets[4];
    int typed;  /* slotted and offsets are set, from the first segment seen */
    /* the kinds' thresholds, by identity: a call sees a few kind objects, and a dict lookup of an
       Enum member runs its __hash__ in Python */
    PyObject *seen[2][16];
    double seen_limit[2][16];
    int n_seen[2];
} removals;

static int
removals_init(removals *r)
{
    memset(r, 0, sizeof(*r));
    const char *attr[4] = {"content_start", "content_end", "line_start", "line_end"};
    for (int k = 0; k < 4; k++)
        if ((r->names[k] = PyUnicode_InternFromString(attr[k])) == NULL)
            return -1;
    return 0;
}

static void
removals_free(removals *r)
{
    for (int k = 0; k < 4; k++)
        Py_XDECREF(r->names[k]);
    for (int which = 0; which < 2; which++)
        for (int k = 0; k < r->n_seen[which]; k++)
            Py_DECREF(r->seen[which][k]);
    Py_XDECREF(r->slotted);
    PyMem_Free(r->cs);
    PyMem_Free(r->ce);
    PyMem_Free(r->flags);
}

/* the threshold `limits` (which: 0 the removal limits, 1 the run limits) gives `kind` */
static int
removals_limit(removals *r, int which, PyObject *limits, PyObject *kind, double *value)
{
    for (int k = 0; k < r->n_seen[which]; k++)
        if (r->seen[which][k] == kind) {
            *value = r->seen_limit[which][k];
            return 0;
        }
    if (limit_of(limits, kind, value) < 0)
        return -1;
    if (r->n_seen[which] < 16) {
        r->seen[which][r->n_seen[which]] = Py_NewRef(kind);
        r->seen_limit[which][r->n_seen[which]++] = *value;
    }
    return 0;
}

/* Reads the n segments of `segs` (a tuple) of a text of `len` characters: their bounds, and
   which end their line. -1 with an exception (ValueError: outside the text or out of order). */
static int
removals_read(removals *r, PyObject *segs, Py_ssize_t len, const char *who)
{
    const Py_ssize_t n = PyTuple_GET_SIZE(segs);
    if (n + 1 > r->cap) {
        Py_ssize_t cap = n + 1 > 2 * r->cap ? n + 1 : 2 * r->cap;
        PyMem_Free(r->cs);
        PyMem_Free(r->ce);
        PyMem_Free(r->flags);
        r->cs = PyMem_Malloc(cap * sizeof(Py_ssize_t));
        r->ce = PyMem_Malloc(cap * sizeof(Py_ssize_t));
        r->flags = PyMem_Malloc(cap);
        r->cap = (r->cs && r->ce && r->flags) ? cap : 0;
        if (r->cap == 0) {
            PyErr_NoMemory();
            return -1;
        }
    }
    if (n > 0 && !r->typed) {  /* segments of the class of the first one are read from their slots */
        PyTypeObject *type = Py_TYPE(PyTuple_GET_ITEM(segs, 0));
        /* (a class with its own __getattribute__ is asked for its fields) */
        int usable = type->tp_getattro == PyObject_GenericGetAttr ? slot_offsets(type, r->names, 4, r->offsets) : 0;
        if (usable < 0)
            return -1;
        if (usable)
            r->slotted = (PyTypeObject *)Py_NewRef(type);
        r->typed = 1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t v[2];
        int line[2];
        if (segment_fields(PyTuple_GET_ITEM(segs, i), r->names, r->slotted, r->offsets, v, line) < 0)
            return -1;
        if (!(0 <= v[0] && v[0] <= v[1] && v[1] <= len) || (i > 0 && v[0] < r->ce[i - 1])) {
            PyErr_Format(PyExc_ValueError, "%s: segments outside the text or out of order", who);
            return -1;
        }
        r->cs[i] = v[0];
        r->ce[i] = v[1];
        r->flags[i] = line[1] ? 4 : 0;
    }
    return 0;
}

/* The model's removals and the runs they start (policy._decide and policy._extend_runs without
   rules), after the forced ones are flagged: n segments, their scores and kinds */
static int
removals_decide(removals *r, Py_ssize_t n, const double *scores, PyObject *const *kinds, PyObject *limits,
                PyObject *run_limits, double floor)
{
    uint8_t *flags = r->flags;
    const Py_ssize_t *cs = r->cs, *ce = r->ce;
    /* candidates reaching their kind's threshold, with content */
    const int any = !isinf(floor) || floor < 0;
    for (Py_ssize_t i = 0; any && i < n; i++) {
        if (!(scores[i] >= floor) || (flags[i] & 1))
            continue;
        double limit;
        if (removals_limit(r, 0, limits, kinds[i], &limit) < 0)
            return -1;
        if (scores[i] >= limit && ce[i] > cs[i])
            flags[i] |= 1;
    }
    /* runs: forward over the candidates, then back within a line */
    int removed_any = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        removed_any |= flags[i] & 1;
    if (run_limits != Py_None && removed_any && any) {
        for (int pass = 0; pass < 2; pass++)
            for (Py_ssize_t t = 0; t < n; t++) {
                const Py_ssize_t i = pass == 0 ? t : n - 1 - t;
                if (!(scores[i] >= floor) || (flags[i] & 1) || ce[i] <= cs[i])
                    continue;
                if (pass == 0 ? !(i > 0 && (flags[i - 1] & 1)) : !(i + 1 < n && (flags[i + 1] & 1) && !(flags[i] & 4)))
                    continue;
                double limit;
                if (removals_limit(r, 1, run_limits, kinds[i], &limit) < 0)
                    return -1;
                if (scores[i] >= limit)
                    flags[i] |= 1;
            }
    }
    return 0;
}

/* The next run of removed segments from *first on: *first and *last set to its segments, *lo and
   *hi to its range (policy._run_range: with one of its separators). 0 when there is none. */
static int
removals_run(const removals *r, Py_ssize_t n, int kind, const void *data, Py_ssize_t *first, Py_ssize_t *last,
             Py_ssize_t *lo, Py_ssize_t *hi)
{
    const uint8_t *flags = r->flags;
    const Py_ssize_t *cs = r->cs, *ce = r->ce;
    Py_ssize_t f = *first;
    while (f < n && !(flags[f] & 1))
        f++;
    if (f >= n)
        return 0;
    Py_ssize_t l = f;
    while (l + 1 < n && (flags[l + 1] & 1))
        l++;
    Py_ssize_t a = cs[f], b = ce[l];
    const int before = f > 0, after = l + 1 < n;
    if (before && after) {
        if (count_breaks(kind, data, ce[l], cs[l + 1]) > count_breaks(kind, data, ce[f - 1], cs[f]))
            a = ce[f - 1];  /* keep the separator after the run */
        else
            b = cs[l + 1];  /* keep the separator before it */
    } else if (after) {
        b = cs[l + 1];
    } else if (before) {
        a = ce[f - 1];
    }
    *first = f;
    *last = l;
    *lo = a;
    *hi = b;
    return 1;
}

/* (start, end, index) of each segment `r` removes from the n segments of `text`: each run's
   range, split at its segments' content starts */
static PyObject *
removed_list(const removals *r, PyObject *text, Py_ssize_t n)
{
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t first = 0, last, lo, hi; removals_run(r, n, kind, data, &first, &last, &lo, &hi); first = last + 1)
        for (Py_ssize_t k = first; k <= last; k++) {
            PyObject *range = Py_BuildValue("(nnn)", k == first ? lo : r->cs[k], k == last ? hi : r->cs[k + 1], k);
            if (range == NULL || PyList_Append(out, range) < 0) {
                Py_XDECREF(range);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(range);
        }
    return out;
}

/* `text` (an exact str) without the runs `r` removes from its n segments: policy.remove_spans */
static PyObject *
stripped_text(const removals *r, PyObject *text, Py_ssize_t n)
{
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t first = 0, last, lo, hi, kept = 0;
    if (!removals_run(r, n, kind, data, &first, &last, &lo, &hi))
        return Py_NewRef(text);
    PyObject *pieces = PyList_New(0), *result = NULL;
    if (pieces == NULL)
        return NULL;
    do {
        PyObject *piece = PyUnicode_Substring(text, kept, lo);
        if (piece == NULL || PyList_Append(pieces, piece) < 0) {
            Py_XDECREF(piece);
            goto done;
        }
        Py_DECREF(piece);
        kept = hi;
        first = last + 1;
    } while (removals_run(r, n, kind, data, &first, &last, &lo, &hi));
    PyObject *piece = PyUnicode_Substring(text, kept, PyUnicode_GET_LENGTH(text));
    if (piece == NULL || PyList_Append(pieces, piece) < 0) {
        Py_XDECREF(piece);
        goto done;
    }
    Py_DECREF(piece);
    PyObject *empty = PyUnicode_New(0, 0);
    if (empty != NULL)
        result = PyUnicode_Join(empty, pieces);
    Py_XDECREF(empty);
done:
    Py_DECREF(pieces);
    return result;
}

/* strip_texts and removal_ranges_many: the removals of each text of a batch, as per_text makes
   them into its item of the list returned */
static PyObject *
batch_removals(PyObject *args, const char *who, PyObject *(*per_text)(const removals *, PyObject *, Py_ssize_t))
{
    PyObject *texts, *segments, *o_scores, *kinds, *limits, *run_limits, *forced;
    double floor;
    if (!PyArg_ParseTuple(args, "O!O!OO!O!OdO!", &PyList_Type, &texts, &PyList_Type, &segments, &o_scores,
                          &PyList_Type, &kinds, &PyDict_Type, &limits, &run_limits, &floor, &PyList_Type, &forced))
        return NULL;
    if (run_limits != Py_None && !PyDict_Check(run_limits)) {
        PyErr_Format(PyExc_TypeError, "%s: run_limits must be a dict or None", who);
        return NULL;
    }
    Py_buffer scores_buf;
    if (get_buffer(o_scores, &scores_buf, 8, 0, "scores", "d") < 0)
        return NULL;
    removals r;
    PyObject *result = NULL, *out = NULL, *segs = NULL, *text = NULL, *one = NULL;
    /* the lists are copied: reading a field may run Python code that changes them */
    PyObject *text_of = PyList_AsTuple(texts), *segs_of = PyList_AsTuple(segments), *kind_of = PyList_AsTuple(kinds);
    PyObject *forced_items = PyList_AsTuple(forced);
    if (removals_init(&r) < 0 || text_of == NULL || segs_of == NULL || kind_of == NULL || forced_items == NULL)
        goto done;
    const Py_ssize_t n_texts = PyTuple_GET_SIZE(text_of), n_all = PyTuple_GET_SIZE(kind_of);
    if (PyTuple_GET_SIZE(segs_of) != n_texts || scores_buf.len / 8 != n_all) {
        PyErr_Format(PyExc_ValueError, "%s: texts, segments, scores and kinds of different lengths", who);
        goto done;
    }
    if ((out = PyList_New(n_texts)) == NULL)
        goto done;
    const double *scores = scores_buf.buf;
    Py_ssize_t at = 0, f = 0;  /* the texts' first segment in scores and kinds; the next forced pair */
    for (Py_ssize_t d = 0; d < n_texts; d++) {
        PyObject *item = PyTuple_GET_ITEM(text_of, d), *list = PyTuple_GET_ITEM(segs_of, d);
        if (!PyUnicode_Check(item) || !PyList_Check(list)) {
            PyErr_Format(PyExc_TypeError, "%s: texts are str, segments lists", who);
            goto done;
        }
        if ((text = PyUnicode_FromObject(item)) == NULL || (segs = PyList_AsTuple(list)) == NULL)
            goto done;
        const Py_ssize_t n = PyTuple_GET_SIZE(segs);
        if (at + n > n_all) {
            PyErr_Format(PyExc_ValueError, "%s: fewer scores than segments", who);
            goto done;
        }
        if (removals_read(&r, segs, PyUnicode_GET_LENGTH(text), who) < 0)
            goto done;
        for (; f < PyTuple_GET_SIZE(forced_items); f++) {
            PyObject *pair = PyTuple_GET_ITEM(forced_items, f);
            Py_ssize_t fd, fi;
            if (!PyArg_ParseTuple(pair, "nn", &fd, &fi)) {
                PyErr_Format(PyExc_TypeError, "%s: forced holds (text, segment) pairs", who);
                goto done;
            }
            if (fd < d) {
                PyErr_Format(PyExc_ValueError, "%s: forced pairs out of order", who);
                goto done;
            }
            if (fd > d)
                break;
            if (fi < 0 || fi >= n) {
                PyErr_Format(PyExc_IndexError, "%s: a forced segment outside the segments", who);
                goto done;
            }
            r.flags[fi] |= 1;
        }
        if (removals_decide(&r, n, scores + at, &PyTuple_GET_ITEM(kind_of, at), limits, run_limits, floor) < 0
                || (one = per_text(&r, text, n)) == NULL)
            goto done;
        PyList_SET_ITEM(out, d, one);
        one = NULL;
        Py_CLEAR(text);
        Py_CLEAR(segs);
        at += n;
    }
    if (at != n_all || f != PyTuple_GET_SIZE(forced_items)) {
        PyErr_Format(PyExc_ValueError, at != n_all ? "%s: more scores than segments"
                                                   : "%s: a forced pair after the last text", who);
        goto done;
    }
    result = Py_NewRef(out);
done:
    PyBuffer_Release(&scores_buf);
    Py_XDECREF(text);
    Py_XDECREF(segs);
    Py_XDECREF(out);
    Py_XDECREF(text_of);
    Py_XDECREF(segs_of);
    Py_XDECREF(kind_of);
    Py_XDECREF(forced_items);
    removals_free(&r);
    return result;
}

PyDoc_STRVAR(strip_texts_doc,
"strip_texts(texts, segments, scores, kinds, limits, run_limits, floor, forced) -> list\n\n"
"Each str of the list `texts` without what removal_ranges_many removes from it (policy.remove_spans\n"
"of its ranges), as an exact str. `segments` holds each text's list of Segments; `scores`\n"
"(float64) and `kinds` (a list) are those of all the segments, text after text; `forced` is a\n"
"list of (text, segment) index pairs in the order of the texts. The other arguments are\n"
"removal_ranges_many's.");

static PyObject *
strip_texts(PyObject *self, PyObject *args)
{
    return batch_removals(args, "strip_texts", stripped_text);
}

PyDoc_STRVAR(removal_ranges_many_doc,
"removal_ranges_many(texts, segments, scores, kinds, limits, run_limits, floor, forced) -> list\n\n"
"What policy.choose_removals removes from each str of the list `texts` when no user rule applies:\n"
"for each text, (start, end, index) of each removed segment, in order, the ranges tiling each\n"
"removed run with one of its separators. `segments` holds each text's list of Segments; `scores`\n"
"(float64) and `kinds` (a list) are those of all the segments, text after text; `limits` maps each\n"
"kind to its removal threshold, `run_limits` (None: no runs) to its run threshold; only segments\n"
"at or over `floor` are candidates (none when it is infinite); `forced` is a list of (text,\n"
"segment) index pairs, in the order of the texts, removed by a built-in rule.");

static PyObject *
removal_ranges_many(PyObject *self, PyObject *args)
{
    return batch_removals(args, "removal_ranges_many", removed_list);
}

/* -- repetition keys: repetition.normal_form and mining.template_of ---------------------------- */

/* text[a:b] with every whitespace run as one space (the text stripped first): `_SPACE.sub(" ", ...)` */
static int
collapse_spaces(int kind, const void *data, Py_ssize_t n, ubuf *out)
{
    Py_ssize_t a = 0, b = n;
    while (a < b && is_space(PyUnicode_READ(kind, data, a)))
        a++;
    while (b > a && is_space(PyUnicode_READ(kind, data, b - 1)))
        b--;
    out->len = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (is_space(c)) {
            while (i + 1 < b && is_space(PyUnicode_READ(kind, data, i + 1)))
                i++;
            c = ' ';
        }
        if (ubuf_put(out, c) < 0)
            return -1;
    }
    return 0;
}

static int
ubuf_from(ubuf *dst, const ubuf *src)
{
    dst->len = 0;
    for (Py_ssize_t i = 0; i < src->len; i++)
        if (ubuf_put(dst, src->buf[i]) < 0)
            return -1;
    return 0;
}

static inline int is_currency(Py_UCS4 c) { return c == '$' || c == 0x20AC || c == 0xA3 || c == 0xA5; }
/* mining._NAME_RUN's look-behind class [\w,;:)\]’'"»|–—-] */
static inline int is_name_before(Py_UCS4 c)
{
    return re_word(c) || c == ',' || c == ';' || c == ':' || c == ')' || c == ']' || c == 0x2019 || c == '\''
        || c == '"' || c == 0xBB || c == '|' || c == 0x2013 || c == 0x2014 || c == '-';
}
static inline int is_name_tail(Py_UCS4 c) { return re_word(c) || c == '\'' || c == 0x2019 || c == '&' || c == '-'; }

static int
buf_starts(const ubuf *s, Py_ssize_t i, const char *lit)
{
    for (Py_ssize_t k = 0; lit[k]; k++)
        if (i + k >= s->len || s->buf[i + k] != (Py_UCS4)(unsigned char)lit[k])
            return 0;
    return 1;
}

/* a capitalised word at i ([A-Z][\w'’&-]*): its end, or -1 */
static Py_ssize_t
name_word(const ubuf *s, Py_ssize_t i)
{
    if (i >= s->len || !is_upper_ascii(s->buf[i]))
        return -1;
    Py_ssize_t j = i + 1;
    while (j < s->len && is_name_tail(s->buf[j]))
        j++;
    return j;
}

static const char *const name_connectors[] = {"of ", "the ", "and ", "& ", "de ", "for ", "in ", "on "};

PyDoc_STRVAR(template_of_doc,
"template_of(text) -> str or None\n\n"
"mining.template_of(text) for a text with no e-mail, URL, handle or hashtag to mask (no '@',\n"
"'#', '://', 'www' or '.' before c, o, n, i or u); None for any other text,\n"
"which mining.template_of masks itself.");

static PyObject *
template_of(PyObject *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "template_of: a str");
        return NULL;
    }
    const Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    const int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    int quoted = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '@' || c == '#')
            Py_RETURN_NONE;
        quoted |= c == 0x201C || c == '"' || c == 0x2018;
        if (c == '.' && i + 1 < n) {
            /* (İ and ı are i to the regex engine when it ignores case) */
            Py_UCS4 d = fold_ascii(PyUnicode_READ(kind, data, i + 1));
            if (d == 'c' || d == 'o' || d == 'n' || d == 'i' || d == 'u')
                Py_RETURN_NONE;
        }
        if (c == ':' && i + 2 < n && PyUnicode_READ(kind, data, i + 1) == '/' && PyUnicode_READ(kind, data, i + 2) == '/')
            Py_RETURN_NONE;
        if ((c | 0x20) == 'w' && i + 2 < n && (PyUnicode_READ(kind, data, i + 1) | 0x20) == 'w'
                && (PyUnicode_READ(kind, data, i + 2) | 0x20) == 'w')
            Py_RETURN_NONE;
    }
    ubuf s = {NULL, 0, 0, NULL, 0}, t = {NULL, 0, 0, NULL, 0};
    PyObject *result = NULL;
    if (collapse_spaces(kind, data, n, &s) < 0)
        goto done;
    /* _QUOTE: “[^”]{1,200}”|"[^"]{1,200}"|‘[^’]{1,200}’ -> {quote}: an opening mark, 1 to 200
       characters without its closing mark, and that mark */
    if (quoted) {
        for (Py_ssize_t i = 0; i < s.len;) {
            Py_UCS4 c = s.buf[i], close = c == 0x201C ? 0x201D : c == '"' ? '"' : c == 0x2018 ? 0x2019 : 0;
            Py_ssize_t j = i + 1;
            while (close && j < s.len && j - i - 1 <= 200 && s.buf[j] != close)
                j++;
            if (close && j < s.len && s.buf[j] == close && j - i - 1 >= 1 && j - i - 1 <= 200) {
                if (ubuf_puts(&t, "{quote}") < 0)
                    goto done;
                i = j + 1;
            } else {
                if (ubuf_put(&t, c) < 0)
                    goto done;
                i++;
            }
        }
        if (ubuf_from(&s, &t) < 0)
            goto done;
        t.len = 0;
    }
    /* _NUMBER: [$€£¥]?\d+(?:[,.:/]\d+)*%? -> {number} */
    for (Py_ssize_t i = 0; i < s.len;) {
        Py_ssize_t j = i;
        if (is_currency(s.buf[j]) && j + 1 < s.len && is_decimal(s.buf[j + 1]))
            j++;
        if (is_decimal(s.buf[j])) {
            j++;
            for (;;) {
                while (j < s.len && is_decimal(s.buf[j]))
                    j++;
                if (j + 1 < s.len && (s.buf[j] == ',' || s.buf[j] == '.' || s.buf[j] == ':' || s.buf[j] == '/')
                        && is_decimal(s.buf[j + 1]))
                    j += 2;
                else
                    break;
            }
            if (j < s.len && s.buf[j] == '%')
                j++;
            if (ubuf_puts(&t, "{number}") < 0)
                goto done;
            i = j;
        } else {
            if (ubuf_put(&t, s.buf[i]) < 0)
                goto done;
            i++;
        }
    }
    /* _NAME_RUN -> {name}: capitalised words after a word (or , ; : ) ] quote » | dash) and a
       space, joined by single spaces and maybe one connector */
    s.len = 0;
    int named = 0;
    for (Py_ssize_t p = 0; p < t.len;) {
        Py_ssize_t end = -1;
        if (p >= 2 && t.buf[p - 1] == ' ' && is_name_before(t.buf[p - 2]))
            end = name_word(&t, p);
        if (end < 0) {
            if (ubuf_put(&s, t.buf[p]) < 0)
                goto done;
            p++;
            continue;
        }
        for (;;) {  /* (?:\s+(?:of |the |...)?[A-Z][\w'’&-]*)* -- spaces are single here */
            Py_ssize_t q = end;
            if (q >= t.len || !is_space(t.buf[q]))
                break;
            q++;
            Py_ssize_t next = name_word(&t, q);
            for (size_t k = 0; next < 0 && k < sizeof(name_connectors) / sizeof(*name_connectors); k++)
                if (buf_starts(&t, q, name_connectors[k])) {
                    next = name_word(&t, q + (Py_ssize_t)strlen(name_connectors[k]));
                    break;  /* connectors are exclusive: none is a prefix of another */
                }
            if (next < 0)
                break;
            end = next;
        }
        if (ubuf_puts(&s, "{name}") < 0)
            goto done;
        named = 1;
        p = end;
    }
    /* _NAMES: {name} runs (with or without spaces between) -> one {name}, wherever "{name}" is
       (the text may hold one of its own) */
    for (Py_ssize_t i = 0; !named && i < s.len; i++)
        named = buf_starts(&s, i, "{name}");
    if (named) {
        t.len = 0;
        for (Py_ssize_t i = 0; i < s.len;) {
            if (buf_starts(&s, i, "{name}")) {
                Py_ssize_t j = i + 6;
                for (;;) {
                    Py_ssize_t k = j;
                    while (k < s.len && is_space(s.buf[k]))
                        k++;
                    if (buf_starts(&s, k, "{name}"))
                        j = k + 6;
                    else
                        break;
                }
                if (ubuf_puts(&t, "{name}") < 0)
                    goto done;
                i = j;
            } else {
                if (ubuf_put(&t, s.buf[i]) < 0)
                    goto done;
                i++;
            }
        }
        if (ubuf_from(&s, &t) < 0)
            goto done;
    }
    result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s.buf ? s.buf : (Py_UCS4 *)"", s.len);
done:
    PyMem_Free(s.buf);
    PyMem_Free(t.buf);
    return result;
}

PyDoc_STRVAR(normal_form_doc,
"normal_form(text) -> str or None\n\n"
"repetition.normal_form(text) for a text without 'http' or 'www.' (None for those: a URL to mask).");

static PyObject *normal_form_exact(PyObject *arg);

static PyObject *
normal_form(PyObject *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "normal_form: a str");
        return NULL;
    }
    PyObject *text = PyUnicode_FromObject(arg);  /* an exact str: its strip() and lower() are str's */
    if (text == NULL)
        return NULL;
    PyObject *result = normal_form_exact(text);
    Py_DECREF(text);
    return result;
}

static PyObject *
normal_form_exact(PyObject *arg)
{
    PyObject *lowered = NULL, *result = NULL;
    ubuf s = {NULL, 0, 0, NULL, 0}, t = {NULL, 0, 0, NULL, 0};
    {
        const Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
        const int kind = PyUnicode_KIND(arg);
        const void *data = PyUnicode_DATA(arg);
        for (Py_ssize_t i = 0; i + 2 < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if ((c == 'h' && i + 3 < n && PyUnicode_READ(kind, data, i + 1) == 't' && PyUnicode_READ(kind, data, i + 2) == 't'
                 && PyUnicode_READ(kind, data, i + 3) == 'p')
                    || (c == 'w' && i + 3 < n && PyUnicode_READ(kind, data, i + 1) == 'w'
                        && PyUnicode_READ(kind, data, i + 2) == 'w' && PyUnicode_READ(kind, data, i + 3) == '.'))
                Py_RETURN_NONE;
        }
    }
    /* strip, lower-case (str.lower), digit runs -> "0", whitespace runs -> " " */
    PyObject *stripped = PyObject_CallMethod(arg, "strip", NULL);
    if (stripped == NULL)
        return NULL;
    lowered = PyObject_CallMethod(stripped, "lower", NULL);
    Py_DECREF(stripped);
    if (lowered == NULL)
        return NULL;
    const Py_ssize_t n = PyUnicode_GET_LENGTH(lowered);
    const int kind = PyUnicode_KIND(lowered);
    const void *data = PyUnicode_DATA(lowered);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (is_decimal(c)) {
            while (i + 1 < n && is_decimal(PyUnicode_READ(kind, data, i + 1)))
                i++;
            c = '0';
        } else if (is_space(c)) {
            while (i + 1 < n && is_space(PyUnicode_READ(kind, data, i + 1)))
                i++;
            c = ' ';
        }
        if (ubuf_put(&s, c) < 0)
            goto done;
    }
    result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s.buf ? s.buf : (Py_UCS4 *)"", s.len);
done:
    Py_XDECREF(lowered);
    PyMem_Free(s.buf);
    PyMem_Free(t.buf);
    return result;
}

/* -- repetition._keys, hashed (for the texts template_of and normal_form restate) ----------- */

PyDoc_STRVAR(repetition_keys_doc,
"repetition_keys(texts, sites, label, key, out, done)\n\n"
"For each str of the list `texts` (with the site of the same place in the list `sites`), the\n"
"repetition._hash of the six strings of repetition._keys(text, site), into `out` (uint64,\n"
"len(texts) x 6), and 1 into `done` (uint8 [len(texts)]); 0 where Python must make the keys (a\n"
"text template_of or normal_form leaves to Python, a str subclass, undecodable bytes). `label` is\n"
"repetition._LABEL (called for texts holding one of its separators), `key` the 16-byte hash key.");

static inline int is_label_sep(Py_UCS4 c)  /* repetition._LABEL's [:|»›>–—-] */
{
    return c == ':' || c == '|' || c == 0xBB || c == 0x203A || c == '>' || c == 0x2013 || c == 0x2014 || c == '-';
}

/* 1 and the UTF-8 of s, or 0 (no exception) when s has undecodable bytes, -1 on error */
static int
utf8_of(PyObject *s, const char **utf8, Py_ssize_t *len)
{
    *utf8 = PyUnicode_AsUTF8AndSize(s, len);
    if (*utf8 != NULL)
        return 1;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return -1;
    PyErr_Clear();
    return 0;
}

/* the hash of the concatenation of parts (NULL-terminated tag, then UTF-8 pieces) */
static int
hash_parts(bbuf *b, const char *const parts[], const Py_ssize_t lens[], int n_parts, const uint8_t key[16],
           uint64_t *out)
{
    b->len = 0;
    for (int p = 0; p < n_parts; p++) {
        if (bbuf_reserve(b, lens[p]) < 0)
            return -1;
        memcpy(b->buf + b->len, parts[p], (size_t)lens[p]);
        b->len += lens[p];
    }
    *out = pandas_mix(siphash24(b->buf, b->len, key));
    return 0;
}

/* keys of one text: 1 done, 0 left to Python, -1 error */
static int
keys_one(PyObject *text, PyObject *site, PyObject *label, const uint8_t key[16], bbuf *b, uint64_t out[6])
{
    PyObject *norm = NULL, *tmpl = NULL, *lower = NULL, *prefix = NULL, *suffix = NULL;
    int status = 0;
    if (!PyUnicode_CheckExact(text) || !PyUnicode_CheckExact(site))
        return 0;
    norm = normal_form_exact(text);
    if (norm == NULL || norm == Py_None)
        goto done;
    tmpl = template_of(NULL, text);
    if (tmpl == NULL || tmpl == Py_None)
        goto done;
    lower = PyObject_CallMethod(tmpl, "lower", NULL);
    if (lower == NULL)
        goto done;
    /* the prefix: _LABEL's group 1 and ":" when it matches something, else the first two words;
       the suffix: the last two words (words: norm.split(" ")) */
    const Py_ssize_t n = PyUnicode_GET_LENGTH(norm);
    const int kind = PyUnicode_KIND(norm);
    const void *data = PyUnicode_DATA(norm);
    int has_sep = 0;
    Py_ssize_t second = -1, spaces = 0, last_two = 0;  /* the second space; after the last-but-one */
    Py_ssize_t last_space = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        /* _LABEL needs a run of separators followed by a space or the end: a separator inside
           a word ("well-known") alone never makes it match, and the regex is not asked */
        if (is_label_sep(c))
            has_sep |= i + 1 == n || is_space(PyUnicode_READ(kind, data, i + 1));
        if (c == ' ') {
            if (++spaces == 2)
                second = i;
            last_two = last_space + 1;
            last_space = i;
        }
    }
    if (has_sep) {
        PyObject *m = PyObject_CallMethod(label, "match", "O", norm);
        if (m == NULL)
            goto done;
        if (m != Py_None) {
            PyObject *g = PyObject_CallMethod(m, "group", "i", 1);
            if (g == NULL) {
                Py_DECREF(m);
                goto done;
            }
            if (PyUnicode_Check(g) && PyUnicode_GET_LENGTH(g) > 0) {
                PyObject *colon = PyUnicode_FromString(":");
                prefix = colon == NULL ? NULL : PyUnicode_Concat(g, colon);
                Py_XDECREF(colon);
            }
            Py_DECREF(g);
        }
        Py_DECREF(m);
        if (PyErr_Occurred())
            goto done;
    }
    if (prefix == NULL && (prefix = PyUnicode_Substring(norm, 0, spaces >= 2 ? second : n)) == NULL)
        goto done;
    if ((suffix = PyUnicode_Substring(norm, spaces >= 2 ? last_two : 0, n)) == NULL)
        goto done;
    const char *u_norm, *u_lower, *u_site, *u_prefix, *u_suffix;
    Py_ssize_t l_norm, l_lower, l_site, l_prefix, l_suffix;
    int ok;
    if ((ok = utf8_of(norm, &u_norm, &l_norm)) <= 0 || (ok = utf8_of(lower, &u_lower, &l_lower)) <= 0
            || (ok = utf8_of(site, &u_site, &l_site)) <= 0 || (ok = utf8_of(prefix, &u_prefix, &l_prefix)) <= 0
            || (ok = utf8_of(suffix, &u_suffix, &l_suffix)) <= 0) {
        if (ok < 0)
            goto done;
        status = 0;  /* undecodable bytes: hashed by Python's way (surrogatepass, latin-1) */
        goto done;
    }
    /* "n" SEP norm, "t" SEP tmpl, "n" SEP site SEP norm, "t" SEP site SEP tmpl,
       "p" SEP site SEP prefix, "s" SEP site SEP suffix */
    const char *tags[4] = {"n\x1f", "t\x1f", "p\x1f", "s\x1f"};
    {
        const char *parts[2] = {tags[0], u_norm};
        const Py_ssize_t lens[2] = {2, l_norm};
        if (hash_parts(b, parts, lens, 2, key, &out[0]) < 0)
            goto done;
    }
    {
        const char *parts[2] = {tags[1], u_lower};
        const Py_ssize_t lens[2] = {2, l_lower};
        if (hash_parts(b, parts, lens, 2, key, &out[1]) < 0)
            goto done;
    }
    const char *tails[4] = {u_norm, u_lower, u_prefix, u_suffix};
    const Py_ssize_t tail_lens[4] = {l_norm, l_lower, l_prefix, l_suffix};
    for (int k = 0; k < 4; k++) {
        const char *parts[4] = {tags[k], u_site, "\x1f", tails[k]};
        const Py_ssize_t lens[4] = {2, l_site, 1, tail_lens[k]};
        if (hash_parts(b, parts, lens, 4, key, &out[2 + k]) < 0)
            goto done;
    }
    status = 1;
done:
    if (PyErr_Occurred())
        status = -1;
    Py_XDECREF(norm);
    Py_XDECREF(tmpl);
    Py_XDECREF(lower);
    Py_XDECREF(prefix);
    Py_XDECREF(suffix);
    return status;
}

static PyObject *
repetition_keys(PyObject *self, PyObject *args)
{
    PyObject *texts, *sites, *label, *o_out, *o_done;
    const char *key;
    Py_ssize_t key_len;
    if (!PyArg_ParseTuple(args, "O!O!Oy#OO", &PyList_Type, &texts, &PyList_Type, &sites, &label, &key, &key_len,
                          &o_out, &o_done))
        return NULL;
    if (key_len != 16) {
        PyErr_SetString(PyExc_ValueError, "repetition_keys: the key must be 16 bytes");
        return NULL;
    }
    Py_buffer out, done;
    if (get_out_and_flags(o_out, &out, "LQ", o_done, &done, "done") < 0)
        return NULL;
    PyObject *result = NULL;
    bbuf b = {NULL, 0, 0};
    const Py_ssize_t n = PyList_GET_SIZE(texts);
    if (PyList_GET_SIZE(sites) != n || out.len / 8 != n * 6 || done.len != n) {
        PyErr_SetString(PyExc_ValueError, "repetition_keys: texts, sites, out and done of different lengths");
        goto finish;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        /* references of our own: the label's match could run code that changes the lists */
        PyObject *text = Py_NewRef(PyList_GET_ITEM(texts, i)), *site = Py_NewRef(PyList_GET_ITEM(sites, i));
        int status = keys_one(text, site, label, (const uint8_t *)key, &b, (uint64_t *)out.buf + 6 * i);
        Py_DECREF(text);
        Py_DECREF(site);
        if (status < 0)
            goto finish;
        ((uint8_t *)done.buf)[i] = (uint8_t)status;
        if (PyList_GET_SIZE(texts) != n || PyList_GET_SIZE(sites) != n) {
            PyErr_SetString(PyExc_RuntimeError, "repetition_keys: the lists changed");
            goto finish;
        }
    }
    result = Py_NewRef(Py_None);
finish:
    PyMem_Free(b.buf);
    PyBuffer_Release(&out);
    PyBuffer_Release(&done);
    return result;
}

/* -- scoring.context_features ------------------------------------------------------------------ */

PyDoc_STRVAR(context_features_doc,
"context_features(p, bounds, out)\n\n"
"scoring.context_features: for the rows of each document (documents are contiguous; `bounds`\n"
"(int64) holds each one's first row and, last, the number of rows), the ten neighbour features of\n"
"the scores `p` (float64) into `out` (float64, rows x 10), summed in NumPy's order.");

static PyObject *
context_features(PyObject *self, PyObject *args)
{
    PyObject *o_p, *o_bounds, *o_out;
    if (!PyArg_ParseTuple(args, "OOO", &o_p, &o_bounds, &o_out))
        return NULL;
    Py_buffer b[3];
    PyObject *objs[3] = {o_p, o_bounds, o_out};
    const char *names[3] = {"p", "bounds", "out"};
    const char *formats[3] = {"d", "lq", "d"};
    int got = 0;
    PyObject *result = NULL;
    for (; got < 3; got++)
        if (get_buffer(objs[got], &b[got], 8, got == 2, names[got], formats[got]) < 0)
            goto done;
    const double *p = b[0].buf;
    const int64_t *bounds = b[1].buf;
    double *out = b[2].buf;
    const Py_ssize_t n = b[0].len / 8, n_bounds = b[1].len / 8;
    if (b[2].len / 8 != n * 10 || n_bounds < 1 || bounds[0] != 0 || bounds[n_bounds - 1] != n) {
        PyErr_SetString(PyExc_ValueError, "context_features: p, bounds and out of inconsistent sizes");
        goto done;
    }
    for (Py_ssize_t d = 0; d + 1 < n_bounds; d++)
        if (bounds[d + 1] <= bounds[d]) {
            PyErr_SetString(PyExc_ValueError, "context_features: bounds not increasing");
            goto done;
        }
    for (Py_ssize_t d = 0; d + 1 < n_bounds; d++) {
        const Py_ssize_t a = bounds[d], m = bounds[d + 1] - bounds[d];
        const double *q = p + a;
        double *o = out + a * 10;
        /* suffix statistics over the segments strictly after each one, accumulated from the end */
        double s_max = 0.0, s_sum = 0.0, s_hi = 0.0;
        for (Py_ssize_t j = m - 1; j >= 0; j--) {
            const double after = (double)(m - 1 - j), div = after > 1.0 ? after : 1.0;
            double *r = o + j * 10;
            r[5] = j == m - 1 ? 0.0 : s_max;
            r[6] = (j == m - 1 ? 0.0 : s_sum) / div;
            r[7] = (j == m - 1 ? 0.0 : s_hi) / div;
            r[9] = after < 10.0 ? after : 10.0;
            /* np.maximum.accumulate and np.cumsum from the last segment */
            s_max = j == m - 1 ? q[j] : (s_max > q[j] || isnan(s_max) ? s_max : q[j]);  /* NumPy's tie: the new one */
            s_sum = j == m - 1 ? q[j] : s_sum + q[j];
            s_hi = j == m - 1 ? (double)(q[j] >= 0.5) : s_hi + (double)(q[j] >= 0.5);
        }
        double p_max = 0.0;
        for (Py_ssize_t j = 0; j < m; j++) {
            double *r = o + j * 10;
            r[0] = q[j];
            r[1] = j >= 1 ? q[j - 1] : 0.0;
            r[2] = j >= 2 ? q[j - 2] : 0.0;
            r[3] = j + 1 < m ? q[j + 1] : 0.0;
            r[4] = j + 2 < m ? q[j + 2] : 0.0;
            r[8] = j == 0 ? 0.0 : p_max;
            p_max = j == 0 ? q[j] : (p_max > q[j] || isnan(p_max) ? p_max : q[j]);
        }
    }
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&b[i]);
    return result;
}

/* -- JSON string literals, for batch files (batch._record_bytes) ------------------------------ */

/* what json's encoder (ensure_ascii=False) writes for an ASCII character: 0 itself, else the
   letter after the backslash ('u' for \u00XX); and how many bytes more than one that takes */
static uint8_t json_escape[128], json_extra[128];

static void
json_escape_init(void)
{
    for (int c = 0; c < 0x20; c++)
        json_escape[c] = 'u';
    json_escape['"'] = '"';
    json_escape['\\'] = '\\';
    json_escape['\b'] = 'b';
    json_escape['\f'] = 'f';
    json_escape['\n'] = 'n';
    json_escape['\r'] = 'r';
    json_escape['\t'] = 't';
    for (int c = 0; c < 128; c++)
        json_extra[c] = json_escape[c] == 0 ? 0 : json_escape[c] == 'u' ? 5 : 1;
}

/* the bytes one character takes in the literal, less one; -1 for a lone surrogate that
   surrogateescape cannot write */
static inline Py_ssize_t
json_extra_of(Py_UCS4 c)
{
    if (c < 0x80)
        return json_extra[c];
    if (c < 0x800)
        return 1;
    if (c < 0xD800 || c > 0xDFFF)
        return c < 0x10000 ? 2 : 3;
    return c >= 0xDC80 && c <= 0xDCFF ? 0 : -1;
}

/* one character of the literal at o (json_extra_of(c) >= 0); the end of what it wrote */
static inline uint8_t *
json_write_one(Py_UCS4 c, uint8_t *o)
{
    static const char hex[] = "0123456789abcdef";
    if (c < 0x80) {
        const uint8_t e = json_escape[c];
        if (e == 0) {
            *o = (uint8_t)c;
            return o + 1;
        }
        if (e == 'u') {
            memcpy(o, "\\u00", 4);
            o[4] = (uint8_t)hex[c >> 4];
            o[5] = (uint8_t)hex[c & 15];
            return o + 6;
        }
        o[0] = '\\';
        o[1] = e;
        return o + 2;
    }
    if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | (c >> 6));
        o[1] = (uint8_t)(0x80 | (c & 0x3F));
        return o + 2;
    }
    if (c >= 0xDC80 && c <= 0xDCFF) {  /* surrogateescape: the byte it stands for */
        *o = (uint8_t)(c - 0xDC00);
        return o + 1;
    }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (c >> 12));
        o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F));
        return o + 3;
    }
    o[0] = (uint8_t)(0xF0 | (c >> 18));
    o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (c & 0x3F));
    return o + 4;
}

/* Most characters are written as themselves, in ASCII: where SSE2 is (every x86-64), a block of
   them is checked at once (16 UCS1 or 8 UCS2 code units: none under 0x20, none over 0x7F, no '"'
   and no '\'), and copied at once; any other block goes character by character. */
#if defined(__SSE2__)
#define JSON_BLOCK1 16
#define JSON_BLOCK2 8
static inline int
json_plain_ucs1(const Py_UCS1 *s)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)s);  /* (signed: bytes over 0x7F are under 0x20) */
    const __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                     _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return _mm_movemask_epi8(bad) == 0;
}

static inline int
json_plain_ucs2(const Py_UCS2 *s)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)s);  /* (signed: units over 0x7FFF are under 0x20) */
    const __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi16(v, _mm_set1_epi16(0x20)),
                                                  _mm_cmpgt_epi16(v, _mm_set1_epi16(0x7F))),
                                     _mm_or_si128(_mm_cmpeq_epi16(v, _mm_set1_epi16('"')),
                                                  _mm_cmpeq_epi16(v, _mm_set1_epi16('\\'))));
    return _mm_movemask_epi8(bad) == 0;
}

static inline void
json_copy_ucs1(const Py_UCS1 *s, uint8_t *o)
{
    _mm_storeu_si128((__m128i *)o, _mm_loadu_si128((const __m128i *)s));
}

static inline void
json_copy_ucs2(const Py_UCS2 *s, uint8_t *o)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)s);
    _mm_storel_epi64((__m128i *)o, _mm_packus_epi16(v, v));
}
#else
#define JSON_BLOCK1 0
#define JSON_BLOCK2 0
static inline int json_plain_ucs1(const Py_UCS1 *s) { return 0; }
static inline int json_plain_ucs2(const Py_UCS2 *s) { return 0; }
static inline void json_copy_ucs1(const Py_UCS1 *s, uint8_t *o) {}
static inline void json_copy_ucs2(const Py_UCS2 *s, uint8_t *o) {}
#endif

/* Per string kind (T: its code unit; BLOCK 0: no blocks): the literal's size without its
   quotes, or -1 (a surrogate surrogateescape cannot write); the literal written at o. */
#define JSON_UTF8_KIND(NAME, T, BLOCK, PLAIN, COPY)                                               \
static Py_ssize_t                                                                                 \
NAME##_size(const T *s, Py_ssize_t n)                                                            \
{                                                                                                 \
    Py_ssize_t size = n, i = 0;                                                                   \
    for (; BLOCK > 0 && i + BLOCK <= n; i += BLOCK)                                               \
        if (!PLAIN(s + i))                                                                        \
            for (Py_ssize_t k = i; k < i + BLOCK; k++) {                                          \
                const Py_ssize_t extra = json_extra_of(s[k]);                                     \
                if (extra < 0)                                                                    \
                    return -1;                                                                    \
                size += extra;                                                                    \
            }                                                                                     \
    for (; i < n; i++) {                                                                          \
        const Py_ssize_t extra = json_extra_of(s[i]);                                             \
        if (extra < 0)                                                                            \
            return -1;                                                                            \
        size += extra;                                                                            \
    }                                                                                             \
    return size;                                                                                  \
}                                                                                                 \
                                                                                                  \
static uint8_t *                                                                                  \
NAME##_write(const T *s, Py_ssize_t n, uint8_t *o)                                               \
{                                                                                                 \
    Py_ssize_t i = 0;                                                                             \
    for (; BLOCK > 0 && i + BLOCK <= n; i += BLOCK) {                                             \
        if (PLAIN(s + i)) {                                                                       \
            COPY(s + i, o);                                                                       \
            o += BLOCK;                                                                           \
        } else {                                                                                  \
            for (Py_ssize_t k = i; k < i + BLOCK; k++)                                            \
                o = json_write_one(s[k], o);                                                      \
        }                                                                                         \
    }                                                                                             \
    for (; i < n; i++)                                                                            \
        o = json_write_one(s[i], o);                                                              \
    return o;                                                                                     \
}

static inline int json_no_blocks(const Py_UCS4 *s) { return 0; }
static inline void json_no_copy(const Py_UCS4 *s, uint8_t *o) {}

JSON_UTF8_KIND(json_ucs1, Py_UCS1, JSON_BLOCK1, json_plain_ucs1, json_copy_ucs1)
JSON_UTF8_KIND(json_ucs2, Py_UCS2, JSON_BLOCK2, json_plain_ucs2, json_copy_ucs2)
JSON_UTF8_KIND(json_ucs4, Py_UCS4, 0, json_no_blocks, json_no_copy)

PyDoc_STRVAR(json_utf8_doc,
"json_utf8(text) -> bytes or None\n\n"
"json.dumps(text, ensure_ascii=False).encode('utf-8', 'surrogateescape'): the JSON string literal\n"
"of a str, quotes included, in UTF-8, lone surrogates U+DC80..U+DCFF written as the bytes they\n"
"stand for. None where that encoding fails (another lone surrogate).");

static PyObject *
json_utf8(PyObject *self, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "json_utf8: text must be str");
        return NULL;
    }
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    if (n > (PY_SSIZE_T_MAX - 2) / 6)  /* 6 bytes a character at most (\u00XX) */
        return PyErr_NoMemory();
    const Py_ssize_t size = kind == PyUnicode_1BYTE_KIND ? json_ucs1_size(data, n)
                          : kind == PyUnicode_2BYTE_KIND ? json_ucs2_size(data, n) : json_ucs4_size(data, n);
    if (size < 0)
        Py_RETURN_NONE;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size + 2);
    if (out == NULL)
        return NULL;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    *o++ = '"';
    o = kind == PyUnicode_1BYTE_KIND ? json_ucs1_write(data, n, o)
      : kind == PyUnicode_2BYTE_KIND ? json_ucs2_write(data, n, o) : json_ucs4_write(data, n, o);
    *o = '"';
    return out;
}

static PyMethodDef methods[] = {
    {"tree_sums", tree_sums, METH_VARARGS, tree_sums_doc},
    {"prepared_trees", prepared_trees, METH_VARARGS, prepared_trees_doc},
    {"tree_sums_prepared", tree_sums_prepared, METH_VARARGS, tree_sums_prepared_doc},
    {"context_features", context_features, METH_VARARGS, context_features_doc},
    {"text_shape", text_shape, METH_VARARGS, text_shape_doc},
    {"mask_tails", mask_tails, METH_VARARGS, mask_tails_doc},
    {"title_runs", title_runs, METH_VARARGS, title_runs_doc},
    {"country_us", country_us, METH_VARARGS, country_us_doc},
    {"link_hints", link_hints, METH_VARARGS, link_hints_doc},
    {"template_of", template_of, METH_O, template_of_doc},
    {"normal_form", normal_form, METH_O, normal_form_doc},
    {"pieces", pieces, METH_VARARGS, pieces_doc},
    {"segments", segments, METH_VARARGS, segments_doc},
    {"hashed_counts", hashed_counts, METH_VARARGS, hashed_counts_doc},
    {"masked_counts", masked_counts, METH_VARARGS, masked_counts_doc},
    {"link_count", link_count, METH_VARARGS, link_count_doc},
    {"link_sub", link_sub, METH_VARARGS, link_sub_doc},
    {"sparse_dot", sparse_dot, METH_VARARGS, sparse_dot_doc},
    {"hash_keys", hash_keys, METH_VARARGS, hash_keys_doc},
    {"segment_rows", segment_rows, METH_VARARGS, segment_rows_doc},
    {"strip_texts", strip_texts, METH_VARARGS, strip_texts_doc},
    {"removal_ranges_many", removal_ranges_many, METH_VARARGS, removal_ranges_many_doc},
    {"repetition_keys", repetition_keys, METH_VARARGS, repetition_keys_doc},
    {"json_utf8", json_utf8, METH_O, json_utf8_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "promofilter._native",
    "promofilter's optional compiled core (see promofilter/_native.c).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    ascii_class_init();
    label_ascii_init();
    ascii_pack_init();
#if QS_QUADS
    qs_have_avx2 = __builtin_cpu_supports("avx2");
#endif
    log1p_table_init();
    json_escape_init();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "NATIVE_VERSION", NATIVE_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
