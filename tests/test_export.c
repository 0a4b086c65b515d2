/* graphrun export: models trained briefly, exported to ONNX, accepted by
 * onnx's checker (Debian's python3-onnx) and run by ONNX Runtime (npm's
 * onnxruntime-node, tools/onnx_run.js) on 1,000 test images, which must
 * give eval --predictions' class for every image and its probability within
 * 1e-5; exports graphrun must refuse; and the hand-written protobuf
 * encoder's every field read back by onnx's own parser.
 *
 * Without python3-onnx or onnxruntime-node the tests that need them are
 * skipped, saying how to install them (tools/setup_onnx.sh, which CI runs). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "runtime/export/model.h"
#include "runtime/export/protobuf.h"

#define GRAPHRUN GR_BUILD_DIR "/graphrun"
#define PYTHON "/usr/bin/python3"

static char tmp[64];

static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "export"); }

static void remove_tmp(void) { tg_rmtree(tmp); }

TestSuite(export, .init = make_tmp, .fini = remove_tmp, .timeout = 600);

/* Where onnxruntime-node is looked for: the build tree's npm folder (this
 * build's, or the default build's, where tools/setup_onnx.sh installs it),
 * then node's own search. */
#define NODE_PATH GR_BUILD_DIR "/npm/node_modules:" GR_SOURCE_DIR "/build/npm/node_modules"

static void need_onnx_checker(void) {
    if (tg_sh(NULL, "%s -c 'import onnx' 2>/dev/null", PYTHON) != 0)
        cr_skip_test("python3-onnx is not installed, so onnx's checker cannot read the exported models: "
                     "apt-get install -y python3-onnx (bash tools/setup_onnx.sh installs it)");
}

static void need_onnx_runtime(void) {
    if (tg_sh(NULL, "NODE_PATH='%s' node -e \"require('onnxruntime-node')\" >/dev/null 2>&1", NODE_PATH) != 0)
        cr_skip_test("onnxruntime-node is not installed (or node is missing): npm install --ignore-scripts "
                     "--prefix build/npm onnxruntime-node@1.30.0 (about 290 MB; bash tools/setup_onnx.sh installs it there)");
}

/* onnx_check.py's description of the model, checked: opset 17, the batch
 * axis dynamic, the probabilities output, the metadata, and every
 * parameter written as an initializer holding the checkpoint's values. */
static void expect_checked(const char *model, const char *ckpt) {
    char *out;
    int rc = tg_sh(&out, "%s '%s/tools/onnx_check.py' '%s' --checkpoint '%s' 2>&1", PYTHON, GR_SOURCE_DIR, model, ckpt);
    cr_assert_eq(rc, 0, "onnx's checker refused %s: %s", model, out);
    json_error_t jerr;
    json_t *d = json_loads(out, 0, &jerr);
    cr_assert_not_null(d, "onnx_check.py: %s: %s", jerr.text, out);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(d, "opset"), "ai.onnx")), 17);
    cr_expect_eq(json_integer_value(json_object_get(d, "ir_version")), 8);
    json_t *in, *outs = json_object_get(d, "outputs");
    size_t k;
    json_array_foreach(json_object_get(d, "inputs"), k, in) {
        const char *batch = json_string_value(json_array_get(json_object_get(in, "dims"), 0));
        cr_expect(batch && !strcmp(batch, "batch"), "input %zu's axis 0 is not the dynamic batch", k);
    }
    cr_expect_eq(json_array_size(outs), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(outs, 1), "name")), "probabilities");
    json_t *meta = json_object_get(d, "metadata");
    cr_expect_str_eq(json_string_value(json_object_get(meta, "graphrun_version")), "0.1.0");
    const char *cfg = json_string_value(json_object_get(meta, "graphrun_config"));
    cr_expect(cfg && strstr(cfg, "graph:") && strstr(cfg, "eval"), "the metadata lacks the config: %s", cfg);
    cr_expect_gt(json_integer_value(json_object_get(d, "params_equal")), 0, "no parameter written as it is");
    cr_expect_eq(json_array_size(json_object_get(d, "params_differ")), 0, "initializers differ from the checkpoint");
    json_decref(d);
    free(out);
}

/* eval --predictions' rows against onnx_run.js's output: the number of
 * equal classes and the largest probability difference of eval's class. */
static void compare(const char *csv_path, const char *json_text, int *same, double *worst) {
    json_error_t jerr;
    json_t *d = json_loads(json_text, 0, &jerr);
    cr_assert_not_null(d, "onnx_run.js: %s: %.300s", jerr.text, json_text);
    json_t *classes = json_object_get(d, "classes"), *probs = json_object_get(d, "probabilities");
    cr_assert_eq(json_array_size(classes), 1000, "ONNX Runtime classified %zu images", json_array_size(classes));
    FILE *f = fopen(csv_path, "r");
    cr_assert_not_null(f);
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, f));
    int rows = 0;
    *same = 0;
    *worst = 0;
    long long idx, label, pred;
    double p;
    while (fscanf(f, "%lld,%lld,%lld,%lf\n", &idx, &label, &pred, &p) == 4) {
        cr_assert_eq(idx, rows);
        *same += json_integer_value(json_array_get(classes, (size_t)idx)) == pred;
        double q = json_real_value(json_array_get(json_array_get(probs, (size_t)idx), (size_t)pred));
        if (fabs(q - p) > *worst || isnan(q)) *worst = isnan(q) ? INFINITY : fabs(q - p);
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, 1000, "eval wrote %d rows", rows);
    json_decref(d);
}

/* CONFIG trained for a few hundred steps on one thread (with `sets`),
 * exported with its softmax, checked, then ONNX Runtime and eval on the
 * first 1000 test images: every class equal, probabilities within 1e-5. */
static void expect_agreement(const char *config, const char *sets, int labels) {
    need_onnx_checker();
    need_onnx_runtime();
    char *out;
    const char *data = "--set data.test.limit=1000 --set eval.samples=1000";
    int rc = tg_sh(&out, "'%s' train '%s' %s %s --threads 1 --run-dir '%s/run' --quiet 2>&1", GRAPHRUN, config, data,
                   sets, tmp);
    cr_assert_eq(rc, 0, "training failed: %s", out);
    free(out);
    rc = tg_sh(&out, "'%s' export '%s' %s %s --checkpoint '%s/run/checkpoint.safetensors' -o '%s/model.onnx' "
               "--softmax 2>&1", GRAPHRUN, config, data, sets, tmp, tmp);
    cr_assert_eq(rc, 0, "export failed: %s", out);
    free(out);
    char model[128], ckpt[128], csv[128];
    snprintf(model, sizeof model, "%s/model.onnx", tmp);
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", tmp);
    snprintf(csv, sizeof csv, "%s/pred.csv", tmp);
    expect_checked(model, ckpt);
    rc = tg_sh(&out, "'%s' eval '%s' %s %s --checkpoint '%s' --predictions '%s' 2>&1", GRAPHRUN, config, data, sets,
               ckpt, csv);
    cr_assert_eq(rc, 0, "eval failed: %s", out);
    free(out);
    rc = tg_sh(&out, "NODE_PATH='%s' node '%s/tools/onnx_run.js' '%s' '%s/data/mnist/t10k-images-idx3-ubyte' "
               "--count 1000 %s 2>&1", NODE_PATH, GR_SOURCE_DIR, model, GR_SOURCE_DIR,
               labels ? "--labels '" GR_SOURCE_DIR "/data/mnist/t10k-labels-idx1-ubyte'" : "");
    cr_assert_eq(rc, 0, "onnx_run.js failed: %s", out);
    int same;
    double worst;
    compare(csv, out, &same, &worst);
    free(out);
    fprintf(stderr, "export: %s: ONNX Runtime gives eval's class for %d of 1000 test images, probabilities within %.2g\n",
            strrchr(config, '/') + 1, same, worst);
    cr_expect_eq(same, 1000, "%s: ONNX Runtime agrees on %d of 1000 classes", config, same);
    cr_expect_leq(worst, 1e-5, "%s: a probability differs by %g", config, worst);
}

#define SHORT "--unset train.epochs --unset train.checkpoint --set train.steps=200 --set data.train.limit=6000"

Test(export, lstm_mnist_runs_in_onnx_runtime_as_in_graphrun) {
    expect_agreement(GR_SOURCE_DIR "/configs/lstm_mnist.yaml", SHORT, 0);
}

Test(export, gru_mnist_runs_in_onnx_runtime_as_in_graphrun) {
    expect_agreement(GR_SOURCE_DIR "/configs/gru_mnist.yaml", SHORT, 0);
}

Test(export, the_mlp_runs_in_onnx_runtime_as_in_graphrun) {
    expect_agreement(GR_SOURCE_DIR "/configs/mlp_layer_norm_mnist.yaml", SHORT, 0);
}

Test(export, a_cnn_runs_in_onnx_runtime_as_in_graphrun) {
    expect_agreement(GR_SOURCE_DIR "/tests/export_cnn.yaml", "", 0);
}

/* the shipped CNN (batch_norm and dropout among its layers), as a user would
 * export it after a short run */
Test(export, cnn_mnist_runs_in_onnx_runtime_as_in_graphrun) {
    expect_agreement(GR_SOURCE_DIR "/configs/cnn_mnist.yaml",
                     "--unset train.epochs --unset train.checkpoint --set train.steps=100 --set data.train.limit=6400",
                     0);
}

/* batch_norm as BatchNormalization with the running statistics (rank 4
 * through NCHW, rank 2 as it is), dropout as Identity */
Test(export, a_cnn_with_batch_norm_and_dropout_runs_in_onnx_runtime_as_in_graphrun) {
    expect_agreement(GR_SOURCE_DIR "/tests/export_cnn_bn.yaml", "", 0);
}

/* every lowering in one graph, the labels among its inputs (an embedding) */
Test(export, every_op_that_lowers_runs_in_onnx_runtime_as_in_graphrun) {
    expect_agreement(GR_SOURCE_DIR "/tests/export_ops.yaml", "", 1);
}

/* a plugin's own lowering (plugins/rms_norm) */
Test(export, a_plugin_op_with_a_lowering_runs_in_onnx_runtime_as_in_graphrun) {
    expect_agreement(GR_SOURCE_DIR "/configs/mlp_rms_norm_mnist.yaml",
                     SHORT " --set plugins=[" GR_BUILD_DIR "/plugins/graphrun_rms_norm.so]", 0);
}

/* ---- what export refuses ------------------------------------------------------ */

/* A config of the gru_v1 plugin (an op without a lowering), trained for
 * 10 steps into tmp/run. */
static void train_gru_v1(char *cfg, size_t len) {
    snprintf(cfg, len, "%s/gru_v1.yaml", tmp);
    char text[2048];
    snprintf(text, sizeof text,
             "plugins: [%s/plugins/graphrun_gru_v1.so]\n"
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte,"
             " limit: 640}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte,"
             " limit: 100}\n"
             "graph:\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {op: reshape, shape: [28, 28]}\n"
             "  - {name: gru, op: gru_v1, num_units: 8}\n"
             "  - {op: slice, axis: 1, index: -1}\n"
             "  - {name: logits, op: dense, units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: 32, steps: 10, threads: 1}\n"
             "eval: {logits: logits, samples: 100}\n",
             GR_BUILD_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR);
    tg_write_text(cfg, text);
    char *out;
    int rc = tg_sh(&out, "'%s' train '%s' --run-dir '%s/run' --quiet 2>&1", GRAPHRUN, cfg, tmp);
    cr_assert_eq(rc, 0, "training gru_v1 failed: %s", out);
    free(out);
}

static void run_export(struct tg_proc *p, const char *cfg, const char *const *sets, int n_sets) {
    char ckpt[128], model[128];
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", tmp);
    snprintf(model, sizeof model, "%s/model.onnx", tmp);
    const char *argv[16] = {"export", cfg, "--checkpoint", ckpt, "-o", model};
    for (int i = 0; i < n_sets; i++) argv[6 + i] = sets[i];
    tg_run(tmp, p, NULL, argv);
}

Test(export, a_plugin_op_without_a_lowering_is_refused_with_one_line) {
    char cfg[128], model[128];
    train_gru_v1(cfg, sizeof cfg);
    struct tg_proc p;
    run_export(&p, cfg, NULL, 0);
    tg_expect_one_line(&p, "node 'gru': op 'gru_v1' has no ONNX lowering, so graphrun export cannot write this graph",
                       "gru_v1");
    cr_expect(strstr(p.err, "gru_v1.yaml:"), "the line does not point into the config: %s", p.err);
    tg_proc_free(&p);
    snprintf(model, sizeof model, "%s/model.onnx", tmp);
    cr_expect(!tg_exists(model), "a refused export left %s", model);
}

Test(export, a_checkpoint_of_another_graph_is_refused_with_one_line) {
    char *out;
    int rc = tg_sh(&out, "'%s' train '%s/configs/lstm_mnist.yaml' --set train.steps=5 --set data.train.limit=640 "
                   "--set graph.lstm.num_units=8 --threads 1 --run-dir '%s/run' --quiet 2>&1", GRAPHRUN,
                   GR_SOURCE_DIR, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    struct tg_proc p;
    const char *units[] = {"--set", "graph.lstm.num_units=16"};
    run_export(&p, GR_SOURCE_DIR "/configs/lstm_mnist.yaml", units, 2);
    tg_expect_one_line(&p, "tensor 'param/lstm.kernel' is F32 [36, 32] in the checkpoint but F32 [44, 64] in this run",
                       "other units");
    tg_proc_free(&p);
    run_export(&p, GR_SOURCE_DIR "/configs/gru_mnist.yaml", NULL, 0);
    tg_expect_one_line(&p, "no tensor 'param/gru.kernel' (a parameter of this graph)", "another model");
    tg_proc_free(&p);
    char model[128];
    snprintf(model, sizeof model, "%s/model.onnx", tmp);
    cr_expect(!tg_exists(model), "a refused export left %s", model);
}

Test(export, usage_errors_and_an_unwritable_file) {
    struct tg_proc p;
    tg_run(tmp, &p, NULL, (const char *[]){"export", GR_SOURCE_DIR "/configs/lstm_mnist.yaml", "--checkpoint", "x",
                                           NULL});
    cr_expect_eq(p.status, 2, "export without -o: status %d", p.status);
    cr_expect(strstr(p.err, "-o FILE is required"), "%s", p.err);
    tg_proc_free(&p);
    char *out;
    int rc = tg_sh(&out, "'%s' train '%s/configs/lstm_mnist.yaml' --set train.steps=2 --set data.train.limit=640 "
                   "--threads 1 --run-dir '%s/run' --quiet 2>&1", GRAPHRUN, GR_SOURCE_DIR, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char ckpt[128], model[128];
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", tmp);
    snprintf(model, sizeof model, "%s/no/such/folder/model.onnx", tmp);
    tg_run(tmp, &p, NULL, (const char *[]){"export", GR_SOURCE_DIR "/configs/lstm_mnist.yaml", "--checkpoint", ckpt,
                                           "-o", model, NULL});
    tg_expect_one_line(&p, "model.onnx: cannot write: No such file or directory", "a missing folder");
    tg_proc_free(&p);
}

/* ---- the encoder, read back by onnx's parser ---------------------------------- */

/* Every field graphrun writes, dumped by onnx's parser as JSON. */
static const char dump_py[] =
    "import json, sys, onnx\n"
    "from onnx import numpy_helper, helper\n"
    "m = onnx.load(sys.argv[1])\n"
    "def attr(a):\n"
    "    v = helper.get_attribute_value(a)\n"
    "    if a.type == onnx.AttributeProto.TENSOR: v = {'dims': list(v.dims), 'values': numpy_helper.to_array(v).ravel().tolist()}\n"
    "    elif a.type == onnx.AttributeProto.STRING: v = v.decode('utf-8')\n"
    "    else: v = list(v) if a.type in (6, 7) else v\n"
    "    return [a.type, v]\n"
    "def dims(v): return [d.dim_param if d.HasField('dim_param') else d.dim_value for d in v.type.tensor_type.shape.dim]\n"
    "g = m.graph\n"
    "print(json.dumps({'ir': m.ir_version, 'opset': [[o.domain, o.version] for o in m.opset_import],\n"
    "  'producer': [m.producer_name, m.producer_version], 'doc': m.doc_string, 'name': g.name,\n"
    "  'meta': [[p.key, p.value] for p in m.metadata_props],\n"
    "  'nodes': [[n.name, n.op_type, list(n.input), list(n.output), {a.name: attr(a) for a in n.attribute}] for n in g.node],\n"
    "  'inits': [[t.name, t.data_type, list(t.dims), numpy_helper.to_array(t).ravel().tolist()] for t in g.initializer],\n"
    "  'inputs': [[v.name, v.type.tensor_type.elem_type, dims(v)] for v in g.input],\n"
    "  'outputs': [[v.name, v.type.tensor_type.elem_type, dims(v)] for v in g.output]}))\n";

static const float w_vals[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, 0.1f};
static const int64_t k_vals[4] = {0, -1, (int64_t)1 << 40, INT64_MIN + 1};
static const int32_t i_vals[2] = {-7, INT32_MAX};
static const float s_val = 42.0f;

/* A model of every field and attribute type, not a runnable one. */
static void build_model(struct gr_onnx_model *m) {
    cr_assert_not_null(gr_onnx_name_take(m, "x", 1));
    m->inputs[m->n_inputs++] = (struct gr_onnx_value){"x", GR_ONNX_FLOAT, 2, 1, {64, 3}};
    const int64_t wd[2] = {2, 3}, kd[1] = {4}, id[1] = {2}, td[2] = {2, 2};
    cr_assert_eq(gr_onnx_add_init(m, "w", GR_ONNX_FLOAT, 2, wd, w_vals), 0);
    cr_assert_eq(gr_onnx_add_init(m, "k", GR_ONNX_INT64, 1, kd, k_vals), 0);
    cr_assert_eq(gr_onnx_add_init(m, "i32", GR_ONNX_INT32, 1, id, i_vals), 0);
    cr_assert_eq(gr_onnx_add_init(m, "s", GR_ONNX_FLOAT, 0, NULL, &s_val), 0);
    cr_assert_eq(gr_onnx_add_init(m, "unused", GR_ONNX_FLOAT, 1, id, w_vals), 0);
    static const float tv[4] = {1, 2, 3, 4}, fs[2] = {0.5f, -1e10f};
    static const int64_t is[3] = {1, -1, (int64_t)1 << 40};
    struct gr_onnx_attr value = gr_onnx_tensor("value", 2, td, tv);
    const char *c[1] = {"c"}, *y[1] = {"y"}, *in[5] = {"x", "", "w", "k", "i32"}, *s_in[2] = {"c", "s"};
    cr_assert_eq(gr_onnx_add_node(m, "n0", "Constant", 0, NULL, 1, c, 1, &value), 0, "%s", m->ctx->err);
    struct gr_onnx_attr at[5] = {gr_onnx_int("i", -5), gr_onnx_float("f", 0.1f),
                                 gr_onnx_string("s", "\xc3\xa9 \"q\"\n"), gr_onnx_ints("is", 3, is),
                                 gr_onnx_floats("fs", 2, fs)};
    cr_assert_eq(gr_onnx_add_node(m, "n1", "Whatever", 5, in, 1, y, 5, at), 0, "%s", m->ctx->err);
    const char *z[1] = {"z"};
    cr_assert_eq(gr_onnx_add_node(m, "n2", "Add", 2, s_in, 1, z, 0, NULL), 0);
    cr_expect_neq(gr_onnx_add_node(m, "n3", "Add", 2, s_in, 1, z, 0, NULL), 0, "an output defined twice");
    const char *nowhere[1] = {"nowhere"};
    cr_expect_neq(gr_onnx_add_node(m, "n4", "Relu", 1, nowhere, 1, c, 0, NULL), 0, "an undefined input");
    m->outputs[m->n_outputs++] = (struct gr_onnx_value){"y", GR_ONNX_FLOAT, 2, 1, {64, 2}};
    m->meta_key[m->n_meta] = "graphrun_config";
    m->meta_value[m->n_meta++] = "graph:\n  - {name: x}  # \xc3\xa9\n";
    m->graph_name = "g";
    m->producer_version = "9.9.9";
    m->doc = "a doc";
}

static json_t *at(json_t *a, size_t i) { return json_array_get(a, i); }
static double num(json_t *v) { return json_number_value(v); }

Test(export, every_field_the_encoder_writes_reads_back_through_onnx) {
    need_onnx_checker();
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_onnx_model m;
    gr_onnx_model_init(&m, &ctx);
    build_model(&m);
    gr_onnx_mark_used(&m);
    char path[128], py[128];
    snprintf(path, sizeof path, "%s/m.onnx", tmp);
    snprintf(py, sizeof py, "%s/dump.py", tmp);
    cr_assert_eq(gr_onnx_write(&m, path), 0, "%s", ctx.err);
    gr_onnx_model_free(&m);
    gr_ctx_free(&ctx);
    tg_write_text(py, dump_py);
    char *out;
    cr_assert_eq(tg_sh(&out, "%s '%s' '%s' 2>&1", PYTHON, py, path), 0, "onnx cannot read it: %s", out);
    json_error_t jerr;
    json_t *d = json_loads(out, 0, &jerr);
    cr_assert_not_null(d, "%s: %s", jerr.text, out);
    free(out);
    cr_expect_eq(json_integer_value(json_object_get(d, "ir")), 8);
    json_t *opset = at(json_object_get(d, "opset"), 0), *meta = at(json_object_get(d, "meta"), 0);
    cr_expect_str_eq(json_string_value(at(opset, 0)), "");
    cr_expect_eq(json_integer_value(at(opset, 1)), 17);
    cr_expect_str_eq(json_string_value(at(json_object_get(d, "producer"), 1)), "9.9.9");
    cr_expect_str_eq(json_string_value(json_object_get(d, "doc")), "a doc");
    cr_expect_str_eq(json_string_value(at(meta, 1)), "graph:\n  - {name: x}  # \xc3\xa9\n");
    json_t *inits = json_object_get(d, "inits");
    cr_assert_eq(json_array_size(inits), 4, "the unused initializer is written");
    for (int k = 0; k < 6; k++) cr_expect_eq((float)num(at(at(at(inits, 0), 3), (size_t)k)), w_vals[k]);
    for (int k = 0; k < 4; k++) cr_expect_eq(json_integer_value(at(at(at(inits, 1), 3), (size_t)k)), k_vals[k]);
    for (int k = 0; k < 2; k++) cr_expect_eq(json_integer_value(at(at(at(inits, 2), 3), (size_t)k)), i_vals[k]);
    cr_expect_eq(json_integer_value(at(at(inits, 2), 1)), 6, "int32 is ONNX type 6");
    cr_expect_eq(json_array_size(at(at(inits, 3), 2)), 0, "a scalar has no dims");
    cr_expect_eq(num(at(at(at(inits, 3), 3), 0)), 42.0);
    json_t *n0 = at(json_object_get(d, "nodes"), 0), *n1 = at(json_object_get(d, "nodes"), 1);
    json_t *value = at(json_object_get(at(n0, 4), "value"), 1);
    cr_expect_eq(json_integer_value(at(json_object_get(value, "dims"), 1)), 2);
    cr_expect_eq(num(at(json_object_get(value, "values"), 3)), 4.0);
    cr_expect_str_eq(json_string_value(at(at(n1, 2), 1)), "", "the skipped optional input");
    json_t *a = at(n1, 4);
    cr_expect_eq(json_integer_value(at(json_object_get(a, "i"), 1)), -5);
    cr_expect_eq((float)num(at(json_object_get(a, "f"), 1)), 0.1f);
    cr_expect_str_eq(json_string_value(at(json_object_get(a, "s"), 1)), "\xc3\xa9 \"q\"\n");
    cr_expect_eq(json_integer_value(at(at(json_object_get(a, "is"), 1), 2)), (int64_t)1 << 40);
    cr_expect_eq(json_integer_value(at(at(json_object_get(a, "is"), 1), 1)), -1);
    cr_expect_eq((float)num(at(at(json_object_get(a, "fs"), 1), 1)), -1e10f);
    json_t *x = at(json_object_get(d, "inputs"), 0), *y = at(json_object_get(d, "outputs"), 0);
    cr_expect_str_eq(json_string_value(at(at(x, 2), 0)), "batch");
    cr_expect_eq(json_integer_value(at(at(x, 2), 1)), 3);
    cr_expect_eq(json_integer_value(at(at(y, 2), 1)), 2);
    json_decref(d);
}
