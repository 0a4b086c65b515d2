/* Every op against an independent implementation: tests/fixtures/ops.json
 * holds PyTorch's outputs and gradients (computed in float64 by
 * tools/torch_fixtures.py, already in graphrun's layouts) for small random
 * inputs. Each case is built as the other op tests build theirs, fed the
 * fixture's inputs and weights, and run forward (training and evaluation)
 * and backward with dout = the fixture's r, the weights of L = sum(r * y).
 *
 * Tolerance, for every output and gradient element:
 *   |graphrun - torch| <= 1e-5 * |torch| + 1e-5 * rms(torch's tensor)
 * a relative error of 1e-5, with the tensor's own scale as the floor for
 * elements near 0 (float32 sums of tens of terms, and the recurrences' fast
 * sigmoid and tanh, whose absolute error is below 3e-7, stay well within it). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "helpers.h"

#define RTOL 1e-5

static json_t *load_cases(void) {
    json_error_t e;
    json_t *doc = json_load_file(GR_SOURCE_DIR "/tests/fixtures/ops.json", 0, &e);
    cr_assert_not_null(doc, "tests/fixtures/ops.json:%d: %s", e.line, e.text);
    json_t *cases = json_object_get(doc, "cases");
    cr_assert(json_is_array(cases) && json_array_size(cases) > 0);
    json_incref(cases);
    json_decref(doc);
    return cases;
}

/* Compare n floats of `got` with the JSON array `want`; returns the worst
 * error as a fraction of the tolerance. */
static double compare(const char *what, const char *name, const float *got, const json_t *want, size_t n) {
    cr_assert_eq(json_array_size(want), n, "%s: %s holds %zu values, the fixture %zu", name, what, n,
                 json_array_size(want));
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        double t = json_number_value(json_array_get(want, i));
        ss += t * t;
    }
    double floor = RTOL * sqrt(ss / (double)(n ? n : 1)), worst = 0;
    for (size_t i = 0; i < n; i++) {
        double t = json_number_value(json_array_get(want, i)), g = got[i];
        double bound = RTOL * fabs(t) + floor, ratio = fabs(g - t) / (bound > 0 ? bound : 1e-30);
        if (ratio > worst) worst = ratio;
        cr_expect(ratio <= 1.0, "%s: %s[%zu] = %.9g, torch %.9g (%.2f x tolerance)", name, what, i, g, t, ratio);
    }
    return worst;
}

/* Fill harness input k from the fixture. */
static void feed(struct gr_harness *h, int k, const json_t *in, const char *name) {
    const json_t *data = json_object_get(in, "data");
    size_t n = (size_t)gr_shape_count(&h->in[k].shape);
    cr_assert_eq(json_array_size(data), n, "%s: input %d holds %zu values, the fixture %zu", name, k, n,
                 json_array_size(data));
    const char *dtype = json_string_value(json_object_get(in, "dtype"));
    cr_assert_eq(h->in[k].dtype == GR_I32, strcmp(dtype, "i32") == 0, "%s: input %d's dtype", name, k);
    for (size_t i = 0; i < n; i++) {
        if (h->in[k].dtype == GR_I32) ((int32_t *)h->in[k].data)[i] = (int32_t)json_integer_value(json_array_get(data, i));
        else ((float *)h->in[k].data)[i] = (float)json_number_value(json_array_get(data, i));
    }
}

/* Build the case's graph at its batch and open a harness on node y (with
 * the case's train.seed, which keys a random op's stream). */
static void open_case(struct tgraph *t, struct gr_harness *h, const json_t *c, int training) {
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *yaml = json_string_value(json_object_get(c, "yaml"));
    cr_assert_eq(tg_build(t, yaml, json_integer_value(json_object_get(c, "batch"))), 0, "%s: %s", name, t->ctx.err);
    t->ctx.seed = (uint64_t)json_integer_value(json_object_get(c, "seed"));
    cr_assert_eq(gr_harness_init(h, &t->g, tg_node(t, "y"), training), 0, "%s: %s", name, t->ctx.err);
    const json_t *ins = json_object_get(c, "inputs");
    cr_assert_eq((int)json_array_size(ins), h->args.n_in, "%s: the node takes %d inputs, the fixture gives %zu", name,
                 h->args.n_in, json_array_size(ins));
    for (int k = 0; k < h->args.n_in; k++) feed(h, k, json_array_get(ins, k), name);
}

static void run_case(const json_t *c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    const json_t *want_y = json_object_get(json_object_get(c, "output"), "data");
    struct tgraph t;
    struct gr_harness h;

    /* training: forward, then backward with dout = r */
    open_case(&t, &h, c, 1);
    size_t n_out = (size_t)gr_shape_count(&h.out.shape);
    gr_harness_forward(&h);
    double worst = compare("output", name, h.out.data, want_y, n_out);
    const json_t *r = json_object_get(c, "dout");
    cr_assert_eq(json_array_size(r), n_out);
    for (size_t i = 0; i < n_out; i++) ((float *)h.dout.data)[i] = (float)json_number_value(json_array_get(r, i));
    gr_harness_backward(&h);
    const json_t *ins = json_object_get(c, "inputs");
    for (int k = 0; k < h.args.n_in; k++) {
        const json_t *grad = json_object_get(json_array_get(ins, k), "grad");
        cr_assert_eq(h.args.din[k] != NULL, json_is_array(grad), "%s: input %d takes a gradient in %s only", name, k,
                     h.args.din[k] ? "graphrun" : "torch");
        if (!h.args.din[k]) continue;
        char what[32];
        snprintf(what, sizeof what, "d input %d", k);
        double w = compare(what, name, h.din[k].data, grad, (size_t)gr_shape_count(&h.din[k].shape));
        worst = w > worst ? w : worst;
    }
    /* state an op updates in training (batch_norm's running statistics) */
    const json_t *after = json_object_get(c, "state_after");
    for (int k = 0; k < h.args.n_in; k++) {
        char key[16], what[40];
        snprintf(key, sizeof key, "%d", k);
        const json_t *want = json_object_get(after, key);
        if (!want) continue;
        snprintf(what, sizeof what, "input %d after training", k);
        double w = compare(what, name, h.in[k].data, want, (size_t)gr_shape_count(&h.in[k].shape));
        worst = w > worst ? w : worst;
    }
    cr_log_info("%s: worst %.3f x tolerance", name, worst);
    gr_harness_free(&h);
    tg_free(&t);

    /* evaluation (nothing saved; the recurrent ops take another path;
     * batch_norm's running statistics, dropout's identity) */
    open_case(&t, &h, c, 0);
    gr_harness_forward(&h);
    const json_t *want_eval = json_object_get(c, "eval_output");
    compare("evaluation output", name, h.out.data, want_eval ? want_eval : want_y, n_out);
    gr_harness_free(&h);
    tg_free(&t);
}

Test(fixtures, every_case_matches_pytorch) {
    json_t *cases = load_cases();
    for (size_t i = 0; i < json_array_size(cases); i++) run_case(json_array_get(cases, i));
    json_decref(cases);
}

/* The fixture covers every op it should: the new layers and the GRU's
 * match with torch.nn.GRU, forward and reversed, at B=3, T=5, I=4, H=6. */
Test(fixtures, the_fixture_covers_the_layers) {
    json_t *cases = load_cases();
    const char *want[] = {"conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool", "flatten", "leaky_relu", "gelu",
                          "log_softmax", "embedding", "mse", "layer_norm", "rnn", "gru", "lstm", "dropout",
                          "batch_norm"};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        char needle[64];
        snprintf(needle, sizeof needle, "op: %s,", want[w]);
        int found = 0;
        for (size_t i = 0; i < json_array_size(cases) && !found; i++)
            found = strstr(json_string_value(json_object_get(json_array_get(cases, i), "yaml")), needle) != NULL;
        cr_expect(found, "no fixture case for op '%s'", want[w]);
    }
    int gru = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(cases, i), "name"));
        gru += strstr(n, "gru B=3 T=5 I=4 H=6") != NULL && strstr(n, "torch.nn.GRU") != NULL;
    }
    cr_expect_eq(gru, 2, "the GRU against torch.nn.GRU, forward and reversed");
    json_decref(cases);
}
