/* graphrun check, summary and graph: the graph as a run would build it,
 * its shapes, sizes and operations, without training. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/init.h"
#include "ops/core.h"
#include "runtime/base/escape.h"
#include "runtime/engine/plan.h"
#include "runtime/session/optimize.h"
#include "runtime/session/leaves.h"
#include "tools/cli/cli.h"

/* A node's parameters (its own when it is one), or with `state` its state
 * (values an op keeps untrained: batch_norm's running statistics). */
static int64_t node_weights(const struct gr_graph *g, const struct gr_node *nd, int state) {
    int64_t p = (nd->op->flags & GR_OP_PARAM) && !state ? gr_shape_count(&nd->shape) : 0;
    int first = nd->n_user + (state ? nd->op->n_params : 0);
    int last = state ? nd->n_in : nd->n_user + nd->op->n_params;
    for (int k = first; k < last; k++) p += gr_shape_count(&g->nodes[nd->in[k]].shape);
    return p;
}
static int64_t node_params(const struct gr_graph *g, const struct gr_node *nd) { return node_weights(g, nd, 0); }

/* "state:    128 values, not trained, kept in checkpoints: bn.running_mean [32], ..." */
static void print_state(const struct gr_graph *g) {
    if (!g->n_state) return;
    printf("state:    %lld values, not trained, kept in checkpoints:", (long long)g->n_state);
    char sh[96];
    for (int i = 0, first = 1; i < g->n; i++) {
        if (!gr_node_is_state(g, i)) continue;
        printf("%s %s %s", first ? "" : ",", g->nodes[i].name, gr_shape_format(&g->nodes[i].shape, sh, sizeof sh));
        first = 0;
    }
    printf("\n");
}

/* a node's own shape without its batch axis (parameters have none) */
static const char *sample_shape(const struct gr_node *nd, char *buf, size_t len) {
    struct gr_shape s = nd->shape;
    if (!(nd->op->flags & GR_OP_PARAM) && s.rank > 0) {
        for (int d = 1; d < s.rank; d++) s.dim[d - 1] = s.dim[d];
        s.rank--;
    }
    return gr_shape_format(&s, buf, len);
}

static int name_width(const struct gr_graph *g, int least);

/* ", 6000 validation": the validation set, if any. */
static const char *valid_text(const struct gr_session *s, char *buf, size_t len) {
    buf[0] = 0;
    if (s->valid_set.d) snprintf(buf, len, ", %lld validation", (long long)s->valid_set.n);
    return buf;
}

/* "training plan 6.7 MB at batch 64", or by leaves: a plan a thread at a leaf's rows, and the leaves' gradients */
static const char *plan_text(const struct gr_session *s, char *buf, size_t len) {
    if (s->leaves <= 1)
        snprintf(buf, len, "training plan %.1f MB at batch %lld", (double)s->tp.arena_bytes / 1e6, (long long)s->tp.cap);
    else
        snprintf(buf, len,
                 "training plans %.1f MB (%d of %.1f MB at %lld rows and the leaves' gradients, a step of %lld by "
                 "%lld leaves)",
                 ((double)s->tp.arena_bytes + gr_leaves_bytes(s)) / 1e6, gr_leaves_plans(s),
                 (double)s->tp.arena_bytes / 1e6, (long long)s->tp.cap, (long long)(s->tp.cap * s->leaves),
                 (long long)s->leaves);
    return buf;
}

static int cmd_check(struct cli *o) {
    struct job j;
    if (cli_open_job(&j, o, 1)) return 1;
    char sh[96];
    int w = name_width(&j.s.g, 20);
    printf("%s: valid; training would start\n", o->pos[0]);
    printf("  data: %lld training%s and %lld test samples\n", (long long)j.s.train_set.n, valid_text(&j.s, sh, sizeof sh),
           (long long)j.s.test_set.n);
    printf("  %-*s %-22s %-18s %12s\n", w, "node", "op", "shape", "parameters");
    int64_t total = 0;
    for (int i = 0; i < j.s.g.n; i++) {
        const struct gr_node *nd = &j.s.g.nodes[i];
        if (nd->op->flags & GR_OP_PARAM && nd->owner >= 0) continue;
        int64_t params = node_params(&j.s.g, nd);
        total += params;
        printf("  %-*s %-22s %-18s %12lld\n", w, nd->name, nd->op->name,
               gr_shape_format(&nd->shape, sh, sizeof sh), (long long)params);
    }
    printf("  %-*s %-22s %-18s %12lld\n", w, "total", "", "", (long long)total);
    char plan[160];
    printf("  memory: %s, evaluation plan %.1f MB at batch %lld\n", plan_text(&j.s, plan, sizeof plan),
           j.s.logits >= 0 ? (double)j.s.ep.arena_bytes / 1e6 : 0.0, (long long)(j.s.logits >= 0 ? j.s.ep.cap : 0));
    cli_close_job(&j);
    return 0;
}

static void print_count(int64_t n, int width) {
    char buf[32], out[48];
    snprintf(buf, sizeof buf, "%lld", (long long)n);
    int len = (int)strlen(buf), k = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0) out[k++] = ',';
        out[k++] = buf[i];
    }
    out[k] = 0;
    printf("%*s", width, out);
}

/* The width of the node column: `least`, or the longest name listed. */
static int name_width(const struct gr_graph *g, int least) {
    int w = least;
    for (int i = 0; i < g->n; i++)
        if (!(g->nodes[i].op->flags & GR_OP_PARAM && g->nodes[i].owner >= 0) && (int)strlen(g->nodes[i].name) > w)
            w = (int)strlen(g->nodes[i].name);
    return w;
}

static int cmd_summary(struct cli *o) {
    struct job j;
    if (cli_open_job(&j, o, 1)) return 1;
    const struct gr_graph *g = &j.s.g;
    double batch = (double)j.s.tp.cap;
    int w = name_width(g, 16);
    printf("%s\n", o->pos[0]);
    printf("%-*s %-22s %-16s %12s %16s\n", w, "node", "op", "output (sample)", "parameters", "FLOPs/sample");
    int64_t total = 0;
    double ftotal = 0, btotal = 0;
    char sh[96];
    for (int i = 0; i < g->n; i++) {
        const struct gr_node *nd = &g->nodes[i];
        if (nd->op->flags & GR_OP_PARAM && nd->owner >= 0) continue;
        int64_t params = node_params(g, nd);
        double f = 0, b = 0;
        gr_plan_node_flops(&j.s.tp, i, &f, &b);
        total += params;
        ftotal += f;
        btotal += b;
        printf("%-*s %-22s %-16s ", w, nd->name, nd->op->name, sample_shape(nd, sh, sizeof sh));
        print_count(params, 12);
        print_count((int64_t)llround(f / batch), 17);
        printf("\n");
    }
    printf("%-*s %-22s %-16s ", w, "total", "", "");
    print_count(total, 12);
    print_count((int64_t)llround(ftotal / batch), 17);
    printf("\n\n");
    printf("training: %.2f MFLOP a sample forward and backward, %.1f GFLOP an epoch of %lld samples\n",
           (ftotal + btotal) / batch / 1e6, (ftotal + btotal) / batch * (double)j.s.train_set.n / 1e9,
           (long long)j.s.train_set.n);
    print_state(g);
    double pbytes = (double)g->n_weights * 4;
    printf("memory:   parameters %.1f KB (with gradients%s %s state%s %.1f KB)\n", pbytes / 1e3,
           j.cfg.early.on ? "," : " and", j.cfg.optim.desc->title, j.cfg.early.on ? " and the best copy" : "",
           pbytes * (2 + gr_session_param_copies(&j.s)) / 1e3);
    char plan[160];
    printf("          %s, evaluation plan %.1f MB at batch %lld\n", plan_text(&j.s, plan, sizeof plan),
           j.s.logits >= 0 ? (double)j.s.ep.arena_bytes / 1e6 : 0.0, (long long)(j.s.logits >= 0 ? j.s.ep.cap : 0));
    printf("          data %.1f MB (as the files' readers store it: bytes stay bytes)\n",
           (double)(gr_dataset_bytes(&j.s.train) + gr_dataset_bytes(&j.s.valid) + gr_dataset_bytes(&j.s.test)) / 1e6);
    cli_close_job(&j);
    return 0;
}

/* ---- graph (DOT) ------------------------------------------------------------ */

/* One DOT statement `  "ID" [ATTRS, label="LABEL"];` (no label if NULL),
 * the ID and label escaped; -1 if a write failed. */
static int dot_node(FILE *f, const char *id, const char *attrs, const char *label) {
    if (fputs("  ", f) == EOF || gr_put_dot_string(f, id) == EOF || fprintf(f, " [%s", attrs) < 0) return -1;
    if (label && (fputs(", label=", f) == EOF || gr_put_dot_string(f, label) == EOF)) return -1;
    return fputs("];\n", f) == EOF ? -1 : 0;
}

static int dot_edge(FILE *f, const char *from, const char *to, const char *attrs) {
    if (fputs("  ", f) == EOF || gr_put_dot_string(f, from) == EOF || fputs(" -> ", f) == EOF ||
        gr_put_dot_string(f, to) == EOF)
        return -1;
    return fprintf(f, "%s%s;\n", attrs ? " " : "", attrs ? attrs : "") < 0 ? -1 : 0;
}

/* The graph in DOT; `p` is its plan when the gradients are drawn. -1 if a
 * write failed (errno says why). */
static int write_dot(FILE *f, const struct gr_graph *g, const struct gr_plan *p, int loss, const char *source) {
    char label[512], sh[96], a[160], b[160];
    if (fputs("// graphrun graph ", f) == EOF || gr_put_text(f, source) == EOF ||
        fprintf(f, "%s\ndigraph graphrun {\n", p ? " --backward" : "") < 0 ||
        fprintf(f, "  rankdir=TB;\n  node [fontname=\"sans\", fontsize=10];\n  edge [color=\"#555555\"];\n") < 0)
        return -1;
    for (int i = 0; i < g->n; i++) {
        const struct gr_node *nd = &g->nodes[i];
        const char *style = nd->op->flags & GR_OP_PARAM   ? "shape=ellipse, style=filled, fillcolor=\"#e8e8e8\""
                            : nd->op->flags & GR_OP_INPUT ? "shape=box, style=\"rounded,filled\", fillcolor=\"#d8e8f8\""
                                                          : "shape=box";
        snprintf(label, sizeof label, "%s\n%s\n%s", nd->name, nd->op->name, gr_shape_format(&nd->shape, sh, sizeof sh));
        if (dot_node(f, nd->name, style, label)) return -1;
    }
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (dot_edge(f, g->nodes[g->nodes[i].in[k]].name, g->nodes[i].name, NULL)) return -1;
    /* d(x) for every node with a gradient; edges run from a node's gradient
     * to its inputs' gradients, as backward computes them */
    for (int i = 0; p && i < g->n; i++) {
        if (!p->bwd[i]) continue;
        snprintf(a, sizeof a, "d:%s", g->nodes[i].name);
        snprintf(label, sizeof label, "d %s%s", g->nodes[i].name, i == loss ? " = 1" : "");
        if (dot_node(f, a, "shape=box, style=dashed, color=\"#d62728\", fontcolor=\"#d62728\"", label)) return -1;
    }
    for (int i = 0; p && i < g->n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            if (!p->bwd[i] || !p->args[i].din[k]) continue;
            snprintf(a, sizeof a, "d:%s", g->nodes[i].name);
            snprintf(b, sizeof b, "d:%s", g->nodes[g->nodes[i].in[k]].name);
            if (dot_edge(f, a, b, "[color=\"#d62728\", style=dashed]")) return -1;
        }
    return fputs("}\n", f) == EOF ? -1 : 0;
}

static int cmd_graph(struct cli *o) {
    struct job j;
    if (cli_open_job(&j, o, 0)) return 1;
    struct gr_graph g;
    int rc = cli_job_graph(&j, &g, j.cfg.batch_size);
    int loss = rc == 0 ? gr_graph_find(&g, j.cfg.loss) : -1;
    struct gr_plan p;
    memset(&p, 0, sizeof p);
    if (rc == 0 && o->backward) {
        if (loss < 0) rc = gr_fail(&j.ctx, "%s: train.loss names no node", j.cfg.path);
        else if (gr_graph_alloc_params(&g, gr_init_fill) || gr_plan_init(&p, &g, 1, &loss, 1, loss)) rc = -1;
    }
    FILE *f = stdout;
    if (rc == 0 && o->output && !(f = fopen(o->output, "w")))
        rc = gr_fail(&j.ctx, "%s: cannot write: %s", o->output, strerror(errno));
    if (rc == 0) {
        /* a write error is reported with the first errno; fclose's is the last word */
        int failed = write_dot(f, &g, o->backward ? &p : NULL, loss, o->pos[0]);
        int e = errno;
        if (f != stdout && fclose(f) != 0 && !failed) failed = 1, e = errno;
        if (failed && f != stdout)
            rc = gr_fail(&j.ctx, "%s: write failed: %s", o->output, strerror(e));
        else if (failed)
            rc = gr_fail(&j.ctx, "graphrun graph: cannot write the standard output: %s", strerror(e));
    }
    if (rc) fprintf(stderr, "%s\n", j.ctx.err);
    gr_plan_free(&p);
    gr_graph_free(&g);
    cli_close_job(&j);
    return rc ? 1 : 0;
}


const struct command gr_cmd_check = {"check", cmd_check,
    "usage: graphrun check CONFIG [--set PATH=VALUE | --unset PATH]...\n"
     "\n"
     "Validate CONFIG and its data files as a training run would, without\n"
     "training: every key, every node and shape, the data's headers, sizes and\n"
     "labels, and the memory the run needs. Prints the graph with its shapes and\n"
     "parameter counts. Exits 0 only if `graphrun train CONFIG` would start.\n",
    "--set --unset", 1, 1};

const struct command gr_cmd_summary = {"summary", cmd_summary,
    "usage: graphrun summary CONFIG [--set PATH=VALUE | --unset PATH]...\n"
     "\n"
     "The graph as a table: each node's op, output shape (one sample),\n"
     "parameters and forward operations per sample, with totals and the memory\n"
     "the run plans to hold.\n",
    "--set --unset", 1, 1};

const struct command gr_cmd_graph = {"graph", cmd_graph,
    "usage: graphrun graph CONFIG [--set PATH=VALUE | --unset PATH]... [--backward]\n"
     "                     [-o FILE]\n"
     "\n"
     "Write the forward graph in Graphviz DOT to standard output or FILE: inputs\n"
     "as boxes, parameters as grey ellipses, every node with its op and shape.\n"
     "With --backward, the gradients too (dashed, red): d(node) for every node a\n"
     "gradient reaches, flowing from the loss back to the parameters.\n"
     "Render it with: dot -Tpng graph.dot -o graph.png\n",
    "--set --unset --backward -o", 1, 1};
