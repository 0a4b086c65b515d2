/* What the parts of the expander share (models/expand.c: lists and nodes;
 * models/blocks.c: blocks and their uses; models/names.c: names and the
 * explicit list). Not for use outside models/. */
#ifndef GR_MODELS_EXPAND_INT_H
#define GR_MODELS_EXPAND_INT_H

#include "graphrun/plugin.h"
#include "models/expand.h"

#define XP_MAX_DEPTH 32      /* blocks inside blocks */
#define XP_MAX_REPEAT 10000

/* An input: a node of the expansion, a name as written, or nothing. */
struct xref {
    int node;                  /* index into xp.x, or -1 */
    const char *name;          /* node < 0: the name as written; NULL: nothing */
    const struct xscope *scope; /* a written name is looked up among this instance's nodes first */
    const struct gr_ynode *at; /* where it was written (or the node that takes it) */
    int implicit;              /* the node before, taken for want of `inputs` */
};

/* How a node got its name. */
enum xname { XN_NONE, XN_WRITTEN, XN_BLOCK, XN_OUTPUT, XN_ACTIVATION, XN_GENERATED };

/* One block under `blocks:`. */
struct xblock {
    const char *name;
    const struct gr_ynode *key, *graph;
    int n_params;
    const char **param;                /* names */
    const struct gr_ynode **param_at;  /* where each is declared */
    const struct gr_ynode **def;       /* its default, or NULL: required */
    int n_uses;                        /* uses without a name so far */
    int active;                        /* being expanded (a use inside it is a cycle) */
};

/* One instance of a block: what its nodes' names and inputs mean. */
struct xscope {
    const struct xblock *block;
    const struct gr_ynode *use; /* the use node */
    const char *prefix;         /* of its named nodes' names */
    const char *where;          /* "in block 'b' used at FILE:L:C", for its nodes' origins */
    struct xref input;          /* what feeds it */
    const struct gr_ynode **args; /* the parameters' values, indexed like the block's params */
    const struct xscope *up;
    int n_local, cap_local;     /* its named nodes: name as written -> node */
    const char **local;
    int *local_node;
};

/* One node of the expanded graph, in order. */
struct xnode {
    struct gr_ynode *map;         /* as written, or its copy out of a block; for an activation node, the layer's */
    struct gr_ynode *op;          /* the op's value, NULL if absent */
    const struct gr_op_desc *desc;/* the op, when it is registered */
    const char *name;             /* NULL until named */
    enum xname how;
    const struct gr_ynode *name_at;
    int layer;                    /* an activation node: its layer; else -1 */
    struct gr_ynode *act;         /* a layer: its `activation`; an activation node: the same */
    int n_in;                     /* -1: `inputs` as written (or none); else `in` is rebuilt */
    struct xref *in;
    struct xref prev;             /* the node before it */
    int takes_prev;               /* no `inputs`, and the op takes some */
    const char *what;             /* "graph[3]", "blocks.b.graph[0]": for messages */
    const struct xscope *scope;   /* the instance it belongs to; NULL: the top */
};

struct xp {
    struct gr_ctx *ctx;
    const char *file;
    struct gr_ydoc *doc;      /* what the expansion keeps: nodes, names, origins */
    struct gr_ydoc scratch;   /* what it needs only while it runs */
    struct xnode *x;
    int n, cap;
    struct xblock *blocks;
    int n_blocks;
    int depth;                /* instances being expanded, one inside the other */
    struct xtable *names;     /* names.c: every node's name -> the first node that has it */
};

/* expand.c */
/* Expand the items of `list` (written as `what`) in instance `s` (NULL: the
 * graph itself), `prev` being the node before the first; leaves the last. */
int xp_list(struct xp *p, const struct gr_ynode *list, const char *what, struct xscope *s, struct xref *prev);
/* Text in the expansion's memory. */
const char *xp_fmt(struct xp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where a node is, for a message: its origin, or FILE:LINE:COL. */
const char *xp_where(struct xp *p, const struct gr_ynode *n);
/* A node name the builder takes: 1-63 letters, digits, '_', '-', not a digit or '-' first. */
int xp_valid_name(const char *s);
/* A new YAML node of the expansion where `like` is (NULL: nowhere). */
struct gr_ynode *xp_node(struct xp *p, enum gr_ykind kind, const struct gr_ynode *like);
/* Zeroed memory for the expansion's run. */
void *xp_scratch(struct xp *p, size_t bytes);
/* `$input` or `${input}`: the block's input node, as an item of `inputs`. */
int xp_is_input_ref(const char *s);
/* blocks.c: the declarations */
int xp_read_blocks(struct xp *p, const struct gr_ynode *blocks);
/* Name `name` (as written in the block) means node `node` in instance s. */
int xp_add_local(struct xp *p, struct xscope *s, const char *name, int node);
/* instance.c: the uses */
/* Expand the use `map` (an item of a list in instance `s`, taking `prev`). */
int xp_use(struct xp *p, struct gr_ynode *map, const char *what, struct xscope *s, struct xref *prev);
/* Block b's parameter `name` (len bytes), or -1. */
int xp_param_index(const struct xblock *b, const char *name, size_t len);
/* " (did you mean 'SIGILx'?)", or the parameters b takes. */
const char *xp_param_hint(struct xp *p, const struct xblock *b, const char *name, const char *sigil);
/* names.c */
/* Resolve the names written inside blocks, then name every node. */
int xp_name(struct xp *p);
/* Check what only the expansion can and write the explicit list into out. */
int xp_emit(struct xp *p, const struct gr_ynode *graph, struct gr_expansion *out);

#endif
