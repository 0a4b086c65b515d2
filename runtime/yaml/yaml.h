/* A YAML document as a small tree whose every node remembers where it was
 * written, so any later error can say FILE:LINE:COL. Built from libyaml's
 * event stream; aliases and merge keys (<<: *a, <<: [*a, *b]) are expanded
 * by copying, under a bound on the total node count and the nesting depth,
 * copies included (a "billion laughs" file fails fast). */
#ifndef GR_YAML_H
#define GR_YAML_H

#include <stddef.h>

struct gr_ctx;

enum gr_ykind { GR_Y_SCALAR, GR_Y_SEQ, GR_Y_MAP };

struct gr_ynode {
    enum gr_ykind kind;
    int line, col;  /* 1-based */
    const char *str; /* scalar text */
    int quoted;      /* scalar was quoted: always a string */
    int n;           /* seq: items; map: pairs */
    struct gr_ynode **items; /* seq: n items; map: 2n (key, value, key, value...) */
    const char *origin; /* NULL: the document; else where the node came from
                           instead (e.g. "--set train.optimizer.lr=0.1") */
    const struct gr_yremoved *removed; /* keys (a list: named items) an override removed, latest first */
    const struct gr_yremoved *replaced; /* scalar values of keys an override replaced (value: the old one) */
};

/* A key an override removed from a map, and the override ("--unset PATH"). */
struct gr_yremoved {
    const struct gr_yremoved *next;
    const char *key, *origin;
    const char *value; /* the removed value's text, where it was a scalar (a node's name), else NULL */
};

struct gr_ydoc {
    struct gr_ctx *ctx;
    const char *file;  /* name used in messages */
    struct gr_ynode *root; /* NULL for an empty document */
    /* everything lives in a chain of blocks freed together */
    struct gr_yblock *blocks;
    size_t n_nodes;
};

#define GR_YAML_MAX_NODES 100000
#define GR_YAML_MAX_DEPTH 64
#define GR_YAML_MAX_FILE (16u << 20) /* a config is small; refuse what cannot be one */


/* An error at a YAML node's position: "FILE:LINE:COL: message", or "--set PATH=VALUE: message"
 * for a node an override made (its origin). */
int gr_fail_node(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error about `key`, missing from `map`: named by the override that
 * removed it ("--unset PATH: message"), else as gr_fail_node at the map. */
int gr_fail_missing(struct gr_ctx *ctx, const char *file, const struct gr_ynode *map, const char *key, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

/* Parse `len` bytes. On error returns -1 with "FILE:LINE:COL: ..." in ctx->err. */
int gr_yaml_parse(struct gr_ctx *ctx, struct gr_ydoc *doc, const char *file, const char *text,
                  size_t len);
/* Read and parse a file. */
int gr_yaml_load(struct gr_ctx *ctx, struct gr_ydoc *doc, const char *path);
void gr_yaml_free(struct gr_ydoc *doc);
/* Memory from the document's blocks, freed with it. */
void *gr_ydoc_alloc(struct gr_ydoc *doc, size_t bytes);

/* Map lookup; NULL if absent. */
struct gr_ynode *gr_ymap_get(const struct gr_ynode *map, const char *key);
static inline struct gr_ynode *gr_ymap_key(const struct gr_ynode *map, int i) { return map->items[2 * i]; }
static inline struct gr_ynode *gr_ymap_val(const struct gr_ynode *map, int i) { return map->items[2 * i + 1]; }

const char *gr_ykind_name(enum gr_ykind k);

/* The length in bytes of the character at `s` if it is well-formed UTF-8
 * that a YAML stream may hold (tab, line breaks, printable characters), else
 * 0; its code point in *cp. */
int gr_yaml_char(const char *s, unsigned long *cp);
/* Whether all of `s` is such characters: text YAML can hold. */
int gr_yaml_text_ok(const char *s);

/* Nodes in the tree under `n` (itself included), counted until more than
 * `limit`. */
size_t gr_ynode_count(const struct gr_ynode *n, size_t limit);

/* `n` if an override wrote it (its origin is set), else the first node inside
 * it an override wrote, else NULL. */
const struct gr_ynode *gr_ynode_edited(const struct gr_ynode *n);

/* Editing a document (for --set): nodes come from the document's memory. */
struct gr_ynode *gr_ydoc_node(struct gr_ydoc *doc, enum gr_ykind kind, const char *origin);
/* A deep copy of `src` (from any document) into `doc`, every node marked
 * with `origin`. Not counted against the parse's node budget: the copy is
 * as large as a tree that was (see gr_ynode_count for edited trees). */
struct gr_ynode *gr_ydoc_copy(struct gr_ydoc *doc, const struct gr_ynode *src, const char *origin);
/* A new scalar holding a copy of `s`. */
struct gr_ynode *gr_ydoc_scalar(struct gr_ydoc *doc, const char *s, const char *origin);
/* Set map[key] = value, adding the key if absent. */
int gr_ymap_set(struct gr_ydoc *doc, struct gr_ynode *map, const char *key, struct gr_ynode *value,
                const char *origin);
/* Remove map[key] (nothing if absent); remove item i of a sequence. */
void gr_ymap_remove(struct gr_ynode *map, const char *key);
/* Remove map[key] for the override `origin`, remembered on the map (if the
 * key was there) so that an error about its absence names the override. */
int gr_ymap_unset(struct gr_ydoc *doc, struct gr_ynode *map, const char *key, const char *origin);
/* Remove item i of a sequence for the override `origin`, remembered by the
 * item's name, if it has one (a scalar item by its text), as gr_ymap_unset
 * remembers a key. */
int gr_yseq_unset(struct gr_ydoc *doc, struct gr_ynode *seq, int i, const char *origin);
/* The override that removed `key` from `map` (a named item from a list), or NULL. */
const char *gr_ymap_removed_by(const struct gr_ynode *map, const char *key);
/* The override that removed `key` from `map`, or replaced its value, where
 * that value was the scalar `value` (a node's old name), or NULL. */
const char *gr_ymap_removed_as(const struct gr_ynode *map, const char *key, const char *value);
void gr_yseq_remove(struct gr_ynode *seq, int i);
/* A plain ~ or null: YAML's null, which an override uses to remove a key. */
int gr_ynode_is_null(const struct gr_ynode *n);
/* Write a tree as YAML text (block style for the first two levels of
 * nesting, flow style below); *out from malloc, to free(). */
int gr_yaml_emit(struct gr_ctx *ctx, const struct gr_ynode *root, char **out, size_t *len);

#endif
