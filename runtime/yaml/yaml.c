#include "runtime/yaml/yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"

int gr_fail_node(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, const char *fmt, ...) {
    char msg[GR_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n && n->origin) return gr_fail(ctx, "%s: %s", n->origin, msg);
    return gr_fail_at(ctx, file, n ? n->line : 0, n ? n->col : 0, "%s", msg);
}

int gr_fail_missing(struct gr_ctx *ctx, const char *file, const struct gr_ynode *map, const char *key, const char *fmt,
                    ...) {
    char msg[GR_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *by = map ? gr_ymap_removed_by(map, key) : NULL;
    if (by) return gr_fail(ctx, "%s: %s", by, msg);
    return gr_fail_node(ctx, file, map, "%s", msg);
}

/* Nodes and strings of one document come from a chain of blocks. */
struct gr_yblock {
    struct gr_yblock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *gr_ydoc_alloc(struct gr_ydoc *doc, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    struct gr_yblock *b = doc->blocks;
    if (!b || b->cap - b->used < bytes) {
        size_t cap = bytes > 65536 ? bytes : 65536;
        b = gr_alloc(doc->ctx, sizeof *b + cap);
        if (!b) return NULL;
        b->next = doc->blocks;
        b->used = 0;
        b->cap = cap;
        doc->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += bytes;
    return p;
}

void gr_yaml_free(struct gr_ydoc *doc) {
    struct gr_yblock *b = doc->blocks;
    while (b) {
        struct gr_yblock *next = b->next;
        gr_free(doc->ctx, b);
        b = next;
    }
    doc->blocks = NULL;
    doc->root = NULL;
}

/* ---- building the tree from events --------------------------------------- */

struct anchor {
    const char *name;
    struct gr_ynode *node;
};

struct builder {
    struct gr_ctx *ctx;
    struct gr_ydoc *doc;
    yaml_parser_t parser;
    struct anchor *anchors;
    int n_anchors, cap_anchors;
    const char *text; /* what the parser reads, for the place of a reader's error */
    size_t len;
};

static int fail_mark(struct builder *b, yaml_mark_t m, const char *fmt, const char *arg) {
    char msg[GR_ERRBUF];
    snprintf(msg, sizeof msg, fmt, arg);
    return gr_fail_at(b->ctx, b->doc->file, (int)m.line + 1, (int)m.column + 1, "%s", msg);
}

static int parser_error(struct builder *b) {
    const yaml_parser_t *p = &b->parser;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR) return gr_fail(b->ctx, "%s: out of memory parsing YAML", b->doc->file);
    if (p->error == YAML_READER_ERROR) {
        /* the reader (a byte that is not UTF-8, a control character) gives
         * the byte's offset, not a mark: its line, and its column counted
         * in characters as marks count them */
        int line = 1, col = 1;
        const unsigned char *t = (const unsigned char *)b->text;
        for (size_t i = 0; i < p->problem_offset && i < b->len; i++) {
            /* YAML's line breaks: LF, CR, CR LF (one), and U+0085, U+2028, U+2029 */
            int wide = t[i] == 0xe2 && i + 2 < b->len && t[i + 1] == 0x80 && (t[i + 2] == 0xa8 || t[i + 2] == 0xa9) ? 2
                       : t[i] == 0xc2 && i + 1 < b->len && t[i + 1] == 0x85                                       ? 1
                                                                                                                 : 0;
            if (t[i] == '\n' || (t[i] == '\r' && (i + 1 >= b->len || t[i + 1] != '\n')) || wide) {
                line++, col = 1;
                i += (size_t)wide;
            } else if ((t[i] & 0xc0) != 0x80 && t[i] != '\r') {
                col++;
            }
        }
        /* the byte or character, where the reader gives one (-1: a sequence cut short) */
        if (p->problem_value >= 0)
            return gr_fail_at(b->ctx, b->doc->file, line, col, "YAML syntax error: %s (0x%02x)", problem,
                              (unsigned)p->problem_value);
        return gr_fail_at(b->ctx, b->doc->file, line, col, "YAML syntax error: %s", problem);
    }
    if (p->context)
        return gr_fail_at(b->ctx, b->doc->file, (int)p->problem_mark.line + 1,
                          (int)p->problem_mark.column + 1, "YAML syntax error: %s %s", problem,
                          p->context);
    return gr_fail_at(b->ctx, b->doc->file, (int)p->problem_mark.line + 1,
                      (int)p->problem_mark.column + 1, "YAML syntax error: %s", problem);
}

static struct gr_ynode *new_node(struct builder *b, enum gr_ykind kind, yaml_mark_t m) {
    if (b->doc->n_nodes >= GR_YAML_MAX_NODES) {
        fail_mark(b, m, "document too large: more than %s YAML nodes (after expanding aliases)",
                  "100000");
        return NULL;
    }
    struct gr_ynode *n = gr_ydoc_alloc(b->doc, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = (int)m.line + 1;
    n->col = (int)m.column + 1;
    b->doc->n_nodes++;
    return n;
}

static char *ystrdup(struct builder *b, const char *s, size_t len) {
    char *d = gr_ydoc_alloc(b->doc, len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

/* An alias is expanded by copying, so the tree stays a tree; the node budget
 * bounds the copies, and the depth limit holds for them as for the text
 * (`depth` is where the copy goes). */
static struct gr_ynode *copy_node(struct builder *b, const struct gr_ynode *src, yaml_mark_t m, int depth) {
    if (src->kind != GR_Y_SCALAR && depth > GR_YAML_MAX_DEPTH) {
        fail_mark(b, m, "nesting deeper than %s levels (after expanding aliases)", "64");
        return NULL;
    }
    struct gr_ynode *n = new_node(b, src->kind, m);
    if (!n) return NULL;
    n->line = src->line;
    n->col = src->col;
    n->str = src->str;
    n->quoted = src->quoted;
    n->n = src->n;
    if (src->kind != GR_Y_SCALAR) {
        size_t count = (size_t)src->n * (src->kind == GR_Y_MAP ? 2u : 1u);
        n->items = gr_ydoc_alloc(b->doc, (count ? count : 1) * sizeof *n->items);
        if (!n->items) return NULL;
        for (size_t i = 0; i < count; i++) {
            n->items[i] = copy_node(b, src->items[i], m, depth + 1);
            if (!n->items[i]) return NULL;
        }
    }
    return n;
}

static int add_anchor(struct builder *b, const char *name, struct gr_ynode *node) {
    if (b->n_anchors == b->cap_anchors) {
        int cap = b->cap_anchors ? 2 * b->cap_anchors : 16;
        struct anchor *a = gr_alloc(b->ctx, (size_t)cap * sizeof *a);
        if (!a) return -1;
        if (b->anchors) memcpy(a, b->anchors, (size_t)b->n_anchors * sizeof *a);
        gr_free(b->ctx, b->anchors);
        b->anchors = a;
        b->cap_anchors = cap;
    }
    /* a later anchor of the same name shadows an earlier one, as in YAML */
    b->anchors[b->n_anchors].name = ystrdup(b, name, strlen(name));
    if (!b->anchors[b->n_anchors].name) return -1;
    b->anchors[b->n_anchors].node = node;
    b->n_anchors++;
    return 0;
}

static struct gr_ynode *find_anchor(struct builder *b, const char *name) {
    for (int i = b->n_anchors - 1; i >= 0; i--)
        if (strcmp(b->anchors[i].name, name) == 0) return b->anchors[i].node;
    return NULL;
}

/* Growable child list used while a collection is open. */
struct kids {
    struct gr_ynode **v;
    size_t n, cap;
};

static int kids_push(struct builder *b, struct kids *k, struct gr_ynode *n) {
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 8;
        struct gr_ynode **v = gr_ydoc_alloc(b->doc, cap * sizeof *v);
        if (!v) return -1;
        if (k->v) memcpy(v, k->v, k->n * sizeof *v);
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n++] = n;
    return 0;
}

/* The keys of a mapping being collected: a scan while it is small, a hash
 * table (from the document's memory) once it is not, so a mapping with tens
 * of thousands of keys is checked for duplicates in linear time. */
struct keyset {
    const struct gr_ynode **slot;
    size_t cap;
};

static size_t key_hash(const char *s) {
    size_t h = 14695981039346656037u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static const struct gr_ynode **keyset_slot(const struct keyset *ks, const char *str) {
    size_t i = key_hash(str) & (ks->cap - 1);
    while (ks->slot[i] && strcmp(ks->slot[i]->str, str) != 0) i = (i + 1) & (ks->cap - 1);
    return &ks->slot[i];
}

/* The key node named `str` among the keys of `k`, or NULL. */
static const struct gr_ynode *find_key(const struct keyset *ks, const struct kids *k, const char *str) {
    if (ks->slot) return *keyset_slot(ks, str);
    for (size_t i = 0; i < k->n; i += 2)
        if (strcmp(k->v[i]->str, str) == 0) return k->v[i];
    return NULL;
}

/* Record that the last key pushed onto `k` is there (the table kept at most
 * half full). */
static int keyset_add(struct builder *b, struct keyset *ks, const struct kids *k) {
    size_t keys = (k->n + 1) / 2;
    if (keys <= 32) return 0;
    if (2 * keys > ks->cap) {
        size_t cap = 128;
        while (cap < 4 * keys) cap *= 2;
        const struct gr_ynode **slot = gr_ydoc_alloc(b->doc, cap * sizeof *slot);
        if (!slot) return -1;
        memset(slot, 0, cap * sizeof *slot);
        *ks = (struct keyset){slot, cap};
        for (size_t i = 0; i + 2 < k->n; i += 2) *keyset_slot(ks, k->v[i]->str) = k->v[i];
    }
    const struct gr_ynode *key = k->v[k->n % 2 ? k->n - 1 : k->n - 2];
    *keyset_slot(ks, key->str) = key;
    return 0;
}

static int next_event(struct builder *b, yaml_event_t *ev) {
    if (!yaml_parser_parse(&b->parser, ev)) return parser_error(b);
    return 0;
}

/* Parse the node that starts with `ev` (already read; deleted here). */
static struct gr_ynode *parse_node(struct builder *b, yaml_event_t *ev, int depth);

static int check_tag(struct builder *b, const yaml_char_t *tag, yaml_mark_t m, int *quoted) {
    if (!tag) return 0;
    if (strcmp((const char *)tag, YAML_STR_TAG) == 0) {
        *quoted = 1;
        return 0;
    }
    if (strcmp((const char *)tag, YAML_MAP_TAG) == 0 || strcmp((const char *)tag, YAML_SEQ_TAG) == 0)
        return 0;
    return fail_mark(b, m, "YAML tag '%s' is not supported", (const char *)tag);
}

/* The pairs of mapping `src` whose keys `k` (a mapping's children being
 * collected) does not hold yet, appended to it. */
static int merge_pairs(struct builder *b, struct keyset *ks, struct kids *k, const struct gr_ynode *src) {
    for (int j = 0; j < src->n; j++) {
        if (find_key(ks, k, gr_ymap_key(src, j)->str)) continue;
        if (kids_push(b, k, gr_ymap_key(src, j)) || keyset_add(b, ks, k) || kids_push(b, k, gr_ymap_val(src, j)))
            return -1;
    }
    return 0;
}

/* A merge key's value (YAML 1.1 "<<"): a mapping, or a list of mappings
 * whose earlier entries win; keys the mapping gives itself win over all. */
static int merge(struct builder *b, struct keyset *ks, struct kids *k, const struct gr_ynode *v) {
    static const char what[] = "merge key '<<': expected a mapping or a list of mappings (e.g. <<: *defaults), got %s";
    if (v->kind == GR_Y_MAP) return merge_pairs(b, ks, k, v);
    if (v->kind == GR_Y_SCALAR) return gr_fail_node(b->ctx, b->doc->file, v, what, "a scalar");
    for (int i = 0; i < v->n; i++) {
        const struct gr_ynode *item = v->items[i];
        if (item->kind != GR_Y_MAP)
            return gr_fail_node(b->ctx, b->doc->file, item, what,
                                item->kind == GR_Y_SEQ ? "a list in the list" : "a scalar in the list");
        if (merge_pairs(b, ks, k, item)) return -1;
    }
    return 0;
}

static struct gr_ynode *parse_collection(struct builder *b, yaml_event_t *start, int depth) {
    int is_map = start->type == YAML_MAPPING_START_EVENT;
    yaml_mark_t m = start->start_mark;
    const yaml_char_t *anchor = is_map ? start->data.mapping_start.anchor : start->data.sequence_start.anchor;
    const yaml_char_t *tag = is_map ? start->data.mapping_start.tag : start->data.sequence_start.tag;
    int dummy = 0;
    if (depth > GR_YAML_MAX_DEPTH) {
        fail_mark(b, m, "nesting deeper than %s levels", "64");
        yaml_event_delete(start);
        return NULL;
    }
    if (check_tag(b, tag, m, &dummy)) {
        yaml_event_delete(start);
        return NULL;
    }
    struct gr_ynode *node = new_node(b, is_map ? GR_Y_MAP : GR_Y_SEQ, m);
    char *anchor_name = NULL;
    if (node && anchor) anchor_name = ystrdup(b, (const char *)anchor, strlen((const char *)anchor));
    yaml_event_delete(start);
    if (!node || (anchor && !anchor_name)) return NULL;

    struct kids k = {0}, merges = {0};
    struct keyset ks = {0};
    const struct gr_ynode *merge_key = NULL; /* a '<<' whose value comes next */
    for (;;) {
        yaml_event_t ev;
        if (next_event(b, &ev)) return NULL;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        int is_key = is_map && !merge_key && (k.n % 2 == 0);
        if (is_key && ev.type != YAML_SCALAR_EVENT) {
            fail_mark(b, ev.start_mark, "mapping keys must be plain names%s", "");
            yaml_event_delete(&ev);
            return NULL;
        }
        struct gr_ynode *child = parse_node(b, &ev, depth + 1);
        if (!child) return NULL;
        if (merge_key) {
            merge_key = NULL;
            if (kids_push(b, &merges, child)) return NULL;
            continue;
        }
        if (is_key && !child->quoted && strcmp(child->str, "<<") == 0) {
            if (merges.n) {
                gr_fail_node(b->ctx, b->doc->file, child,
                             "duplicate merge key '<<' (list the mappings instead: <<: [*a, *b])");
                return NULL;
            }
            merge_key = child;
            continue;
        }
        const struct gr_ynode *first = is_key ? find_key(&ks, &k, child->str) : NULL;
        if (first) {
            gr_fail_node(b->ctx, b->doc->file, child, "duplicate key '%s' (first given at line %d)", child->str,
                         first->line);
            return NULL;
        }
        if (kids_push(b, &k, child) || (is_key && keyset_add(b, &ks, &k))) return NULL;
    }
    for (size_t i = 0; i < merges.n; i++)
        if (merge(b, &ks, &k, merges.v[i])) return NULL;
    node->items = k.v;
    node->n = (int)(is_map ? k.n / 2 : k.n);
    if (anchor_name && add_anchor(b, anchor_name, node)) return NULL;
    return node;
}

static struct gr_ynode *parse_node(struct builder *b, yaml_event_t *ev, int depth) {
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        int quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        if (check_tag(b, ev->data.scalar.tag, ev->start_mark, &quoted)) {
            yaml_event_delete(ev);
            return NULL;
        }
        struct gr_ynode *n = new_node(b, GR_Y_SCALAR, ev->start_mark);
        if (n) {
            n->quoted = quoted;
            n->str = ystrdup(b, (const char *)ev->data.scalar.value, ev->data.scalar.length);
            if (!n->str) n = NULL;
            else if (strlen(n->str) != ev->data.scalar.length) {
                fail_mark(b, ev->start_mark, "a NUL character inside a value%s", "");
                n = NULL;
            }
        }
        const yaml_char_t *anchor = ev->data.scalar.anchor;
        if (n && anchor && add_anchor(b, (const char *)anchor, n)) n = NULL;
        yaml_event_delete(ev);
        return n;
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        struct gr_ynode *target = find_anchor(b, name);
        struct gr_ynode *n = NULL;
        if (!target)
            fail_mark(b, ev->start_mark, "alias '*%s' names no anchor defined before it", name);
        else
            n = copy_node(b, target, ev->start_mark, depth);
        yaml_event_delete(ev);
        return n;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return parse_collection(b, ev, depth);
    default:
        fail_mark(b, ev->start_mark, "unexpected YAML structure%s", "");
        yaml_event_delete(ev);
        return NULL;
    }
}

int gr_yaml_parse(struct gr_ctx *ctx, struct gr_ydoc *doc, const char *file, const char *text,
                  size_t len) {
    memset(doc, 0, sizeof *doc);
    doc->ctx = ctx;
    doc->file = file;
    /* The text is handed over as UTF-8, so libyaml does not look for a
     * byte-order mark itself: skip UTF-8's, refuse the others' encodings. */
    const unsigned char *u = (const unsigned char *)text;
    if (len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) {
        text += 3;
        len -= 3;
    } else if (len >= 2 && ((u[0] == 0xfe && u[1] == 0xff) || (u[0] == 0xff && u[1] == 0xfe) ||
                            (len >= 4 && u[0] == 0 && u[1] == 0 && u[2] == 0xfe && u[3] == 0xff))) {
        int utf32 = u[0] == 0 || (len >= 4 && u[2] == 0 && u[3] == 0);
        return gr_fail_at(ctx, file, 1, 1, "the file is %s (it starts with a %s byte-order mark); save it as UTF-8",
                          utf32 ? "UTF-32" : "UTF-16", utf32 ? "UTF-32" : "UTF-16");
    }
    struct builder b = {.ctx = ctx, .doc = doc, .text = text, .len = len};
    if (!yaml_parser_initialize(&b.parser)) return gr_fail(ctx, "%s: cannot initialise the YAML parser", file);
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&b.parser, YAML_UTF8_ENCODING);

    int rc = -1, docs = 0;
    for (;;) {
        yaml_event_t ev;
        if (next_event(&b, &ev)) goto out;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT) {
            if (++docs > 1) {
                fail_mark(&b, ev.start_mark, "only one YAML document is allowed in a file%s", "");
                yaml_event_delete(&ev);
                goto out;
            }
            yaml_event_delete(&ev);
            continue;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        doc->root = parse_node(&b, &ev, 1);
        if (!doc->root) goto out;
    }
    rc = 0;
out:
    yaml_parser_delete(&b.parser);
    gr_free(ctx, b.anchors);
    if (rc) gr_yaml_free(doc);
    return rc;
}

int gr_yaml_load(struct gr_ctx *ctx, struct gr_ydoc *doc, const char *path) {
    memset(doc, 0, sizeof *doc);
    doc->ctx = ctx;
    char *buf;
    size_t len;
    if (gr_read_text_file(ctx, path, GR_YAML_MAX_FILE, &buf, &len)) return -1;
    int rc = gr_yaml_parse(ctx, doc, path, buf, len);
    gr_free(ctx, buf);
    return rc;
}

