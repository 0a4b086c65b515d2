/* Overrides and the YAML tree: --set and --unset, errors an override
 * causes (named by it wherever they are found), the run folder's config
 * written back, byte-order marks, the node budget, merge keys. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_cases.h"
#include "helpers.h"
#include "runtime/engine/optim.h"
#include "runtime/config/config.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

TestSuite(overrides, .init = make_data, .fini = remove_data);

Test(overrides, overrides_change_the_values_they_name) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    const char *sets[] = {"train.optimizer.lr=0.001", "train.batch_size=2", "graph.lstm.num_units=5",
                          "train.optimizer.beta1=0.8", "graph.3.num_units=6", "eval.every=3"};
    cr_assert_eq(parse_with(&ctx, &cfg, sets, 6), 0, "%s", ctx.err);
    cr_expect_float_eq(cfg.optim.lr, 0.001, 1e-12);
    cr_expect_float_eq(cfg.optim.hp[gr_optim_key_index(cfg.optim.desc, "beta1")], 0.8, 1e-12);
    cr_expect_eq(cfg.batch_size, 2);
    cr_expect_eq(cfg.eval_every, 3);
    /* the later override of the same node wins: graph.3 is the lstm */
    const struct gr_ynode *units = gr_ymap_get(cfg.graph->items[3], "num_units");
    cr_assert_not_null(units);
    cr_expect_str_eq(units->str, "6");
    /* the effective texts show the tree as the overrides left it */
    cr_expect(strstr(cfg.text, "lr: 0.001"), "%s", cfg.text);
    cr_expect(strstr(cfg.run_text, "num_units: 6"), "%s", cfg.run_text);
    cr_expect(strstr(cfg.run_text, "--set train.optimizer.lr=0.001 --set train.batch_size=2"), "%s", cfg.run_text);
    /* and the run builds with them: 20 samples, batch 2 */
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    cr_expect_eq(s.g.nodes[s.logits].shape.dim[0], 2);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

Test(overrides, the_run_text_has_absolute_paths_and_parses_back) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg, again;
    cr_assert_eq(parse_with(&ctx, &cfg, NULL, 0), 0, "%s", ctx.err);
    char want[256];
    snprintf(want, sizeof want, "images: %s/tr-img", tmpdir);
    cr_expect(strstr(cfg.run_text, want), "no '%s' in:\n%s", want, cfg.run_text);
    /* parsed from another folder, it still finds the data */
    cr_assert_eq(gr_config_parse(&ctx, &again, "run/config.yaml", "/nonexistent", cfg.run_text, strlen(cfg.run_text)),
                 0, "%s", ctx.err);
    cr_expect_str_eq(again.data.train.files[0].path, cfg.data.train.files[0].path);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_expect_eq(gr_session_open(&ctx, &s, &again, &opts), 0, "%s", ctx.err);
    gr_session_close(&s);
    gr_config_free(&ctx, &again);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* Each bad override: the error starts with the override itself. */
Test(overrides, a_bad_override_is_named_in_its_error) {
    static const struct {
        const char *set, *text;
    } cases[] = {
        {"train.optimizer.lr=-1", "--set train.optimizer.lr=-1: train.optimizer.lr: expected a number"},
        {"train.optimizer.lr=fast", "--set train.optimizer.lr=fast: train.optimizer.lr: expected a number"},
        {"train.optimizr.lr=0.1", "--set train.optimizr.lr=0.1: unknown key 'optimizr' in train (did you mean 'optimizer'?)"},
        {"graph.lstn.num_units=3", "--set graph.lstn.num_units=3: no node 'lstn' in graph (did you mean 'lstm'?)"},
        {"graph.lstm.num_units=0", "--set graph.lstm.num_units=0: node 'lstm': num_units: expected an integer in [1, 1048576], got 0"},
        {"train.steps.x=1", "--set train.steps.x=1: 'train.steps' is a value, not a section"},
        {"train.steps", "--set train.steps: expected PATH=VALUE"},
        {"train.steps=", "--set train.steps=: no value after '='"},
        {"train.steps=[1, 2", "--set train.steps=[1, 2: the value is not YAML"},
        /* paths: every part named, nothing silently ignored */
        {".=5", "--set .=5: the path '.' has an empty part"},
        {"train..steps=5", "--set train..steps=5: the path 'train..steps' has an empty part"},
        {".train.steps=5", "--set .train.steps=5: the path '.train.steps' has an empty part"},
        {"train.steps.=5", "--set train.steps.=5: the path 'train.steps.' has an empty part"},
        {"=5", "--set =5: no path before '='"},
        {"graph.9.units=3", "--set graph.9.units=3: index 9 is out of range for graph (7 items)"},
        {"graph.lstm.inputs.x=1", "--set graph.lstm.inputs.x=1: graph.lstm.inputs is a list without named items: give an index, not 'x'"},
        {"train.loss.x.y=1", "--set train.loss.x.y=1: 'train.loss' is a value, not a section"},
        {"train.\xdd=1", "--set train.\xdd=1: the path holds a control character or is not UTF-8"},
        {"train.a\tb=1", "--set train.a\\tb=1: the path holds a control character or is not UTF-8"},
        /* ranges: the whole range, whichever bound was crossed */
        {"train.steps=0", "--set train.steps=0: train.steps: expected an integer in [1, 2147483647], got 0"},
        {"train.seed=-1", "--set train.seed=-1: train.seed: expected an integer in [0, 9223372036854775807], got -1"},
        {"train.optimizer.beta2=1", "--set train.optimizer.beta2=1: train.optimizer.beta2: expected a number in [0, 0.999999999], got 1"},
        {"train.optimizer.lr=0", "--set train.optimizer.lr=0: train.optimizer.lr: expected a number in (0, 1000], got 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        struct gr_config cfg;
        int rc = parse_with(&ctx, &cfg, &cases[i].set, 1);
        if (rc == 0) {
            struct gr_session s;
            struct gr_session_opts opts = {.threads = 1};
            rc = gr_session_open(&ctx, &s, &cfg, &opts);
            gr_session_close(&s);
        }
        cr_expect_eq(rc, -1, "%s was accepted", cases[i].set);
        cr_expect(strstr(ctx.err, cases[i].text) == ctx.err, "%s\n  expected: %s\n  got:      %s", cases[i].set,
                  cases[i].text, ctx.err);
        gr_config_free(&ctx, &cfg);
        gr_ctx_free(&ctx);
    }
}

/* Open the base config with overrides through everything up to the first
 * step; 0, or -1 with the message in `err`. */
static int open_with(const char *const *sets, int n, char *err, size_t len) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    int rc = parse_with(&ctx, &cfg, sets, n);
    if (rc == 0) {
        struct gr_session s;
        struct gr_session_opts opts = {.threads = 1};
        rc = gr_session_open(&ctx, &s, &cfg, &opts);
        gr_session_close(&s);
    }
    snprintf(err, len, "%s", rc ? ctx.err : "");
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return rc;
}

/* An error an override causes names it, wherever it is found: the config's
 * checks, the graph builder, shape inference, the checks against the data. */
Test(overrides, an_error_an_override_causes_names_it_wherever_found) {
    static const struct {
        const char *sets[2];
        const char *text;
    } cases[] = {
        /* shape inference, at an attribute the override wrote, or an item of it */
        {{"graph.rows.shape=[4, 5]"},
         "--set graph.rows.shape=[4, 5]: node 'rows': shape holds 20 values per sample, but the input has 16"},
        {{"graph.rows.shape.1=5"}, "--set graph.rows.shape.1=5: node 'rows': shape holds 20 values per sample"},
        /* shape inference about the node as a whole, after its inputs changed */
        {{"graph.lstm.inputs=[image]"},
         "--set graph.lstm.inputs=[image]: node 'lstm': input must be [batch, time, features], got [4, 16]"},
        {{"graph.lstm.inputs.0=image"}, "--set graph.lstm.inputs.0=image: node 'lstm': input must be [batch, time"},
        {{"graph.rows.inputs=[last]"},
         "--set graph.rows.inputs=[last]: node 'rows': the graph has a cycle: rows -> lstm -> last -> rows"},
        /* shape inference of a node downstream of the one an override
         * changed: the override first, then the node's place in the file */
        {{"graph.image.shape=[15]"},
         "--set graph.image.shape=[15]: node 'rows' (test.yaml:7:55, downstream of node 'image', which it changed): "
         "shape holds 16 values per sample, but the input has 15"},
        /* the check of the input's shape against the images */
        {{"graph.rows.shape=[3, 5]", "graph.image.shape=[15]"},
         "--set graph.image.shape=[15]: node 'image': shape holds 15 values per sample, but the images are [4, 4]"},
        /* duplicate names, whichever of the two the override wrote */
        {{"graph.last.name=rows"}, "--set graph.last.name=rows: node name 'rows' is already used at line 7"},
        {{"graph.rows.name=last"}, "--set graph.rows.name=last: node name 'last' is also used at line 9"},
        {{"graph.rows.name=x", "graph.last.name=x"},
         "--set graph.last.name=x: node name 'x' is already used by --set graph.rows.name=x"},
        {{"graph.last={name: rows, op: slice, inputs: [lstm], axis: 1, index: -1}"},
         "--set graph.last={name: rows, op: slice, inputs: [lstm], axis: 1, index: -1}: node name 'rows' is already "
         "used at line 7"},
        /* bad values inside a mapping the override wrote */
        {{"train.optimizer={name: adam, lr: fast}"},
         "--set train.optimizer={name: adam, lr: fast}: train.optimizer.lr: expected a number in (0, 1000], got 'fast'"},
        {{"graph.lstm={name: lstm, op: lstm, inputs: [rows], num_units: {n: 8}}"},
         "--set graph.lstm={name: lstm, op: lstm, inputs: [rows], num_units: {n: 8}}: node 'lstm': num_units: expected "
         "an integer in [1, 1048576], got a mapping"},
        {{"data.train={images: tr-img, labels: tr-lab, limit: {n: 1}}"},
         "--set data.train={images: tr-img, labels: tr-lab, limit: {n: 1}}: data.train.limit: expected "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[1024];
        int n = cases[i].sets[1] ? 2 : 1;
        cr_expect_eq(open_with(cases[i].sets, n, err, sizeof err), -1, "%s was accepted", cases[i].sets[n - 1]);
        cr_expect(strstr(err, cases[i].text) == err, "%s\n  expected: %s\n  got:      %s", cases[i].sets[n - 1],
                  cases[i].text, err);
    }
}

/* A message is one line, whatever a user put in a name or a value. */
Test(overrides, control_characters_in_a_message_are_escaped) {
    char err[1024];
    const char *set = "train.steps=[1,\n 2";
    cr_expect_eq(open_with(&set, 1, err, sizeof err), -1);
    cr_expect(strstr(err, "--set train.steps=[1,\\n 2: the value is not YAML (value:3:1: ") == err, "got: %s", err);
    char text[4096];
    with_line(text, sizeof text, 13, "  \"lo\\tss\\r\\nx\": loss");
    cr_expect_eq(open_config(text, err, sizeof err), -1);
    cr_expect_str_eq(err, "test.yaml:13:3: unknown key 'lo\\tss\\r\\nx' in train (expected one of: loss, optimizer, "
                          "schedule, batch_size, steps, epochs, seed, threads, checkpoint, log_every, clip, "
                          "early_stopping, target)");
}

/* Byte-order marks: UTF-8's is skipped, UTF-16's and UTF-32's refused. */
Test(overrides, a_utf8_byte_order_mark_is_skipped_others_refused) {
    char text[4096], marked[4200], err[1024];
    with_line(text, sizeof text, 0, NULL);
    snprintf(marked, sizeof marked, "\xef\xbb\xbf%s", text);
    cr_expect_eq(open_config(marked, err, sizeof err), 0, "%s", err);
    /* and positions are the file's: line 15 is still line 15 */
    with_line(text, sizeof text, 15, "  batch_size: 0");
    snprintf(marked, sizeof marked, "\xef\xbb\xbf%s", text);
    cr_expect_eq(open_config(marked, err, sizeof err), -1);
    cr_expect(strstr(err, "test.yaml:15:15: train.batch_size: expected an integer in [1, 1048576], got 0"), "%s", err);
    static const struct {
        const char *mark;
        size_t len;
        const char *name;
    } others[] = {{"\xff\xfe", 2, "UTF-16"}, {"\xfe\xff", 2, "UTF-16"}, {"\xff\xfe\0\0", 4, "UTF-32"},
                  {"\0\0\xfe\xff", 4, "UTF-32"}};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        memcpy(marked, others[i].mark, others[i].len);
        memcpy(marked + others[i].len, "d\0a\0", 4);
        struct gr_config cfg;
        cr_expect_eq(gr_config_parse(&ctx, &cfg, "test.yaml", tmpdir, marked, others[i].len + 4), -1);
        char want[128];
        snprintf(want, sizeof want, "test.yaml:1:1: the file is %s (it starts with a %s byte-order mark); save it as UTF-8",
                 others[i].name, others[i].name);
        cr_expect_str_eq(ctx.err, want);
        gr_config_free(&ctx, &cfg);
        gr_ctx_free(&ctx);
    }
}

/* Everything after the run text's first line (its comment). */
static const char *run_body(const char *run_text) {
    const char *nl = strchr(run_text, '\n');
    cr_assert_not_null(nl);
    return nl + 1;
}

/* Strings written back into the run folder's config stay what they were:
 * newlines, '#', ': ' and quotes in override values and in paths. */
Test(overrides, the_run_text_reads_back_as_the_same_config) {
    char src[256], dst[512];
    snprintf(src, sizeof src, "%s/tr-img", tmpdir);
    snprintf(dst, sizeof dst, "%s/%s", tmpdir, ODD_NAME);
    cr_assert_eq(link(src, dst), 0);
    const char *sets[] = {"data.train.images=\"tr img # x: 'q' \\\"d\\\"\\nline2\"",
                          "train.checkpoint.path=ck#1\n\n  two",
                          "eval.logits='logits'"};
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg, again;
    cr_assert_eq(parse_with(&ctx, &cfg, sets, 3), 0, "%s", ctx.err);
    cr_expect_str_eq(cfg.data.train.files[0].path, dst);
    char ckpt[256];
    snprintf(ckpt, sizeof ckpt, "%s/ck#1\ntwo", tmpdir);
    cr_expect_str_eq(cfg.checkpoint, ckpt);
    /* the header is one comment line naming every override */
    const char *body = run_body(cfg.run_text);
    const char *head = "# the effective config of this run: test.yaml with --set data.train.images=\"tr img # x: "
                       "'q' \\\"d\\\"\\nline2\" ";
    cr_expect(strncmp(cfg.run_text, head, strlen(head)) == 0, "%s", cfg.run_text);
    const char *tail = "--set train.checkpoint.path=ck#1\\n\\n  two --set eval.logits='logits'; paths made absolute\n";
    cr_expect(strstr(cfg.run_text, tail) == body - strlen(tail), "%s", cfg.run_text);
    /* read back from elsewhere: the same values, and the same text again */
    cr_assert_eq(gr_config_parse(&ctx, &again, "run/config.yaml", "/nonexistent", cfg.run_text, strlen(cfg.run_text)),
                 0, "%s\n%s", ctx.err, cfg.run_text);
    cr_expect_str_eq(again.data.train.files[0].path, dst);
    cr_expect_str_eq(again.checkpoint, ckpt);
    cr_expect_str_eq(again.logits, "logits");
    cr_expect_str_eq(run_body(again.run_text), body);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_expect_eq(gr_session_open(&ctx, &s, &again, &opts), 0, "%s", ctx.err);
    gr_session_close(&s);
    gr_config_free(&ctx, &again);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* What the config's checks leave to the graph builder is written back too,
 * and reads back as the same tree: an empty value in a flow mapping, a key
 * '<<' an override made (plain, it would read back as a merge key). */
Test(overrides, the_run_text_reads_back_what_the_builder_checks_later) {
    const char *sets[] = {"graph.last={name: last, op: slice, inputs: [lstm], axis: 1, index: -1, note: }",
                          "graph.lstm.<<={num_units: 4}"};
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg, again;
    cr_assert_eq(parse_with(&ctx, &cfg, sets, 2), 0, "%s", ctx.err);
    cr_assert_eq(gr_config_parse(&ctx, &again, "run/config.yaml", "/nonexistent", cfg.run_text, strlen(cfg.run_text)),
                 0, "%s\n%s", ctx.err, cfg.run_text);
    cr_expect_str_eq(run_body(again.run_text), run_body(cfg.run_text));
    const struct gr_ynode *lstm = again.graph->items[3];
    cr_expect_str_eq(gr_ymap_get(lstm, "num_units")->str, "8", "the '<<' key merged on reading back");
    cr_expect_not_null(gr_ymap_get(lstm, "<<"));
    gr_config_free(&ctx, &again);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* A config with `relus` relu nodes chained between 'last' and 'logits'
 * (eight YAML nodes each), malloc'd. */
static char *chain_config(int relus) {
    size_t len = 4096 + (size_t)relus * 64, used = 0;
    char *text = malloc(len);
    cr_assert_not_null(text);
    for (int i = 0; i < N_BASE; i++) {
        if (i + 1 == 10) {
            for (int r = 0; r < relus; r++) {
                char prev[16];
                snprintf(prev, sizeof prev, "r%d", r - 1);
                used += (size_t)snprintf(text + used, len - used, "  - {name: r%d, op: relu, inputs: [%s]}\n", r,
                                         r ? prev : "last");
            }
            used += (size_t)snprintf(text + used, len - used,
                                     "  - {name: logits, op: dense, inputs: [r%d], units: 3}\n", relus - 1);
            continue;
        }
        used += (size_t)snprintf(text + used, len - used, "%s\n", cfg_base[i]);
    }
    return text;
}

/* The documented budget of 100,000 YAML nodes is what a config may hold
 * (it once ran out at half that, when the run's copy of the tree was
 * counted too), and going over it is an error with a position. */
Test(overrides, the_node_budget_is_100000_and_located, .timeout = 120) {
    char err[1024];
    char *text = chain_config(11000); /* about 88,000 nodes */
    cr_expect_eq(open_config(text, err, sizeof err), 0, "%s", err);
    /* with an override too: the run's copy and the edit stay within it */
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    const char *set = "train.steps=12";
    cr_expect_eq(gr_config_parse_ex(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text), &set, 1), 0, "%s", ctx.err);
    gr_config_free(&ctx, &cfg);
    /* an override that takes the tree over the budget is named */
    char *list = malloc(300000);
    cr_assert_not_null(list);
    size_t used = (size_t)snprintf(list, 300000, "train.pad=[0");
    for (int i = 0; i < 20000; i++) used += (size_t)snprintf(list + used, 300000 - used, ",0");
    snprintf(list + used, 300000 - used, "]");
    const char *big = list;
    cr_expect_eq(gr_config_parse_ex(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text), &big, 1), -1);
    cr_expect(strstr(ctx.err, ": the config would have more than 100000 YAML nodes") && strncmp(ctx.err, "--set train.pad=[0,0,", 21) == 0,
              "%.200s", ctx.err);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    free(list);
    free(text);
    /* over the budget in the file: the position of the first node too many */
    text = chain_config(12600);
    cr_expect_eq(open_config(text, err, sizeof err), -1);
    cr_expect(strstr(err, "test.yaml:") == err && strstr(err, ": document too large: more than 100000 YAML nodes"),
              "%s", err);
    int line = 0, col = 0;
    cr_expect_eq(sscanf(err, "test.yaml:%d:%d:", &line, &col), 2, "%s", err);
    cr_expect(line > 12000 && col > 0, "%s", err);
    free(text);
}

/* Parse YAML text into `doc` (asserts). */
static void parse_yaml(struct gr_ctx *ctx, struct gr_ydoc *doc, const char *text) {
    cr_assert_eq(gr_yaml_parse(ctx, doc, "m.yaml", text, strlen(text)), 0, "%s", ctx->err);
}

static const char *scalar_at(const struct gr_ynode *root, const char *map, const char *key) {
    const struct gr_ynode *m = gr_ymap_get(root, map), *v = m ? gr_ymap_get(m, key) : NULL;
    return v && v->kind == GR_Y_SCALAR ? v->str : NULL;
}

/* YAML 1.1 merge keys: <<: *a and <<: [*a, *b]; the mapping's own keys win
 * wherever they stand, then earlier merged mappings over later ones. */
Test(overrides, merge_keys_merge_mappings) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_ydoc doc;
    parse_yaml(&ctx, &doc,
               "a: &a {x: 1, y: 2}\n"
               "b: &b {y: 3, z: 4}\n"
               "c: {<<: [*a, *b], x: 9}\n"
               "d:\n  w: 0\n  <<: *b\n  y: 5\n"
               "e: {<<: {v: 7}, '<<': quoted}\n"
               "f: &f {<<: *a, k: 1}\n"
               "g: {<<: *f}\n");
    const struct gr_ynode *r = doc.root;
    cr_expect_str_eq(scalar_at(r, "c", "x"), "9");
    cr_expect_str_eq(scalar_at(r, "c", "y"), "2");
    cr_expect_str_eq(scalar_at(r, "c", "z"), "4");
    cr_expect_eq(gr_ymap_get(r, "c")->n, 3);
    cr_expect_str_eq(scalar_at(r, "d", "w"), "0");
    cr_expect_str_eq(scalar_at(r, "d", "y"), "5");
    cr_expect_str_eq(scalar_at(r, "d", "z"), "4");
    cr_expect_eq(gr_ymap_get(r, "d")->n, 3);
    /* a quoted '<<' is an ordinary key */
    cr_expect_str_eq(scalar_at(r, "e", "v"), "7");
    cr_expect_str_eq(scalar_at(r, "e", "<<"), "quoted");
    /* merges nest: g has f's keys, f's merged ones included */
    cr_expect_str_eq(scalar_at(r, "g", "x"), "1");
    cr_expect_str_eq(scalar_at(r, "g", "k"), "1");
    gr_yaml_free(&doc);
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"a: {<<: 5}\n", "m.yaml:1:9: merge key '<<': expected a mapping or a list of mappings (e.g. <<: *defaults), got a scalar"},
        {"a: &a {x: 1}\nb: {<<: [*a, [1]]}\n", "m.yaml:2:14: merge key '<<': expected a mapping or a list of mappings (e.g. <<: *defaults), got a list in the list"},
        {"a: &a {x: 1}\nb: {<<: *a, <<: *a}\n", "m.yaml:2:13: duplicate merge key '<<' (list the mappings instead: <<: [*a, *b])"},
        {"a: &a {x: 1}\nb: {<<: *a, x: 2, x: 3}\n", "m.yaml:2:19: duplicate key 'x' (first given at line 2)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(gr_yaml_parse(&ctx, &doc, "m.yaml", bad[i].text, strlen(bad[i].text)), -1, "%s", bad[i].text);
        cr_expect_str_eq(ctx.err, bad[i].err);
    }
    gr_ctx_free(&ctx);
}

/* A config that shares blocks through merge keys is the config written out;
 * a mistake in a shared block points where the block is written. */
Test(overrides, a_config_shares_blocks_through_merge_keys) {
    char text[4096], err[1024];
    with_lines(text, sizeof text, 8, "  - &rnn {name: lstm, op: lstm, inputs: [rows], num_units: 8}\n"
                                     "  - {<<: *rnn, name: lstm2, inputs: [lstm]}",
               9, "  - {name: last, op: slice, inputs: [lstm2], axis: 1, index: -1}");
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text)), 0, "%s", ctx.err);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    const struct gr_node *l2 = &s.g.nodes[gr_graph_find(&s.g, "lstm2")];
    cr_expect_str_eq(l2->op->name, "lstm");
    cr_expect_eq(l2->shape.dim[2], 8);
    cr_expect_str_eq(s.g.nodes[l2->in[0]].name, "lstm");
    /* the run's config holds the merged nodes, no '<<' */
    cr_expect(strstr(cfg.run_text, "{name: lstm2, inputs: [lstm], op: lstm, num_units: 8}"), "%s", cfg.run_text);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    with_lines(text, sizeof text, 8, "  - &rnn {name: lstm, op: lstm, inputs: [rows], num_units: 0}\n"
                                     "  - {<<: *rnn, name: lstm2, inputs: [lstm]}",
               9, "  - {name: last, op: slice, inputs: [lstm2], axis: 1, index: -1}");
    cr_expect_eq(open_config(text, err, sizeof err), -1);
    cr_expect_str_eq(err, "test.yaml:8:60: node 'lstm': num_units: expected an integer in [1, 1048576], got 0");
}

/* Aliases cannot nest a tree deeper than the text may. */
Test(overrides, aliases_keep_the_depth_limit) {
    char text[4096];
    size_t used = (size_t)snprintf(text, sizeof text, "a: &a ");
    for (int i = 0; i < 40; i++) text[used++] = '[';
    for (int i = 0; i < 40; i++) text[used++] = ']';
    used += (size_t)snprintf(text + used, sizeof text - used, "\nb: ");
    for (int i = 0; i < 30; i++) text[used++] = '[';
    used += (size_t)snprintf(text + used, sizeof text - used, "*a");
    for (int i = 0; i < 30; i++) text[used++] = ']';
    snprintf(text + used, sizeof text - used, "\n");
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_ydoc doc;
    cr_expect_eq(gr_yaml_parse(&ctx, &doc, "m.yaml", text, strlen(text)), -1);
    cr_expect_str_eq(ctx.err, "m.yaml:2:34: nesting deeper than 64 levels (after expanding aliases)");
    gr_ctx_free(&ctx);
}

Test(overrides, unset_removes_a_key_or_a_node_and_nothing_when_absent) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    /* steps removed, epochs set: the run length follows epochs */
    const char *sets[] = {"train.steps=~", "train.epochs=2", "eval.every=null", "train.no_such_key=~"};
    cr_assert_eq(parse_with(&ctx, &cfg, sets, 4), 0, "%s", ctx.err);
    cr_expect_eq(cfg.steps, 0);
    cr_expect_eq(cfg.epochs, 2);
    cr_expect_eq(cfg.eval_every, 100, "eval.every removed falls back to its default, got %lld",
                 (long long)cfg.eval_every);
    cr_expect_null(gr_ymap_get(gr_ymap_get(cfg.doc.root, "train"), "steps"));
    gr_config_free(&ctx, &cfg);
    /* a list item by name: the node is gone, so the graph no longer has it */
    const char *drop[] = {"graph.logits=~"};
    cr_assert_eq(parse_with(&ctx, &cfg, drop, 1), 0, "%s", ctx.err);
    for (int i = 0; i < cfg.graph->n; i++) {
        const struct gr_ynode *nm = gr_ymap_get(cfg.graph->items[i], "name");
        cr_expect(!nm || strcmp(nm->str, "logits") != 0, "node 'logits' is still in the graph");
    }
    cr_expect_eq(cfg.graph->n, 6);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}
