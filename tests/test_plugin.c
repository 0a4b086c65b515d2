/* Plugins as a user builds them: graphrun's header installed to a prefix, a
 * plugin compiled out of tree against it, then loaded by the unmodified
 * graphrun binary to list, gradient-check and train. And every way a plugin
 * can be wrong, each refused with a message naming the file. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static char dir[64];
static char *out; /* the output of the last sh() */

/* Run a shell command; its stdout and stderr land in `out`. Returns the exit
 * status, or -1 if a signal ended it. */
static int sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    free(out);
    out = NULL;
    return tg_sh(&out, "(%s) 2>&1", cmd);
}

static void setup(void) {
    tg_tmpdir(dir, sizeof dir, "plugin");
    /* install graphrun's public header the way a user would */
    cr_assert_eq(sh("cmake --install %s --prefix %s/prefix", GR_BUILD_DIR, dir), 0, "install failed: %s", out);
}

static void teardown(void) {
    free(out);
    out = NULL;
    tg_rmtree(dir);
}

TestSuite(plugin, .init = setup, .fini = teardown, .timeout = 300);

/* Compile `src` (a file) into dir/name.so against the installed header
 * (include_dir overrides it). */
static int build_plugin(const char *src, const char *name, const char *include_dir) {
    char inc[512];
    if (include_dir) snprintf(inc, sizeof inc, "-I%s", include_dir);
    else snprintf(inc, sizeof inc, "$(PKG_CONFIG_PATH=%s/prefix/lib/pkgconfig pkg-config --cflags graphrun-plugin)", dir);
    return sh("cc -std=c11 -O2 -Wall -Wextra -shared -fPIC %s %s -o %s/%s.so -lm", inc, src, dir, name);
}

static void write_file(const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* The reference model on a slice of MNIST with the lstm node replaced by
 * `op` (num_units 32), the plugin named by `plugin`. */
static void write_config(const char *name, const char *plugin, const char *op) {
    char text[4096];
    snprintf(text, sizeof text,
             "plugins: [%s]\n"
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte, limit: 6000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte, limit: 1000}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: rows, op: reshape, inputs: [image], shape: [28, 28]}\n"
             "  - {name: rnn, op: %s, inputs: [rows], num_units: 32}\n"
             "  - {name: last, op: slice, inputs: [rnn], axis: 1, index: -1}\n"
             "  - {name: logits, op: dense, inputs: [last], units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: 64, steps: 300, seed: 3}\n"
             "eval: {logits: logits, every: 300, samples: 1000}\n",
             plugin, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, op);
    write_file(name, text);
}

#define GRAPHRUN GR_BUILD_DIR "/graphrun"

Test(plugin, built_out_of_tree_it_lists_checks_and_trains) {
    cr_assert_eq(build_plugin(GR_SOURCE_DIR "/plugins/gru_v1/gru_v1.c", "gru_v1", NULL), 0, "compile: %s", out);
    cr_expect_eq(sh(GRAPHRUN " ops --plugin %s/gru_v1.so", dir), 0, "%s", out);
    cr_expect(strstr(out, "gru_v1  (") && strstr(out, "num_units (int, required"), "ops shows the plugin op: %s", out);
    cr_expect_eq(sh(GRAPHRUN " ops gru_v1 --plugin %s/gru_v1.so", dir), 0, "%s", out);
    cr_expect(strstr(out, "recurrent, initialised glorot_uniform"), "%s", out);

    char plugin[256];
    snprintf(plugin, sizeof plugin, "%s/gru_v1.so", dir);
    write_config("gru.yaml", plugin, "gru_v1");
    cr_expect_eq(sh(GRAPHRUN " gradcheck %s/gru.yaml", dir), 0, "gradcheck failed: %s", out);
    cr_expect(strstr(out, "rnn                  gru_v1") && strstr(out, " 0 failed"), "%s", out);

    cr_assert_eq(sh(GRAPHRUN " train %s/gru.yaml --run-dir %s/run", dir, dir), 0, "training failed: %s", out);
    const char *acc = strstr(out, "test accuracy (all 1000 test images): ");
    cr_assert(acc, "%s", out);
    double a = atof(acc + strlen("test accuracy (all 1000 test images): "));
    cr_log_info("out-of-tree GRU plugin, 300 steps on 6000 images: accuracy %.4f", a);
    cr_expect_gt(a, 0.8, "the plugin op trains: accuracy %.4f", a);
}

Test(plugin, the_search_path_finds_plugins_by_name) {
    cr_assert_eq(sh("mkdir -p %s/path", dir), 0);
    cr_assert_eq(build_plugin(GR_SOURCE_DIR "/plugins/gru_v1/gru_v1.c", "path/graphrun_gru_v1", NULL), 0, "%s", out);
    cr_expect_eq(sh("GRAPHRUN_PLUGIN_PATH=%s/path " GRAPHRUN " ops gru_v1", dir), 0, "%s", out);
    cr_expect(strstr(out, "graphrun_gru_v1.so)"), "the origin is the plugin file: %s", out);
    write_config("byname.yaml", "graphrun_gru_v1", "gru_v1");
    cr_expect_eq(sh("GRAPHRUN_PLUGIN_PATH=%s/path " GRAPHRUN " check %s/byname.yaml", dir, dir), 0, "%s", out);
    cr_expect_eq(sh(GRAPHRUN " check %s/byname.yaml", dir), 1, "%s", out);
    cr_expect(strstr(out, "byname.yaml:1:11: plugins[0]: no plugin 'graphrun_gru_v1' in GRAPHRUN_PLUGIN_PATH (not set)"),
              "%s", out);
}

/* A plugin source with one op named `name`, `forward` present or not, and
 * the declaration and entry point present or not. */
static void write_toy(const char *file, const char *name, int with_forward, int with_declare, int with_init) {
    char text[4096];
    snprintf(text, sizeof text,
             "#include <graphrun/plugin.h>\n"
             "static int toy_infer(struct gr_infer *inf) { inf->out = *inf->in[0]; return 0; }\n"
             "static void toy_forward(const struct gr_args *a) { (void)a; }\n"
             "static const struct gr_op_desc toy = {.name = \"%s\", .summary = \"y = x\", .inputs_doc = \"x\",\n"
             "    .min_inputs = 1, .max_inputs = 1, .infer = toy_infer, .forward = %s};\n"
             "%s\n"
             "%s\n",
             name, with_forward ? "toy_forward" : "0", with_declare ? "GR_PLUGIN_DECLARE();" : "",
             with_init ? "int graphrun_plugin_init(const struct gr_host *h, void *ctx, char *e, size_t n) {\n"
                         "    (void)toy_forward; return h->register_op(ctx, &toy, e, n); }"
                       : "void *graphrun_unrelated = (void *)toy_forward; const void *unused_toy = &toy;");
    write_file(file, text);
}

static void expect_refused(const char *so, const char *message) {
    int st = sh(GRAPHRUN " ops --plugin %s/%s", dir, so);
    cr_expect_eq(st, 1, "%s was not refused (status %d): %s", so, st, out);
    char want[512];
    snprintf(want, sizeof want, "%s/%s: %s", dir, so, message);
    cr_expect(strstr(out, want) != NULL, "expected: %s\n got: %s", want, out);
    int lines = 0;
    for (const char *p = out; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 1, "one line: %s", out);
}

Test(plugin, every_broken_plugin_is_refused_by_name) {
    char src[256];
    snprintf(src, sizeof src, "%s/toy.c", dir);
    write_toy("toy.c", "toy", 1, 1, 1);
    cr_assert_eq(build_plugin(src, "toy", NULL), 0, "%s", out);
    cr_expect_eq(sh(GRAPHRUN " ops toy --plugin %s/toy.so", dir), 0, "a correct toy plugin loads: %s", out);

    /* another ABI version: the installed header with its version changed */
    cr_assert_eq(sh("mkdir -p %s/abi2/graphrun && cp %s/prefix/include/graphrun/lower.h %s/abi2/graphrun/ && "
                    "sed 's/#define GR_ABI_VERSION 1$/#define GR_ABI_VERSION 2/' "
                    "%s/prefix/include/graphrun/plugin.h > %s/abi2/graphrun/plugin.h && grep -q 'GR_ABI_VERSION 2' "
                    "%s/abi2/graphrun/plugin.h",
                    dir, dir, dir, dir, dir, dir),
                 0, "%s", out);
    char inc[256];
    snprintf(inc, sizeof inc, "%s/abi2", dir);
    cr_assert_eq(build_plugin(src, "abi2", inc), 0, "%s", out);
    expect_refused("abi2.so", "built for graphrun plugin ABI 2, but this graphrun loads ABI 1");

    /* the same version number but a changed struct: caught by the sizes */
    cr_assert_eq(sh("mkdir -p %s/grown/graphrun && cp %s/prefix/include/graphrun/lower.h %s/grown/graphrun/ && "
                    "sed 's/^    const char \\*inputs_doc;/    const char *inputs_doc; void *grown;/' "
                    "%s/prefix/include/graphrun/plugin.h > %s/grown/graphrun/plugin.h && grep -q 'void \\*grown' "
                    "%s/grown/graphrun/plugin.h",
                    dir, dir, dir, dir, dir, dir),
                 0, "%s", out);
    snprintf(inc, sizeof inc, "%s/grown", dir);
    cr_assert_eq(build_plugin(src, "grown", inc), 0, "%s", out);
    expect_refused("grown.so", "built against a different graphrun/plugin.h (struct gr_op_desc is");

    write_toy("noinit.c", "toy", 1, 1, 0);
    snprintf(src, sizeof src, "%s/noinit.c", dir);
    cr_assert_eq(build_plugin(src, "noinit", NULL), 0, "%s", out);
    expect_refused("noinit.so", "not a graphrun plugin: no graphrun_plugin_init function");

    write_toy("nodecl.c", "toy", 1, 0, 1);
    snprintf(src, sizeof src, "%s/nodecl.c", dir);
    cr_assert_eq(build_plugin(src, "nodecl", NULL), 0, "%s", out);
    expect_refused("nodecl.so", "not a graphrun plugin: no graphrun_plugin_abi record (GR_PLUGIN_DECLARE() is missing)");

    write_toy("dup.c", "lstm", 1, 1, 1);
    snprintf(src, sizeof src, "%s/dup.c", dir);
    cr_assert_eq(build_plugin(src, "dup", NULL), 0, "%s", out);
    expect_refused("dup.so", "plugin init failed: op 'lstm' is already registered (by built-in)");

    write_toy("noforward.c", "toy", 0, 1, 1);
    snprintf(src, sizeof src, "%s/noforward.c", dir);
    cr_assert_eq(build_plugin(src, "noforward", NULL), 0, "%s", out);
    expect_refused("noforward.so", "plugin init failed: op 'toy': descriptor has no forward function");

    write_file("text.so", "this is not a shared library\n");
    expect_refused("text.so", "cannot load plugin: ");

    /* and through a config, the error points at the entry */
    write_config("missing.yaml", "no-such-plugin.so/x.so", "lstm");
    cr_expect_eq(sh(GRAPHRUN " check %s/missing.yaml", dir), 1, "%s", out);
    cr_expect(strstr(out, "missing.yaml:1:11: plugins[0]: "), "%s", out);
    cr_expect(strstr(out, "no-such-plugin.so/x.so: cannot open plugin: No such file or directory"), "%s", out);
}

/* A correct toy plugin (as write_toy makes it) with `extra` code appended. */
static void write_toy_with(const char *file, const char *extra) {
    write_toy(file, "toy", 1, 1, 1);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "a");
    cr_assert(f);
    fprintf(f, "#include <stdlib.h>\n%s\n", extra);
    fclose(f);
}

/* One line on stderr, status 70: graphrun's exit status stays honest when a
 * plugin's code calls exit(0) behind main's back. */
static void expect_foreign_exit(int st, const char *message) {
    cr_expect_eq(st, 70, "status %d: %s", st, out);
    cr_expect(strstr(out, message) != NULL, "expected: %s\n got: %s", message, out);
    int lines = 0;
    for (const char *p = out; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 1, "one line: %s", out);
}

Test(plugin, a_plugin_calling_exit_cannot_fake_graphrun_s_status) {
    char src[256], want[512];
    /* a constructor runs inside dlopen, before the ABI record is read */
    write_toy_with("ctor.c", "__attribute__((constructor)) static void quit(void) { exit(0); }");
    snprintf(src, sizeof src, "%s/ctor.c", dir);
    cr_assert_eq(build_plugin(src, "ctor", NULL), 0, "%s", out);
    snprintf(want, sizeof want,
             "graphrun: exit() called from outside graphrun's main, probably by plugin %s/ctor.so while loading", dir);
    expect_foreign_exit(sh(GRAPHRUN " ops --plugin %s/ctor.so", dir), want);
    /* the same plugin found through GRAPHRUN_PLUGIN_PATH by another command */
    cr_assert_eq(sh("mkdir -p %s/quits && cp %s/ctor.so %s/quits/", dir, dir, dir), 0, "%s", out);
    snprintf(want, sizeof want,
             "graphrun: exit() called from outside graphrun's main, probably by plugin %s/quits/ctor.so while loading",
             dir);
    expect_foreign_exit(sh("GRAPHRUN_PLUGIN_PATH=%s/quits " GRAPHRUN " summary %s/tests/short_mnist.yaml", dir,
                           GR_SOURCE_DIR),
                        want);

    /* a destructor, run by dlclose when graphrun unloads the plugin */
    write_toy_with("dtor.c", "__attribute__((destructor)) static void quit(void) { exit(0); }");
    snprintf(src, sizeof src, "%s/dtor.c", dir);
    cr_assert_eq(build_plugin(src, "dtor", NULL), 0, "%s", out);
    snprintf(want, sizeof want,
             "graphrun: exit() called from outside graphrun's main, probably by plugin %s/dtor.so while unloading", dir);
    int st = sh(GRAPHRUN " ops toy --plugin %s/dtor.so", dir);
    cr_expect_eq(st, 70, "status %d: %s", st, out);
    cr_expect(strstr(out, want) != NULL, "expected: %s\n got: %s", want, out);

    /* an op's kernel, run during training: no plugin is being loaded then */
    write_file("kernel.c",
               "#include <graphrun/plugin.h>\n#include <stdlib.h>\n"
               "static int quit_infer(struct gr_infer *inf) { inf->out = *inf->in[0]; return 0; }\n"
               "static void quit_forward(const struct gr_args *a) { (void)a; exit(0); }\n"
               "static const struct gr_op_desc quit = {.name = \"quit\", .summary = \"exits\", .inputs_doc = \"x\",\n"
               "    .min_inputs = 1, .max_inputs = 1, .infer = quit_infer, .forward = quit_forward};\n"
               "GR_PLUGIN_DECLARE();\n"
               "int graphrun_plugin_init(const struct gr_host *h, void *ctx, char *e, size_t n) {\n"
               "    return h->register_op(ctx, &quit, e, n); }\n");
    snprintf(src, sizeof src, "%s/kernel.c", dir);
    cr_assert_eq(build_plugin(src, "kernel", NULL), 0, "%s", out);
    char plugin[256];
    snprintf(plugin, sizeof plugin, "%s/kernel.so", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "plugins: [%s]\n"
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte, limit: 640}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte, limit: 100}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: quit, op: quit, inputs: [image]}\n"
             "  - {name: logits, op: dense, inputs: [quit], units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: 64, steps: 3}\n",
             plugin, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR);
    write_file("kernel.yaml", text);
    expect_foreign_exit(sh(GRAPHRUN " train %s/kernel.yaml --no-run-dir --quiet", dir),
                        "graphrun: exit() called from outside graphrun's main (by a plugin's or a library's code)");
}

/* An MLP with the op `op` (no attributes, one input) between its layers,
 * on a slice of MNIST, the plugin listed as `plugin`. */
static void write_mlp_config(const char *name, const char *plugin, const char *op) {
    char text[4096];
    snprintf(text, sizeof text,
             "plugins: [%s]\n"
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte, limit: 6000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte, limit: 1000}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: hidden, op: dense, inputs: [image], units: 64}\n"
             "  - {name: norm, op: %s, inputs: [hidden]}\n"
             "  - {name: act, op: relu, inputs: [norm]}\n"
             "  - {name: logits, op: dense, inputs: [act], units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.003}, batch_size: 64, steps: 300, seed: 3}\n"
             "eval: {logits: logits, every: 300, samples: 1000}\n",
             plugin, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, op);
    write_file(name, text);
}

/* The first version of the header (tests/plugin_abi1/graphrun/plugin.h, as
 * it was before any struct grew) and the rms_norm plugin as it was written
 * against it (tests/plugin_abi1/rms_norm.c, before it lowered itself to
 * ONNX): built against that header, it loads, checks and trains with this
 * graphrun, whose gr_op_desc, gr_args and gr_host are longer. */
Test(plugin, a_plugin_built_against_the_first_header_still_loads_and_trains) {
    cr_assert_eq(build_plugin(GR_SOURCE_DIR "/tests/plugin_abi1/rms_norm.c", "rms_abi1", GR_SOURCE_DIR "/tests/plugin_abi1"),
                 0, "compile: %s", out);
    /* it was built with the shorter structs */
    char so[256];
    snprintf(so, sizeof so, "%s/rms_abi1.so", dir);
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(h, "%s", dlerror());
    const struct gr_plugin_abi *abi = dlsym(h, GR_PLUGIN_ABI_SYMBOL);
    cr_assert_not_null(abi);
    cr_expect_eq(abi->abi_version, GR_ABI_VERSION);
    cr_expect_eq(abi->sizeof_op_desc, offsetof(struct gr_op_desc, lower));
    cr_expect_lt(abi->sizeof_args, sizeof(struct gr_args));
    cr_expect_lt(abi->sizeof_infer, sizeof(struct gr_infer));
    dlclose(h);

    cr_expect_eq(sh(GRAPHRUN " ops rms_norm --plugin %s", so), 0, "%s", out);
    cr_expect(strstr(out, "gamma, initialised ones") && !strstr(out, "state"), "%s", out);
    write_mlp_config("abi1.yaml", so, "rms_norm");
    cr_expect_eq(sh(GRAPHRUN " gradcheck %s/abi1.yaml", dir), 0, "gradcheck failed: %s", out);
    cr_assert_eq(sh(GRAPHRUN " train %s/abi1.yaml --no-run-dir", dir), 0, "training failed: %s", out);
    const char *acc = strstr(out, "test accuracy (all 1000 test images): ");
    cr_assert(acc, "%s", out);
    double a = atof(acc + strlen("test accuracy (all 1000 test images): "));
    cr_log_info("rms_norm built against the first header, 300 steps on 6000 images: accuracy %.4f", a);
    cr_expect_gt(a, 0.85, "the old plugin's op trains: accuracy %.4f", a);

    /* a descriptor shorter than the first version's is no version's */
    cr_assert_eq(sh("mkdir -p %s/short/graphrun && grep -v '^    void (\\*flops)' %s/tests/plugin_abi1/graphrun/plugin.h "
                    "> %s/short/graphrun/plugin.h && ! grep -q flops %s/short/graphrun/plugin.h",
                    dir, GR_SOURCE_DIR, dir, dir),
                 0, "%s", out);
    write_toy("toy.c", "toy", 1, 1, 1);
    char src[256], inc[256];
    snprintf(src, sizeof src, "%s/toy.c", dir);
    snprintf(inc, sizeof inc, "%s/short", dir);
    cr_assert_eq(build_plugin(src, "short", inc), 0, "%s", out);
    expect_refused("short.so", "built against a different graphrun/plugin.h (struct gr_op_desc is");
}

/* plugins: [NAME] is a file beside the config when one is there; only a
 * bare name with no such file is looked up on GRAPHRUN_PLUGIN_PATH. */
Test(plugin, a_plugin_beside_the_config_is_found_by_its_file_name) {
    cr_assert_eq(sh("mkdir -p %s/cfg %s/path", dir, dir), 0, "%s", out);
    cr_assert_eq(build_plugin(GR_SOURCE_DIR "/plugins/rms_norm/rms_norm.c", "cfg/rms", NULL), 0, "%s", out);
    write_mlp_config("cfg/beside.yaml", "rms.so", "rms_norm");
    cr_expect_eq(sh("env -u GRAPHRUN_PLUGIN_PATH " GRAPHRUN " check %s/cfg/beside.yaml", dir), 0, "%s", out);
    /* run from the config's own folder, and through a relative path to it */
    cr_expect_eq(sh("cd %s/cfg && env -u GRAPHRUN_PLUGIN_PATH " GRAPHRUN " check beside.yaml", dir), 0, "%s", out);
    cr_expect_eq(sh("cd %s && env -u GRAPHRUN_PLUGIN_PATH " GRAPHRUN " check cfg/beside.yaml", dir), 0, "%s", out);
    /* a bare name with no file beside the config: the search path, or an error naming it */
    write_mlp_config("cfg/byname.yaml", "graphrun_other", "rms_norm");
    cr_expect_eq(sh("env -u GRAPHRUN_PLUGIN_PATH " GRAPHRUN " check %s/cfg/byname.yaml", dir), 1, "%s", out);
    cr_expect(strstr(out, "byname.yaml:1:11: plugins[0]: no plugin 'graphrun_other' in GRAPHRUN_PLUGIN_PATH (not set)"),
              "%s", out);
    cr_assert_eq(sh("mv %s/cfg/rms.so %s/path/graphrun_other.so", dir, dir), 0, "%s", out);
    cr_expect_eq(sh("GRAPHRUN_PLUGIN_PATH=%s/path " GRAPHRUN " check %s/cfg/byname.yaml", dir, dir), 0, "%s", out);
}
