/* Optimizers: each built-in one against its published update rule, written
 * here again in double precision from the papers' and PyTorch's equations,
 * for six steps; against PyTorch's own optimizers (tests/fixtures/optim.json,
 * written by tools/torch_optim_fixtures.py); and what the runner adds: weight
 * decay spared by segment, frozen parameters left alone, the gradient's norm
 * independent of the thread count, clipping by norm and by value.
 *
 * Tolerance for a parameter after n steps, float32 against the reference:
 *   |graphrun - reference| <= 1e-6 |reference| + 1e-7
 * (the parameters are 0.5 to 1.5 in magnitude; a handful of float32
 * roundings per step stay below it). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "runtime/engine/optim.h"
#include "runtime/host/registry.h"
#include "runtime/host/threads.h"
#include "runtime/session/state.h"

#define N 7
#define STEPS 6
#define RTOL 1e-6
#define ATOL 1e-7

/* Returns the worst error as a fraction of the tolerance. */
static double expect_close(const char *what, int step, const float *got, const double *want, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double bound = RTOL * fabs(want[i]) + ATOL, err = fabs(got[i] - want[i]);
        worst = err / bound > worst ? err / bound : worst;
        cr_expect(err <= bound, "%s, step %d: p[%d] = %.9g, expected %.9g", what, step + 1, i, (double)got[i],
                  want[i]);
    }
    return worst;
}

/* The start and the gradients: magnitudes 0.5 to 1.5, shrinking gradients. */
static void start_values(double *p, double g[STEPS][N]) {
    for (int i = 0; i < N; i++) p[i] = (i % 2 ? -1 : 1) * (0.5 + 0.13 * i);
    for (int k = 0; k < STEPS; k++)
        for (int i = 0; i < N; i++) g[k][i] = (float)(sin(1.0 + 3.0 * i + 7.0 * k) / (1 + k));
}

/* The reference: one published rule in double, state in s[3][N]. */
typedef void (*rule_fn)(const double *hp, double lr, int t, double *p, const double *g, double s[3][N]);

static void run_case(const char *name, double lr, const char *const *keys, const double *vals, int n_keys,
                     rule_fn rule, const double *hp) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_optim_cfg oc;
    tg_optim(&oc, name, lr, NULL);
    for (int k = 0; k < n_keys; k++) oc.hp[gr_optim_key_index(oc.desc, keys[k])] = vals[k];
    struct gr_optim o;
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, N), 0);
    double ref[N], g[STEPS][N], s[3][N] = {{0}};
    start_values(ref, g);
    float p[N], gf[N];
    for (int i = 0; i < N; i++) p[i] = (float)ref[i], ref[i] = p[i];
    for (int k = 0; k < STEPS; k++) {
        for (int i = 0; i < N; i++) gf[i] = (float)g[k][i];
        gr_optim_step(&o, NULL, p, gf);
        rule(hp, lr, k + 1, ref, g[k], s);
        expect_close(name, k, p, ref, N);
    }
    gr_optim_free(&ctx, &o);
    gr_ctx_free(&ctx);
}

/* torch.optim.SGD: g += wd p; b = mu b + g (b = g at first); nesterov: g + mu b */
static void sgd_rule(const double *hp, double lr, int t, double *p, const double *g, double s[3][N]) {
    double mu = hp[0], wd = hp[2];
    for (int i = 0; i < N; i++) {
        double gi = g[i] + wd * p[i];
        s[0][i] = t == 1 ? gi : mu * s[0][i] + gi;
        p[i] -= lr * (hp[1] ? gi + mu * s[0][i] : mu ? s[0][i] : gi);
    }
}

/* Kingma & Ba, Algorithm 1; AMSGrad (Reddi et al.) divides by max v */
static void adam_rule(const double *hp, double lr, int t, double *p, const double *g, double s[3][N]) {
    double b1 = hp[0], b2 = hp[1], eps = hp[2], wd = hp[3];
    for (int i = 0; i < N; i++) {
        double gi = g[i] + wd * p[i];
        s[0][i] = b1 * s[0][i] + (1 - b1) * gi;
        s[1][i] = b2 * s[1][i] + (1 - b2) * gi * gi;
        s[2][i] = fmax(s[2][i], s[1][i]);
        double v = hp[4] ? s[2][i] : s[1][i];
        p[i] -= lr * (s[0][i] / (1 - pow(b1, t))) / (sqrt(v / (1 - pow(b2, t))) + eps);
    }
}

/* Loshchilov & Hutter: the decay applied to p itself, then Adam's step */
static void adamw_rule(const double *hp, double lr, int t, double *p, const double *g, double s[3][N]) {
    double wd = hp[3], plain[5] = {hp[0], hp[1], hp[2], 0, hp[4]};
    for (int i = 0; i < N; i++) p[i] *= 1 - lr * wd;
    adam_rule(plain, lr, t, p, g, s);
}

/* Hinton's RMSprop; centered (Graves 2013) divides by the variance's root */
static void rmsprop_rule(const double *hp, double lr, int t, double *p, const double *g, double s[3][N]) {
    (void)t;
    double rho = hp[0], eps = hp[1], mu = hp[2], wd = hp[4];
    for (int i = 0; i < N; i++) {
        double gi = g[i] + wd * p[i];
        s[0][i] = rho * s[0][i] + (1 - rho) * gi * gi;
        s[1][i] = rho * s[1][i] + (1 - rho) * gi;
        double d = sqrt(hp[3] ? s[0][i] - s[1][i] * s[1][i] : s[0][i]) + eps;
        s[2][i] = mu * s[2][i] + gi / d;
        p[i] -= lr * (mu ? s[2][i] : gi / d);
    }
}

/* Duchi et al.'s AdaGrad with torch's lr_decay and starting sum */
static void adagrad_rule(const double *hp, double lr, int t, double *p, const double *g, double s[3][N]) {
    double eps = hp[0], decay = hp[1], init = hp[2], wd = hp[3];
    for (int i = 0; i < N; i++) {
        if (t == 1) s[0][i] = init;
        double gi = g[i] + wd * p[i];
        s[0][i] += gi * gi;
        p[i] -= lr / (1 + (t - 1) * decay) * gi / (sqrt(s[0][i]) + eps);
    }
}

Test(optim, sgd_plain_momentum_nesterov_and_decay_follow_their_rule) {
    const char *keys[] = {"momentum", "nesterov", "weight_decay"};
    double plain[] = {0, 0, 0}, momentum[] = {0.9, 0, 0.01}, nesterov[] = {0.8, 1, 0.001};
    run_case("sgd", 0.1, keys, plain, 3, sgd_rule, plain);
    run_case("sgd", 0.1, keys, momentum, 3, sgd_rule, momentum);
    run_case("sgd", 0.05, keys, nesterov, 3, sgd_rule, nesterov);
}

Test(optim, adam_with_amsgrad_and_decay_follows_its_rule) {
    const char *keys[] = {"beta1", "beta2", "epsilon", "weight_decay", "amsgrad"};
    double plain[] = {0.9, 0.999, 1e-8, 0, 0}, ams[] = {0.8, 0.99, 1e-6, 0.01, 1};
    run_case("adam", 0.01, keys, plain, 5, adam_rule, plain);
    run_case("adam", 0.02, keys, ams, 5, adam_rule, ams);
}

Test(optim, adamw_decays_the_parameters_apart_from_the_gradient) {
    const char *keys[] = {"beta1", "beta2", "epsilon", "weight_decay", "amsgrad"};
    double plain[] = {0.9, 0.999, 1e-8, 0.01, 0}, ams[] = {0.9, 0.99, 1e-8, 0.1, 1};
    run_case("adamw", 0.01, keys, plain, 5, adamw_rule, plain);
    run_case("adamw", 0.02, keys, ams, 5, adamw_rule, ams);
}

Test(optim, rmsprop_plain_centered_and_with_momentum_follows_its_rule) {
    const char *keys[] = {"rho", "epsilon", "momentum", "centered", "weight_decay"};
    double plain[] = {0.99, 1e-8, 0, 0, 0}, both[] = {0.9, 1e-8, 0.9, 1, 0.01}, mom[] = {0.95, 1e-6, 0.5, 0, 0};
    run_case("rmsprop", 0.01, keys, plain, 5, rmsprop_rule, plain);
    run_case("rmsprop", 0.01, keys, both, 5, rmsprop_rule, both);
    run_case("rmsprop", 0.005, keys, mom, 5, rmsprop_rule, mom);
}

Test(optim, adagrad_with_decay_and_a_starting_sum_follows_its_rule) {
    const char *keys[] = {"epsilon", "lr_decay", "initial_accumulator_value", "weight_decay"};
    double plain[] = {1e-10, 0, 0, 0}, more[] = {1e-10, 0.1, 0.1, 0.01};
    run_case("adagrad", 0.1, keys, plain, 4, adagrad_rule, plain);
    run_case("adagrad", 0.1, keys, more, 4, adagrad_rule, more);
}

/* Worked by hand, without a reference implementation: the first steps of
 * the rules whose shape is easy to see. */
Test(optim, first_steps_by_hand) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_optim o;
    struct gr_optim_cfg oc;
    /* nesterov, momentum 0.5, lr 1, g = 2 each step: b = 2, p -= 2 + 1; b = 3, p -= 2 + 1.5 */
    tg_optim(&oc, "sgd", 1.0, "momentum", 0.5, "nesterov", 1.0, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 1), 0);
    float p = 10, g = 2;
    gr_optim_step(&o, NULL, &p, &g);
    cr_expect_float_eq(p, 7.0f, 1e-6f);
    gr_optim_step(&o, NULL, &p, &g);
    cr_expect_float_eq(p, 3.5f, 1e-6f);
    gr_optim_free(&ctx, &o);
    /* adagrad, lr 1, g = 3 then 4: s = 9, p -= 3/3; s = 25, p -= 4/5 */
    tg_optim(&oc, "adagrad", 1.0, "epsilon", 1e-10, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 1), 0);
    p = 5;
    g = 3;
    gr_optim_step(&o, NULL, &p, &g);
    cr_expect_float_eq(p, 4.0f, 1e-6f);
    g = 4;
    gr_optim_step(&o, NULL, &p, &g);
    cr_expect_float_eq(p, 3.2f, 1e-6f);
    gr_optim_free(&ctx, &o);
    /* adamw, lr 0.1, decay 0.5: p = 2 -> 2 * 0.95 = 1.9, then Adam's first step, -0.1 sign(g) */
    tg_optim(&oc, "adamw", 0.1, "weight_decay", 0.5, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 1), 0);
    p = 2;
    g = -0.25f;
    gr_optim_step(&o, NULL, &p, &g);
    cr_expect_float_eq(p, 2.0f, 1e-6f, "1.9 + 0.1 = %.7f", (double)p);
    gr_optim_free(&ctx, &o);
    /* rmsprop, rho 0.5, lr 1, g = 2: s = 2, p -= 2 / sqrt(2) */
    tg_optim(&oc, "rmsprop", 1.0, "rho", 0.5, "epsilon", 1e-12, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 1), 0);
    p = 0;
    g = 2;
    gr_optim_step(&o, NULL, &p, &g);
    cr_expect_float_eq(p, -sqrtf(2.0f), 1e-6f);
    gr_optim_free(&ctx, &o);
    gr_ctx_free(&ctx);
}

/* A state declared only with a key is held (and checkpointed) only then;
 * a state may start at a key's value. */
Test(optim, optional_states_are_held_only_with_their_key) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_optim o;
    struct gr_optim_cfg oc;
    tg_optim(&oc, "adam", 0.1, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 3), 0);
    cr_expect(gr_optim_state(&o, "m") && gr_optim_state(&o, "v") && !gr_optim_state(&o, "vmax"));
    gr_optim_free(&ctx, &o);
    tg_optim(&oc, "adam", 0.1, "amsgrad", 1.0, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 3), 0);
    cr_expect(gr_optim_state(&o, "vmax") != NULL);
    gr_optim_free(&ctx, &o);
    tg_optim(&oc, "rmsprop", 0.1, "centered", 1.0, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 3), 0);
    cr_expect(gr_optim_state(&o, "grad_avg") && !gr_optim_state(&o, "momentum_buffer"));
    gr_optim_free(&ctx, &o);
    tg_optim(&oc, "adagrad", 0.1, "initial_accumulator_value", 0.25, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 3), 0);
    for (int i = 0; i < 3; i++) cr_expect_eq(gr_optim_state(&o, "sum")[i], 0.25f);
    gr_optim_free(&ctx, &o);
    gr_ctx_free(&ctx);
}

/* Segments: the decay multiplier per stretch, and what no segment covers
 * is never updated. */
Test(optim, segments_spare_the_decay_and_leave_gaps_alone) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_optim o;
    struct gr_optim_cfg oc;
    tg_optim(&oc, "sgd", 0.5, "weight_decay", 0.1, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 48), 0);
    struct gr_optim_seg seg[] = {{0, 16, 1.0}, {16, 32, 0.0}};
    cr_assert_eq(gr_optim_set_segments(&ctx, &o, seg, 2), 0);
    float p[48], g[48];
    for (int i = 0; i < 48; i++) p[i] = 2, g[i] = 1;
    gr_optim_step(&o, NULL, p, g);
    for (int i = 0; i < 48; i++) {
        float want = i < 16 ? 2 - 0.5f * (1 + 0.1f * 2) : i < 32 ? 2 - 0.5f : 2;
        cr_expect_float_eq(p[i], want, 1e-6f, "p[%d] = %g, expected %g", i, (double)p[i], (double)want);
    }
    gr_optim_free(&ctx, &o);
    gr_ctx_free(&ctx);
}

/* The norm's blocks do not depend on the pool: 1, 2 and 3 threads give the
 * same bits, equal to the norm taken in the documented order (runtime/engine/optim.h). */
Test(optim, the_gradient_norm_is_the_same_bits_with_any_thread_count) {
    int64_t n = 3 * GR_NORM_BLOCK + 77;
    float *g = malloc((size_t)n * sizeof *g);
    double want = 0;
    for (int64_t i = 0; i < n; i++) g[i] = (float)sin(0.37 * (double)i) * (i % 5 ? 1.0f : 30.0f);
    for (int64_t b = 0; b < n; b += GR_NORM_BLOCK) {
        double lane[GR_NORM_LANES] = {0}, part = 0;
        for (int64_t i = b; i < n && i < b + GR_NORM_BLOCK; i++) lane[(i - b) % GR_NORM_LANES] += (double)g[i] * g[i];
        for (int l = 0; l < GR_NORM_LANES; l++) part += lane[l];
        want += part;
    }
    for (int threads = 1; threads <= 3; threads++) {
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        cr_assert_eq(gr_ctx_set_threads(&ctx, threads), 0);
        struct gr_optim o;
        struct gr_optim_cfg oc;
        tg_optim(&oc, "sgd", 0.1, NULL);
        cr_assert_eq(gr_optim_init(&ctx, &o, &oc, n), 0);
        double got = gr_optim_grad_sumsq(&o, ctx.pool, g);
        cr_expect(got == want, "%d threads: %.17g, expected %.17g", threads, got, want);
        gr_optim_free(&ctx, &o);
        gr_ctx_free(&ctx);
    }
    free(g);
}

/* ---- against PyTorch ------------------------------------------------------ */

static json_t *fixture(const char *part) {
    json_error_t e;
    json_t *doc = json_load_file(GR_SOURCE_DIR "/tests/fixtures/optim.json", 0, &e);
    cr_assert_not_null(doc, "tests/fixtures/optim.json:%d: %s", e.line, e.text);
    json_t *cases = json_object_get(doc, part);
    cr_assert(json_is_array(cases) && json_array_size(cases) > 0);
    json_incref(cases);
    json_decref(doc);
    return cases;
}

static void floats_of(const json_t *a, float *out, size_t n, const char *name) {
    cr_assert_eq(json_array_size(a), n, "%s: %zu values, expected %zu", name, json_array_size(a), n);
    for (size_t i = 0; i < n; i++) out[i] = (float)json_number_value(json_array_get(a, i));
}

Test(optim, every_optimizer_matches_pytorch_step_by_step) {
    json_t *cases = fixture("optimizers");
    size_t k;
    json_t *c;
    int seen[8] = {0};
    json_array_foreach(cases, k, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *kind = json_string_value(json_object_get(c, "optimizer"));
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        struct gr_optim_cfg oc;
        tg_optim(&oc, kind, json_number_value(json_object_get(c, "lr")), NULL);
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(c, "keys"), key, v) {
            int i = gr_optim_key_index(oc.desc, key);
            cr_assert_geq(i, 0, "%s: no key %s", name, key);
            oc.hp[i] = json_number_value(v);
        }
        for (int i = 0; i < gr_optim_builtin_count; i++) seen[i] |= gr_optim_builtin[i] == oc.desc;
        struct gr_optim o;
        cr_assert_eq(gr_optim_init(&ctx, &o, &oc, N), 0);
        float p[N], g[N], want[N];
        double worst = 0;
        floats_of(json_object_get(c, "param"), p, N, name);
        json_t *grads = json_object_get(c, "grads"), *after = json_object_get(c, "after");
        for (size_t s = 0; s < json_array_size(grads); s++) {
            floats_of(json_array_get(grads, s), g, N, name);
            floats_of(json_array_get(after, s), want, N, name);
            gr_optim_step(&o, NULL, p, g);
            double w[N];
            for (int i = 0; i < N; i++) w[i] = want[i];
            double r = expect_close(name, (int)s, p, w, N);
            worst = r > worst ? r : worst;
        }
        cr_log_info("%s: worst error %.3f of the tolerance", name, worst);
        gr_optim_free(&ctx, &o);
        gr_ctx_free(&ctx);
    }
    for (int i = 0; i < gr_optim_builtin_count; i++)
        cr_expect(seen[i], "no PyTorch fixture for optimizer %s", gr_optim_builtin[i]->name);
    json_decref(cases);
}
