/* The YAML tree after parsing (runtime/yaml/yaml.c builds it): looking
 * things up, editing it for overrides, and writing it back as YAML. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "runtime/base/ctx.h"
#include "runtime/yaml/yaml.h"

/* ---- looking up ---------------------------------------------------------------- */

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

/* ---- editing ---------------------------------------------------------------- */

struct gr_ynode *gr_ydoc_node(struct gr_ydoc *doc, enum gr_ykind kind, const char *origin) {
    struct gr_ynode *n = gr_ydoc_alloc(doc, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->origin = origin;
    doc->n_nodes++;
    return n;
}

static char *ydoc_strdup(struct gr_ydoc *doc, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = gr_ydoc_alloc(doc, n);
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
        n->items = gr_ydoc_alloc(doc, (count ? count : 1) * sizeof *n->items);
        if (!n->items) return NULL;
        for (size_t i = 0; i < count; i++)
            if (!(n->items[i] = gr_ydoc_copy(doc, src->items[i], origin))) return NULL;
    }
    return n;
}

/* Onto the list *to: `key`, its old value where a scalar, the override. */
static int remember(struct gr_ydoc *doc, const struct gr_yremoved **to, const char *key, const struct gr_ynode *value,
                    const char *origin) {
    struct gr_yremoved *r = gr_ydoc_alloc(doc, sizeof *r);
    if (!r || !(r->key = ydoc_strdup(doc, key))) return -1;
    r->value = value && value->kind == GR_Y_SCALAR ? value->str : NULL; /* the document's nodes outlive it */
    r->origin = origin;
    r->next = *to;
    *to = r;
    return 0;
}

int gr_ymap_set(struct gr_ydoc *doc, struct gr_ynode *map, const char *key, struct gr_ynode *value,
                const char *origin) {
    for (int i = 0; i < map->n; i++)
        if (strcmp(gr_ymap_key(map, i)->str, key) == 0) {
            const struct gr_ynode *old = map->items[2 * i + 1];
            if (origin && old->kind == GR_Y_SCALAR && remember(doc, &map->replaced, key, old, origin)) return -1;
            map->items[2 * i + 1] = value;
            return 0;
        }
    struct gr_ynode **items = gr_ydoc_alloc(doc, (size_t)(2 * map->n + 2) * sizeof *items);
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

int gr_ymap_unset(struct gr_ydoc *doc, struct gr_ynode *map, const char *key, const char *origin) {
    const struct gr_ynode *value = gr_ymap_get(map, key);
    if (!value) return 0;
    if (remember(doc, &map->removed, key, value, origin)) return -1;
    gr_ymap_remove(map, key);
    return 0;
}

int gr_yseq_unset(struct gr_ydoc *doc, struct gr_ynode *seq, int i, const char *origin) {
    /* a named item by its name; a scalar (an input's name, a dimension) by its text */
    const struct gr_ynode *it = seq->items[i], *name = it->kind == GR_Y_MAP ? gr_ymap_get(it, "name") : it;
    if (name && name->kind == GR_Y_SCALAR && remember(doc, &seq->removed, name->str, NULL, origin)) return -1;
    gr_yseq_remove(seq, i);
    return 0;
}

const char *gr_ymap_removed_by(const struct gr_ynode *map, const char *key) {
    for (const struct gr_yremoved *r = map->removed; r; r = r->next)
        if (strcmp(r->key, key) == 0) return r->origin;
    return NULL;
}

const char *gr_ymap_removed_as(const struct gr_ynode *map, const char *key, const char *value) {
    const struct gr_yremoved *lists[2] = {map->removed, map->replaced};
    for (int k = 0; k < 2; k++)
        for (const struct gr_yremoved *r = lists[k]; r; r = r->next)
            if (strcmp(r->key, key) == 0 && r->value && strcmp(r->value, value) == 0) return r->origin;
    return NULL;
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
