/* graphrun ops, optimizers, schedules and gradcheck: what the registry
 * holds, and the ops of a graph against finite differences. */
#include <stdio.h>
#include <string.h>

#include "models/init.h"
#include "ops/core.h"
#include "runtime/base/escape.h"
#include "runtime/engine/harness.h"
#include "runtime/host/host.h"
#include "runtime/host/plugin.h"
#include "runtime/host/registry.h"
#include "runtime/optim/optimizer.h"
#include "runtime/schedule/schedule.h"
#include "tools/cli/cli.h"

/* "graphrun CMD: no KIND 'NAME' (did you mean 'NEAR'?)", NAME as the
 * command line gave it, escaped onto the one line */
static void print_no_such(const char *cmd, const char *kind, const char *name, const char *near) {
    fprintf(stderr, "graphrun %s: no %s '", cmd, kind);
    gr_put_text(stderr, name);
    fprintf(stderr, "'%s%s%s\n", near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
}

static const char *const type_names[] = {"int", "float", "bool", "string", "list of ints"};

/* "num_units (int, required, 1..1048576)" */
static void print_attr(const struct gr_attr_spec *a, int long_form) {
    printf("%s (%s", a->name, type_names[a->type]);
    if (a->def) printf(", default %s", a->def);
    else if (a->optional) printf(", optional");
    else printf(", required");
    if ((a->min != 0 || a->max != 0) && a->type != GR_ATTR_STRING)
        printf(a->type == GR_ATTR_FLOAT ? ", %g..%g" : ", %.0f..%.0f", a->min, a->max);
    if (a->choices) {
        printf(", one of");
        for (int c = 0; a->choices[c]; c++) printf("%s %s", c ? "," : "", a->choices[c]);
    }
    printf(")");
    if (long_form && a->doc) printf(": %s", a->doc);
}

/* "    parameters: kernel (glorot_uniform), bias (zeros)", or one a line */
static void print_weights(const char *title, const struct gr_param_spec *w, int n, int long_form) {
    if (!n) return;
    printf("    %s:%s", title, long_form ? "\n" : " ");
    for (int k = 0; k < n; k++) {
        if (long_form) printf("      %s, initialised %s: %s\n", w[k].name, gr_init_names[w[k].init], w[k].doc);
        else printf("%s%s (%s)", k ? ", " : "", w[k].name, gr_init_names[w[k].init]);
    }
    if (!long_form) printf("\n");
}

static void print_op(const struct gr_op_entry *e, int long_form) {
    const struct gr_op_desc *d = e->desc;
    printf("%s  (%s)\n    %s\n", d->name, e->origin, d->summary);
    if (d->max_inputs > 0) printf("    inputs: %s\n", d->inputs_doc);
    if (d->n_attrs) {
        printf("    attributes:%s", long_form ? "\n" : " ");
        for (int a = 0; a < d->n_attrs; a++) {
            if (long_form) printf("      ");
            else if (a) printf(", ");
            print_attr(&d->attrs[a], long_form);
            if (long_form) printf("\n");
        }
        if (!long_form) printf("\n");
    }
    print_weights("parameters", d->params, d->n_params, long_form);
    print_weights("state (not trained; kept in checkpoints)", d->state, d->n_state, long_form);
    if (long_form) {
        if (d->no_grad) {
            printf("    inputs taking no gradient:");
            for (int k = 0; k < 32; k++)
                if ((d->no_grad >> k) & 1u) printf(" %d", k);
            printf("\n");
        }
        printf("    differentiable: %s; counts its operations: %s; exports to ONNX: %s\n", d->backward ? "yes" : "no",
               d->flops ? "yes" : "no", d->lower || (d->flags & (GR_OP_INPUT | GR_OP_PARAM)) ? "yes" : "no");
    }
}

static int cmd_ops(struct cli *o) {
    struct gr_ctx ctx;
    if (cli_open_ctx(&ctx)) return 1;
    int rc = 0;
    for (int i = 0; i < o->n_plugins && rc == 0; i++)
        if (gr_plugin_load(&ctx, o->plugins[i])) {
            fprintf(stderr, "%s\n", ctx.err);
            rc = 1;
        }
    if (rc == 0 && o->n_pos) {
        const struct gr_op_entry *e = gr_registry_entry(ctx.reg, o->pos[0]);
        if (e) {
            print_op(e, 1);
        } else {
            const char *near = gr_registry_suggest(ctx.reg, o->pos[0]);
            print_no_such("ops", "op", o->pos[0], near);
            rc = 1;
        }
    } else if (rc == 0) {
        for (int i = 0; i < ctx.reg->n; i++) {
            print_op(&ctx.reg->ops[i], 0);
            printf("\n");
        }
        printf("%d ops\n", ctx.reg->n);
    }
    gr_ctx_free(&ctx);
    return rc;
}

/* "adam  (Adam)  m = b1 m + ...", its keys with defaults and ranges, its state */
static void print_optimizer(const struct gr_optim_desc *d) {
    printf("%s  (%s)\n    %s\n    keys: lr (float, required, in (0, 1000])", d->name, d->title, d->summary);
    for (int k = 0; k < d->n_keys; k++) {
        const struct gr_optim_key *key = &d->keys[k];
        if (key->type == GR_OPTIM_BOOL)
            printf(", %s (bool, default %s)", key->name, key->def != 0 ? "true" : "false");
        else
            printf(", %s (float, default %.10g, in %c%.10g, %.10g])", key->name, key->def, key->above_min ? '(' : '[',
                   key->min, key->max);
    }
    if (gr_optim_key_index(d, "weight_decay") >= 0) printf(", weight_decay_exclude (list of name patterns)");
    printf("\n    state per parameter value:");
    for (int k = 0; k < d->n_state; k++)
        printf("%s %s (%s%s%s)", k ? "," : "", d->state[k].name, d->state[k].doc,
               d->state[k].only_with ? ", with " : "", d->state[k].only_with ? d->state[k].only_with : "");
    printf("%s\n", d->n_state ? "" : " none");
}

static int cmd_optimizers(struct cli *o) {
    struct gr_ctx ctx;
    if (cli_open_ctx(&ctx)) return 1;
    int rc = 0;
    if (o->n_pos) {
        const struct gr_optim_desc *d = gr_registry_optimizer(ctx.reg, o->pos[0]);
        if (d) {
            print_optimizer(d);
        } else {
            const char *near = gr_registry_suggest_optimizer(ctx.reg, o->pos[0]);
            print_no_such("optimizers", "optimizer", o->pos[0], near);
            rc = 1;
        }
    } else {
        for (int i = 0; i < ctx.reg->n_optims; i++) {
            print_optimizer(ctx.reg->optims[i]);
            printf("\n");
        }
        printf("%d optimizers\n", ctx.reg->n_optims);
    }
    gr_ctx_free(&ctx);
    return rc;
}

/* "cosine  (cosine annealing)  floor + ...", its keys with defaults and ranges */
static void print_schedule(const struct gr_sched_desc *d) {
    static const char *const types[] = {"float", "int", "bool", "choice", "increasing ints"};
    printf("%s  (%s)\n    %s\n    keys: unit (steps or epochs, default steps), warmup ({steps: N} or {epochs: N}, "
           "start)", d->name, d->title, d->summary);
    for (int k = 0; k < d->n_keys; k++) {
        const struct gr_sched_key *key = &d->keys[k];
        printf(", %s (%s", key->name, types[key->type]);
        if (key->required) printf(", required");
        else if (key->def_horizon) printf(", default the rest of the run");
        else if (key->type == GR_SCHED_CHOICE) printf(", default %s", key->choices[(int)key->def]);
        else if (key->type == GR_SCHED_BOOL) printf(", default %s", key->def != 0 ? "true" : "false");
        else printf(", default %.10g", key->def);
        if (key->type == GR_SCHED_CHOICE) {
            printf(", one of");
            for (int c = 0; key->choices[c]; c++) printf("%s %s", c ? "," : "", key->choices[c]);
        } else if (key->type != GR_SCHED_BOOL) {
            printf(", in %c%.10g, %.10g]", key->above_min ? '(' : '[', key->min, key->max);
        }
        printf(")");
    }
    printf("\n");
    for (int k = 0; k < d->n_keys; k++) printf("      %s: %s\n", d->keys[k].name, d->keys[k].doc);
}

static int cmd_schedules(struct cli *o) {
    struct gr_ctx ctx;
    if (cli_open_ctx(&ctx)) return 1;
    int rc = 0;
    if (o->n_pos) {
        const struct gr_sched_desc *d = gr_registry_schedule(ctx.reg, o->pos[0]);
        if (d) {
            print_schedule(d);
        } else {
            const char *near = gr_registry_suggest_schedule(ctx.reg, o->pos[0]);
            print_no_such("schedules", "schedule", o->pos[0], near);
            rc = 1;
        }
    } else {
        for (int i = 0; i < ctx.reg->n_scheds; i++) {
            print_schedule(ctx.reg->scheds[i]);
            printf("\n");
        }
        printf("%d schedules\n", ctx.reg->n_scheds);
    }
    gr_ctx_free(&ctx);
    return rc;
}

static int cmd_gradcheck(struct cli *o) {
    struct job j;
    if (cli_open_job(&j, o, 0)) return 1;
    struct gr_graph g;
    int rc = cli_job_graph(&j, &g, o->batch ? o->batch : 2);
    int failed = 0, checked = 0;
    if (rc == 0) {
        printf("%-20s %-22s %10s %12s %10s  %s\n", "node", "op", "elements", "worst/bound", "noise", "result");
        struct gr_rng rng;
        gr_rng_seed(&rng, (uint64_t)o->seed);
        for (int i = 0; i < g.n && rc == 0; i++) {
            const struct gr_node *nd = &g.nodes[i];
            if (nd->op->flags & (GR_OP_INPUT | GR_OP_PARAM)) continue;
            if (!nd->op->backward) {
                printf("%-20s %-22s %10s %12s %10s  no backward\n", nd->name, nd->op->name, "-", "-", "-");
                continue;
            }
            struct gr_gradcheck gc = gr_gradcheck_defaults();
            gc.fill = gr_init_fill;
            if (o->eps > 0) gc.h = o->eps;
            if (o->rtol > 0) gc.rtol = o->rtol;
            if (o->atol > 0) gc.atol = o->atol;
            int r = gr_gradcheck_node(&g, i, &rng, &gc);
            if (r < 0) {
                rc = -1;
                break;
            }
            checked++;
            failed += r != 0;
            printf("%-20s %-22s %10d %12.3f %10.1e  %s\n", nd->name, nd->op->name, gc.checked, gc.worst, gc.noise,
                   r ? "FAIL" : "ok");
            if (r) printf("    %s\n", gc.report);
        }
    }
    if (rc) fprintf(stderr, "%s\n", j.ctx.err);
    else printf("%d node%s checked, %d failed\n", checked, checked == 1 ? "" : "s", failed);
    gr_graph_free(&g);
    cli_close_job(&j);
    return rc ? 1 : failed ? 1 : 0;
}


const struct command gr_cmd_ops = {"ops", cmd_ops,
    "usage: graphrun ops [NAME] [--plugin FILE]...\n"
     "\n"
     "Without NAME, list every op: built-in ones, those of the plugins in\n"
     "GRAPHRUN_PLUGIN_PATH and those of the --plugin files, with their inputs,\n"
     "attributes (type, default, range) and origin. With NAME, describe that op.\n",
    "--plugin", 0, 1};

const struct command gr_cmd_gradcheck = {"gradcheck", cmd_gradcheck,
    "usage: graphrun gradcheck CONFIG [--set PATH=VALUE | --unset PATH]... [--batch N]\n"
     "                          [--seed N] [--eps H] [--tolerance RTOL] [--atol ATOL]\n"
     "\n"
     "Build CONFIG's graph (its plugins included) at batch N (default 2) and check\n"
     "every op node's backward against central finite differences of its\n"
     "forward, with step H (--eps, default 1e-2): every checked element (at most\n"
     "400 an input) must satisfy |analytic - numeric| <= atol + RTOL max(|a|, |n|)\n"
     "(--tolerance, default 2e-3), where atol is ATOL (--atol, default 2e-4), or\n"
     "the float forward's rounding floor when larger (the 'noise' column).\n"
     "Parameters are drawn from their initializers; other float inputs are\n"
     "distinct values spaced wider than 2.5 steps, none within 0.1 of 0, so\n"
     "non-smooth ops are checked away from their kinks; random ops (dropout)\n"
     "replay one step's values. --seed N draws other values. Needs no data.\n"
     "Exits 0 only if every node passes.\n",
    "--set --unset --batch --seed --eps --tolerance --atol", 1, 1};

const struct command gr_cmd_optimizers = {"optimizers", cmd_optimizers,
    "usage: graphrun optimizers [NAME]\n"
    "\n"
    "Without NAME, list every optimizer train.optimizer.name can choose, with\n"
    "its update, its keys (defaults and ranges) and the state it keeps per\n"
    "parameter value (saved in checkpoints as optim/<state>/<parameter>). With\n"
    "NAME, describe that one.\n",
    "", 0, 1};

const struct command gr_cmd_schedules = {"schedules", cmd_schedules,
    "usage: graphrun schedules [NAME]\n"
    "\n"
    "Without NAME, list every learning-rate schedule train.schedule.name can\n"
    "choose, with its rate, its keys (defaults and ranges) and what each means.\n"
    "Every schedule also takes unit (steps or epochs) and a linear warmup. With\n"
    "NAME, describe that one.\n",
    "", 0, 1};
