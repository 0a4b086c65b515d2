#include "runtime/export/model.h"

#include <string.h>

#include "runtime/base/ctx.h"

/* Small things (names, node arrays, attribute copies, small tensors) are
 * carved from chunks; anything larger than a chunk's tenth gets an
 * allocation of its own, listed in the same chain. */
#define ARENA_CHUNK ((size_t)1 << 16)

struct gr_onnx_arena {
    struct gr_onnx_arena *next;
    size_t used, cap; /* bytes of data[] */
    _Alignas(16) unsigned char data[];
};

struct gr_onnx_name {
    const char *name; /* NULL: free slot */
    int state;        /* 1 taken, 2 defined */
    int init;         /* 1 + its index among the initializers; 0: none */
};

void gr_onnx_model_init(struct gr_onnx_model *m, struct gr_ctx *ctx) {
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
}

void gr_onnx_model_free(struct gr_onnx_model *m) {
    for (struct gr_onnx_arena *a = m->arena, *next; a; a = next) {
        next = a->next;
        gr_free(m->ctx, a);
    }
    gr_free(m->ctx, m->names);
    gr_free(m->ctx, m->nodes);
    gr_free(m->ctx, m->inits);
    memset(m, 0, sizeof *m);
}

void *gr_onnx_alloc(struct gr_onnx_model *m, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    struct gr_onnx_arena *a = m->arena;
    if (bytes > ARENA_CHUNK / 10) { /* its own block, kept behind the current chunk */
        struct gr_onnx_arena *big = gr_alloc(m->ctx, sizeof *big + bytes);
        if (!big) return NULL;
        big->used = big->cap = bytes;
        if (a) {
            big->next = a->next;
            a->next = big;
        } else {
            big->next = NULL;
            m->arena = big;
        }
        memset(big->data, 0, bytes);
        return big->data;
    }
    if (!a || a->cap - a->used < bytes) {
        a = gr_alloc(m->ctx, sizeof *a + ARENA_CHUNK);
        if (!a) return NULL;
        a->used = 0;
        a->cap = ARENA_CHUNK;
        a->next = m->arena;
        m->arena = a;
    }
    void *p = a->data + a->used;
    a->used += bytes;
    memset(p, 0, bytes);
    return p;
}

char *gr_onnx_strndup(struct gr_onnx_model *m, const char *s, size_t n) {
    char *d = gr_onnx_alloc(m, n + 1);
    if (d) memcpy(d, s, n);
    return d;
}

/* FNV-1a */
static size_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static struct gr_onnx_name *name_slot(const struct gr_onnx_model *m, const char *name) {
    if (!m->cap_names) return NULL;
    size_t mask = m->cap_names - 1;
    for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask)
        if (!m->names[i].name || strcmp(m->names[i].name, name) == 0) return &m->names[i];
}

static int names_grow(struct gr_onnx_model *m) {
    size_t cap = m->cap_names ? 2 * m->cap_names : 256;
    struct gr_onnx_name *old = m->names, *fresh = gr_calloc(m->ctx, cap, sizeof *fresh);
    if (!fresh) return -1;
    size_t old_cap = m->cap_names;
    m->names = fresh;
    m->cap_names = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].name) *name_slot(m, old[i].name) = old[i];
    gr_free(m->ctx, old);
    return 0;
}

int gr_onnx_name_state(const struct gr_onnx_model *m, const char *name) {
    const struct gr_onnx_name *s = name_slot(m, name);
    return s && s->name ? s->state : 0;
}

const char *gr_onnx_name_take(struct gr_onnx_model *m, const char *name, int defined) {
    if (2 * (m->n_names + 1) > m->cap_names && names_grow(m)) return NULL;
    struct gr_onnx_name *s = name_slot(m, name);
    if (s->name) {
        if (s->state == 2 && defined) return gr_fail(m->ctx, "tensor '%s' is defined twice", name), NULL;
        if (defined) s->state = 2;
        return s->name;
    }
    const char *copy = gr_onnx_strndup(m, name, strlen(name));
    if (!copy) return NULL;
    s->name = copy;
    s->state = defined ? 2 : 1;
    m->n_names++;
    return copy;
}

const char *gr_onnx_name_fresh(struct gr_onnx_model *m, const char *base) {
    if (!gr_onnx_name_state(m, base)) return gr_onnx_name_take(m, base, 0);
    size_t n = strlen(base) + 24;
    char *buf = gr_onnx_alloc(m, n);
    if (!buf) return NULL;
    for (long k = 2;; k++) {
        snprintf(buf, n, "%s_%ld", base, k);
        if (!gr_onnx_name_state(m, buf)) return gr_onnx_name_take(m, buf, 0);
    }
}

/* Grow an array of `size`-byte items to hold one more. */
static int grow(struct gr_ctx *ctx, void **items, int n, int *cap, size_t size) {
    if (n < *cap) return 0;
    int c = *cap ? 2 * *cap : 64;
    void *p = gr_alloc(ctx, (size_t)c * size);
    if (!p) return -1;
    if (*items) memcpy(p, *items, (size_t)n * size);
    gr_free(ctx, *items);
    *items = p;
    *cap = c;
    return 0;
}

static const char **copy_names(struct gr_onnx_model *m, int n, const char *const *names) {
    const char **d = gr_onnx_alloc(m, (size_t)(n ? n : 1) * sizeof *d);
    for (int i = 0; d && i < n; i++)
        if (!(d[i] = gr_onnx_strndup(m, names[i], strlen(names[i])))) return NULL;
    return d;
}

static int copy_attr(struct gr_onnx_model *m, struct gr_onnx_attr *d, const struct gr_onnx_attr *a) {
    *d = *a;
    d->name = gr_onnx_strndup(m, a->name, strlen(a->name));
    if (!d->name) return -1;
    if (a->type == GR_ONNX_ATTR_STRING && !(d->s = gr_onnx_strndup(m, a->s, strlen(a->s)))) return -1;
    int64_t count = 1;
    if (a->type == GR_ONNX_ATTR_TENSOR)
        for (int k = 0; k < a->n; k++) count *= a->ints[k];
    else count = a->n;
    if (a->type == GR_ONNX_ATTR_INTS || a->type == GR_ONNX_ATTR_TENSOR) {
        int64_t *v = gr_onnx_alloc(m, (size_t)(a->n ? a->n : 1) * sizeof *v);
        if (!v) return -1;
        if (a->n) memcpy(v, a->ints, (size_t)a->n * sizeof *v);
        d->ints = v;
    }
    if (a->type == GR_ONNX_ATTR_FLOATS || a->type == GR_ONNX_ATTR_TENSOR) {
        float *v = gr_onnx_alloc(m, (size_t)(count ? count : 1) * sizeof *v);
        if (!v) return -1;
        if (count) memcpy(v, a->floats, (size_t)count * sizeof *v);
        d->floats = v;
    }
    return 0;
}

/* A lowering's node is checked here, so that a mistake in one names the
 * tensor rather than failing later in an ONNX runtime. */
static int check_node(struct gr_onnx_model *m, const char *op_type, int n_in, const char *const *in, int n_out,
                      const char *const *out, int n_attrs, const struct gr_onnx_attr *attrs) {
    if (!op_type || !*op_type) return gr_fail(m->ctx, "a node without an op_type");
    if (n_in < 0 || n_out < 1 || n_attrs < 0 || (n_in && !in) || !out || (n_attrs && !attrs))
        return gr_fail(m->ctx, "%s: inputs, outputs or attributes missing", op_type);
    for (int i = 0; i < n_in; i++)
        if (!in[i] || (*in[i] && gr_onnx_name_state(m, in[i]) != 2))
            return gr_fail(m->ctx, "%s: input '%s' is not a tensor of the model yet", op_type, in[i] ? in[i] : "(null)");
    for (int i = 0; i < n_out; i++)
        if (!out[i] || !*out[i] || gr_onnx_name_state(m, out[i]) == 2)
            return gr_fail(m->ctx, "%s: output '%s' is already a tensor of the model", op_type, out[i] ? out[i] : "(null)");
    for (int i = 0; i < n_attrs; i++) {
        const struct gr_onnx_attr *a = &attrs[i];
        int ok;
        switch (a->type) {
        case GR_ONNX_ATTR_INT:
        case GR_ONNX_ATTR_FLOAT: ok = 1; break;
        case GR_ONNX_ATTR_STRING: ok = a->s != NULL; break;
        case GR_ONNX_ATTR_INTS: ok = a->n >= 0 && (!a->n || a->ints); break;
        case GR_ONNX_ATTR_FLOATS: ok = a->n >= 0 && (!a->n || a->floats); break;
        case GR_ONNX_ATTR_TENSOR: ok = a->n >= 0 && a->n <= GR_MAX_DIMS && (!a->n || a->ints) && a->floats; break;
        default: ok = 0;
        }
        int64_t count = 1; /* a tensor's values: a constant, not a parameter block */
        for (int k = 0; ok && a->type == GR_ONNX_ATTR_TENSOR && k < a->n; k++)
            ok = !gr_size_mul(count, a->ints[k], &count) && count <= (1 << 28);
        if (!ok || !a->name || !*a->name)
            return gr_fail(m->ctx, "%s: attribute %d ('%s') is incomplete", op_type, i, a->name ? a->name : "(null)");
    }
    return 0;
}

int gr_onnx_add_node(struct gr_onnx_model *m, const char *name, const char *op_type, int n_in, const char *const *in,
                     int n_out, const char *const *out, int n_attrs, const struct gr_onnx_attr *attrs) {
    if (check_node(m, op_type, n_in, in, n_out, out, n_attrs, attrs)) return -1;
    if (grow(m->ctx, (void **)&m->nodes, m->n_nodes, &m->cap_nodes, sizeof *m->nodes)) return -1;
    struct gr_onnx_node *nd = &m->nodes[m->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->n_in = n_in;
    nd->n_out = n_out;
    nd->n_attrs = n_attrs;
    nd->name = gr_onnx_strndup(m, name, strlen(name));
    nd->op_type = gr_onnx_strndup(m, op_type, strlen(op_type));
    nd->in = copy_names(m, n_in, in);
    nd->out = copy_names(m, n_out, out);
    nd->attrs = gr_onnx_alloc(m, (size_t)(n_attrs ? n_attrs : 1) * sizeof *nd->attrs);
    if (!nd->name || !nd->op_type || !nd->in || !nd->out || !nd->attrs) return -1;
    for (int i = 0; i < n_attrs; i++)
        if (copy_attr(m, &nd->attrs[i], &attrs[i])) return -1;
    for (int i = 0; i < n_out; i++)
        if (!gr_onnx_name_take(m, out[i], 1)) return -1;
    m->n_nodes++;
    return 0;
}

int gr_onnx_add_init(struct gr_onnx_model *m, const char *name, enum gr_onnx_type type, int rank, const int64_t *dims,
                     const void *data) {
    if (rank < 0 || rank > GR_MAX_DIMS) return gr_fail(m->ctx, "initializer '%s': rank %d is over %d", name, rank, GR_MAX_DIMS);
    if (grow(m->ctx, (void **)&m->inits, m->n_inits, &m->cap_inits, sizeof *m->inits)) return -1;
    struct gr_onnx_init *t = &m->inits[m->n_inits];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->rank = rank;
    t->count = 1;
    for (int k = 0; k < rank; k++) {
        t->dims[k] = dims[k];
        t->count *= dims[k];
    }
    t->data = data;
    if (!(t->name = gr_onnx_name_take(m, name, 1))) return -1;
    name_slot(m, t->name)->init = ++m->n_inits;
    return 0;
}

static struct gr_onnx_init *find_init(struct gr_onnx_model *m, const char *name) {
    const struct gr_onnx_name *s = name_slot(m, name);
    return s && s->name && s->init ? &m->inits[s->init - 1] : NULL;
}

void gr_onnx_mark_used(struct gr_onnx_model *m) {
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) {
            struct gr_onnx_init *t = *m->nodes[i].in[k] ? find_init(m, m->nodes[i].in[k]) : NULL;
            if (t) t->used = 1;
        }
    for (int i = 0; i < m->n_outputs; i++) {
        struct gr_onnx_init *t = find_init(m, m->outputs[i].name);
        if (t) t->used = 1;
    }
}
