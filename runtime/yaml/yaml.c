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

/* Nodes and strings of one document come from a chain of blocks. */
struct gr_yblock {
    struct gr_yblock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

static void *ydoc_alloc(struct gr_ydoc *doc, size_t bytes) {
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

const char *gr_ykind_name(enum gr_ykind k) {
    switch (k) {
    case GR_Y_SCALAR: return "a scalar";
    case GR_Y_SEQ: return "a list";
    case GR_Y_MAP: return "a mapping";
    }
    return "?";
}

struct gr_ynode *gr_ymap_get(const struct gr_ynode *map, const char *key) {
    if (!map || map->kind != GR_Y_MAP) return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(gr_ymap_key(map, i)->str, key) == 0) return gr_ymap_val(map, i);
    return NULL;
}

int gr_yaml_char(const char *s, unsigned long *cp) {
    const unsigned char *u = (const unsigned char *)s;
    int len = u[0] < 0x80 ? 1 : (u[0] & 0xe0) == 0xc0 ? 2 : (u[0] & 0xf0) == 0xe0 ? 3 : (u[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!len) return 0;
    unsigned long v = len == 1 ? u[0] : u[0] & (0x7fu >> len);
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (u[i] & 0x3fu);
    }
    /* shortest form only, and the characters libyaml's reader accepts */
    static const unsigned long least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < least[len]) return 0;
    int ok = v == 0x09 || v == 0x0a || v == 0x0d || (v >= 0x20 && v <= 0x7e) || v == 0x85 ||
             (v >= 0xa0 && v <= 0xd7ff) || (v >= 0xe000 && v <= 0xfffd) || (v >= 0x10000 && v <= 0x10ffff);
    *cp = v;
    return ok ? len : 0;
}

int gr_yaml_text_ok(const char *s) {
    unsigned long cp;
    for (int n; *s; s += n)
        if (!(n = gr_yaml_char(s, &cp))) return 0;
    return 1;
}

size_t gr_ynode_count(const struct gr_ynode *n, size_t limit) {
    size_t total = 1;
    int count = n->kind == GR_Y_SCALAR ? 0 : n->kind == GR_Y_MAP ? 2 * n->n : n->n;
    for (int i = 0; i < count && total <= limit; i++) total += gr_ynode_count(n->items[i], limit - total);
    return total;
}

const struct gr_ynode *gr_ynode_edited(const struct gr_ynode *n) {
    if (n->origin) return n;
    int count = n->kind == GR_Y_SCALAR ? 0 : n->kind == GR_Y_MAP ? 2 * n->n : n->n;
    for (int i = 0; i < count; i++) {
        const struct gr_ynode *e = gr_ynode_edited(n->items[i]);
        if (e) return e;
    }
    return NULL;
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
    struct gr_ynode *n = ydoc_alloc(b->doc, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = (int)m.line + 1;
    n->col = (int)m.column + 1;
    b->doc->n_nodes++;
    return n;
}

static char *ystrdup(struct builder *b, const char *s, size_t len) {
    char *d = ydoc_alloc(b->doc, len + 1);
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
        n->items = ydoc_alloc(b->doc, (count ? count : 1) * sizeof *n->items);
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
        struct gr_ynode **v = ydoc_alloc(b->doc, cap * sizeof *v);
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
        const struct gr_ynode **slot = ydoc_alloc(b->doc, cap * sizeof *slot);
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
    struct builder b = {.ctx = ctx, .doc = doc};
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

/* ---- editing ---------------------------------------------------------------- */

struct gr_ynode *gr_ydoc_node(struct gr_ydoc *doc, enum gr_ykind kind, const char *origin) {
    struct gr_ynode *n = ydoc_alloc(doc, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->origin = origin;
    doc->n_nodes++;
    return n;
}

static char *ydoc_strdup(struct gr_ydoc *doc, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ydoc_alloc(doc, n);
    if (d) memcpy(d, s, n);
    return d;
}

struct gr_ynode *gr_ydoc_scalar(struct gr_ydoc *doc, const char *s, const char *origin) {
    struct gr_ynode *n = gr_ydoc_node(doc, GR_Y_SCALAR, origin);
    if (n && !(n->str = ydoc_strdup(doc, s))) return NULL;
    return n;
}

struct gr_ynode *gr_ydoc_copy(struct gr_ydoc *doc, const struct gr_ynode *src, const char *origin) {
    struct gr_ynode *n = gr_ydoc_node(doc, src->kind, origin);
    if (!n) return NULL;
    n->line = src->line;
    n->col = src->col;
    n->quoted = src->quoted;
    n->n = src->n;
    if (src->str && !(n->str = ydoc_strdup(doc, src->str))) return NULL;
    if (src->kind != GR_Y_SCALAR) {
        size_t count = (size_t)src->n * (src->kind == GR_Y_MAP ? 2u : 1u);
        n->items = ydoc_alloc(doc, (count ? count : 1) * sizeof *n->items);
        if (!n->items) return NULL;
        for (size_t i = 0; i < count; i++)
            if (!(n->items[i] = gr_ydoc_copy(doc, src->items[i], origin))) return NULL;
    }
    return n;
}

int gr_ymap_set(struct gr_ydoc *doc, struct gr_ynode *map, const char *key, struct gr_ynode *value,
                const char *origin) {
    for (int i = 0; i < map->n; i++)
        if (strcmp(gr_ymap_key(map, i)->str, key) == 0) {
            map->items[2 * i + 1] = value;
            return 0;
        }
    struct gr_ynode **items = ydoc_alloc(doc, (size_t)(2 * map->n + 2) * sizeof *items);
    struct gr_ynode *k = gr_ydoc_node(doc, GR_Y_SCALAR, origin);
    if (!items || !k || !(k->str = ydoc_strdup(doc, key))) return -1;
    if (map->n) memcpy(items, map->items, (size_t)(2 * map->n) * sizeof *items);
    items[2 * map->n] = k;
    items[2 * map->n + 1] = value;
    map->items = items;
    map->n++;
    return 0;
}

void gr_ymap_remove(struct gr_ynode *map, const char *key) {
    for (int i = 0; i < map->n; i++)
        if (strcmp(gr_ymap_key(map, i)->str, key) == 0) {
            memmove(map->items + 2 * i, map->items + 2 * i + 2, (size_t)(2 * (map->n - i - 1)) * sizeof *map->items);
            map->n--;
            return;
        }
}

void gr_yseq_remove(struct gr_ynode *seq, int i) {
    memmove(seq->items + i, seq->items + i + 1, (size_t)(seq->n - i - 1) * sizeof *seq->items);
    seq->n--;
}

int gr_ynode_is_null(const struct gr_ynode *n) {
    return n && n->kind == GR_Y_SCALAR && !n->quoted && (!strcmp(n->str, "~") || !strcmp(n->str, "null"));
}

/* ---- writing ---------------------------------------------------------------- */

struct sink {
    char *buf;
    size_t len, cap;
};

static int sink_write(void *data, unsigned char *buffer, size_t size) {
    struct sink *s = data;
    if (s->len + size + 1 > s->cap) {
        size_t cap = (s->len + size + 1) * 2;
        char *b = realloc(s->buf, cap);
        if (!b) return 0;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, buffer, size);
    s->len += size;
    s->buf[s->len] = 0;
    return 1;
}

/* A scalar is written plain when it was plain and libyaml can write it so;
 * otherwise quoted, and then it reads back as quoted. Either way the text
 * reads back as a tree that is written as the same text again: a string that
 * cannot be plain is quoted whatever its flag said. A key '<<' is quoted, as
 * plain it would be read back as a merge key. */
static int emit_scalar(yaml_emitter_t *e, const struct gr_ynode *n, int is_key) {
    yaml_event_t ev;
    int plain = !n->quoted && !(is_key && strcmp(n->str, "<<") == 0);
    return yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)n->str, (int)strlen(n->str), plain, 1,
                                        YAML_ANY_SCALAR_STYLE) &&
           yaml_emitter_emit(e, &ev);
}

static int emit_node(yaml_emitter_t *e, const struct gr_ynode *n, int depth, int is_key) {
    yaml_event_t ev;
    int ok;
    switch (n->kind) {
    case GR_Y_SCALAR:
        return emit_scalar(e, n, is_key);
    case GR_Y_SEQ:
        ok = yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                  depth >= 2 ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
        if (!ok || !yaml_emitter_emit(e, &ev)) return 0;
        for (int i = 0; i < n->n; i++)
            if (!emit_node(e, n->items[i], depth + 1, 0)) return 0;
        return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
    case GR_Y_MAP:
        ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 depth >= 2 ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
        if (!ok || !yaml_emitter_emit(e, &ev)) return 0;
        for (int i = 0; i < 2 * n->n; i++)
            if (!emit_node(e, n->items[i], depth + 1, i % 2 == 0)) return 0;
        return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
    }
    return 0;
}

int gr_yaml_emit(struct gr_ctx *ctx, const struct gr_ynode *root, char **out, size_t *len) {
    yaml_emitter_t e;
    struct sink s = {0};
    yaml_event_t ev;
    *out = NULL;
    if (!yaml_emitter_initialize(&e)) return gr_fail(ctx, "cannot start the YAML writer");
    yaml_emitter_set_output(&e, sink_write, &s);
    yaml_emitter_set_width(&e, 120);
    yaml_emitter_set_unicode(&e, 1);
    int ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&e, &ev) &&
             yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) && yaml_emitter_emit(&e, &ev) &&
             emit_node(&e, root, 0, 0) && yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev) &&
             yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev);
    yaml_emitter_delete(&e);
    if (!ok || !s.buf) {
        free(s.buf);
        return gr_fail(ctx, "cannot write the config as YAML");
    }
    *out = s.buf;
    *len = s.len;
    return 0;
}
