/* The broken-input corpus (tests/bad/CASES) through the real command: every
 * case must end with its exit status and one line on stderr that says what
 * is wrong, and never with a signal or a sanitizer's report. The command is
 * the one built with this test (GR_BUILD_DIR): in the sanitizer build
 * (build-asan), the whole corpus runs under ASan and UBSan. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define BAD GR_SOURCE_DIR "/tests/bad"

struct result {
    int status; /* wait status */
    char err[4096];
    char out[8192];
};

/* What is left in the temporary file fd, into buf; closes it. */
static void take_file(int fd, char *buf, size_t len) {
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, buf, len - 1);
    buf[got > 0 ? got : 0] = 0;
    close(fd);
}

/* Split `s` in place into arguments at spaces outside single quotes (which
 * are dropped); returns how many, at most max - 1, argv[n] = NULL. */
static int split_args(char *s, char **argv, int max) {
    int n = 0;
    char *out = s;
    while (*s && n < max - 1) {
        while (*s == ' ') s++;
        if (!*s) break;
        argv[n++] = out;
        for (int quoted = 0; *s && (quoted || *s != ' '); s++) {
            if (*s == '\'') quoted = !quoted;
            else *out++ = *s;
        }
        if (*s) s++;
        *out++ = 0;
    }
    argv[n] = NULL;
    return n;
}

/* Run graphrun with `args` (see split_args) in tests/bad/. */
static void run(const char *args, struct result *r) {
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", args);
    char *argv[32];
    argv[0] = GR_BUILD_DIR "/graphrun";
    split_args(copy, argv + 1, 31);
    char errfile[] = "/tmp/graphrun-cli-XXXXXX", outfile[] = "/tmp/graphrun-cli-XXXXXX";
    int efd = mkstemp(errfile), ofd = mkstemp(outfile);
    cr_assert_geq(efd, 0);
    cr_assert_geq(ofd, 0);
    unlink(errfile);
    unlink(outfile);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (chdir(BAD) != 0) _exit(126);
        dup2(ofd, 1);
        dup2(efd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    waitpid(pid, &r->status, 0);
    take_file(efd, r->err, sizeof r->err);
    take_file(ofd, r->out, sizeof r->out);
}

/* status, exactly one line, and the expected text */
static int check_case(const char *args, int want_status, const char *want_text, int line) {
    struct result r;
    run(args, &r);
    int ok = 1;
    if (WIFSIGNALED(r.status)) {
        cr_expect(0, "CASES:%d: graphrun %s died of signal %d:\n%s", line, args, WTERMSIG(r.status), r.err);
        return 0;
    }
    /* ASan's and UBSan's reports (whatever their exit status) */
    if (strstr(r.err, "Sanitizer") || strstr(r.err, "runtime error:")) {
        cr_expect(0, "CASES:%d: graphrun %s: a sanitizer report:\n%s", line, args, r.err);
        return 0;
    }
    int status = WEXITSTATUS(r.status);
    size_t len = strlen(r.err);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += r.err[i] == '\n';
    if (status != want_status) ok = 0;
    cr_expect_eq(status, want_status, "CASES:%d: graphrun %s exited %d, expected %d (%s)", line, args, status,
                 want_status, r.err);
    if (lines != 1 || r.err[len - 1] != '\n') ok = 0;
    cr_expect(lines == 1 && len > 0 && r.err[len - 1] == '\n', "CASES:%d: graphrun %s wrote %d lines: %s", line, args,
              lines, r.err);
    /* a text ending in '$' must also end the line */
    size_t wl = strlen(want_text);
    int anchored = wl > 0 && want_text[wl - 1] == '$';
    char want[1024];
    snprintf(want, sizeof want, "%.*s", (int)(anchored ? wl - 1 : wl), want_text);
    const char *at = strstr(r.err, want);
    int found = at && (!anchored || (len > 0 && (size_t)(at - r.err) + strlen(want) == len - 1));
    if (!found) ok = 0;
    cr_expect(found, "CASES:%d: graphrun %s\n  expected: %s\n  got:      %s", line, args, want_text, r.err);
    return ok;
}

Test(cli, every_case_in_the_corpus, .timeout = 300) {
    FILE *f = fopen(BAD "/CASES", "r");
    cr_assert(f, "no %s/CASES", BAD);
    char buf[8192];
    int line = 0, cases = 0, passed = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (buf[0] == '#' || buf[0] == '\n') continue;
        buf[strcspn(buf, "\n")] = 0;
        char *args = strchr(buf, '\t'), *text = args ? strchr(args + 1, '\t') : NULL;
        cr_assert(args && text, "CASES:%d: expected status<TAB>arguments<TAB>text", line);
        *args++ = 0;
        *text++ = 0;
        cases++;
        passed += check_case(args, atoi(buf), text, line);
    }
    fclose(f);
    cr_log_info("%d of %d cases answered as expected", passed, cases);
    cr_expect_geq(cases, 40);
}

Test(cli, the_valid_configs_pass_check) {
    /* the base; with a UTF-8 byte-order mark; sharing a node through a merge key; in the shorthand (and that
     * written out); blocks inside blocks */
    const char *ok[] = {"check configs/ok.yaml", "check configs/ok-bom.yaml", "check configs/ok-merge.yaml",
                        "check configs/ok-shorthand.yaml", "expand configs/ok-shorthand.yaml",
                        "check configs/ok-blocks-nested.yaml", "check configs/validation-held-out.yaml"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct result r;
        run(ok[i], &r);
        cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s: status %d: %s", ok[i], r.status, r.err);
    }
}

/* The run folder's config.yaml, with overrides holding a newline, '#', ': '
 * and quotes, is read back by graphrun as the same config: a run from it
 * writes the same tree again. */
Test(cli, a_run_folders_config_reads_back_with_odd_overrides, .timeout = 120) {
    char dir[64];
    tg_tmpdir(dir, sizeof dir, "cli-rt");
    int rc = tg_sh(NULL,
                   "cd %s && %s/graphrun train configs/ok.yaml --quiet --run-dir %s/a --set \"$(printf "
                   "'train.checkpoint.path=%s/ck#1\\n\\n  two')\" --set \"train.checkpoint.path=\\\"%s/c # d: 'e' "
                   "\\\\\\\"f\\\\\\\"\\\\nline\\\"\" >/dev/null 2>&1",
                   BAD, GR_BUILD_DIR, dir, dir, dir);
    cr_assert_eq(rc, 0, "the first run failed");
    char path[128];
    snprintf(path, sizeof path, "%s/a/config.yaml", dir);
    char *first = tg_slurp(path, NULL);
    cr_assert_not_null(first);
    /* one comment line, naming both overrides */
    char *nl = strchr(first, '\n');
    cr_assert_not_null(nl);
    cr_expect(strstr(first, "ck#1\\n\\n  two --set train.checkpoint.path=\"") < nl, "%s", first);
    cr_expect_eq(first[0], '#');
    cr_expect_eq(nl[1], 'd', "%s", first);
    rc = tg_sh(NULL, "cd / && %s/graphrun train %s/a/config.yaml --quiet --run-dir %s/b >/dev/null 2>&1",
               GR_BUILD_DIR, dir, dir);
    cr_assert_eq(rc, 0, "the run from the run folder's config failed:\n%s", first);
    snprintf(path, sizeof path, "%s/b/config.yaml", dir);
    char *second = tg_slurp(path, NULL);
    cr_assert_not_null(second);
    cr_expect_str_eq(strchr(second, '\n') + 1, nl + 1);
    char want[256];
    snprintf(want, sizeof want, "  checkpoint: {path: '%s/c # d: ''e'' \"f\"\n\n      line'}", dir);
    cr_expect(strstr(nl + 1, want), "no %s in\n%s", want, nl + 1);
    snprintf(path, sizeof path, "%s/c # d: 'e' \"f\"\nline", dir);
    cr_expect_eq(access(path, F_OK), 0, "no checkpoint at %s", path);
    free(first);
    free(second);
    tg_rmtree(dir);
}

Test(cli, bad_checkpoints_are_refused_with_one_line, .timeout = 120) {
    /* configs/ok.yaml checkpoints to /tmp/graphrun-bad-corpus/ok.safetensors */
    struct result r;
    run("train configs/ok.yaml --no-run-dir", &r);
    cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "the base run failed: %s", r.err);
    const char *good = "/tmp/graphrun-bad-corpus/ok.safetensors", *bad = "/tmp/graphrun-bad-corpus/bad.safetensors";
    FILE *in = fopen(good, "rb"), *out = fopen(bad, "wb");
    cr_assert(in && out);
    static unsigned char data[1 << 20];
    size_t n = fread(data, 1, sizeof data, in);
    data[n - 3] ^= 0x10;
    fwrite(data, 1, n, out);
    fclose(in);
    fclose(out);
    check_case("train configs/ok.yaml --no-run-dir --resume /tmp/graphrun-bad-corpus/bad.safetensors", 1, "checksum mismatch", 0);
    check_case("train configs/ok-16-units.yaml --no-run-dir --resume /tmp/graphrun-bad-corpus/ok.safetensors", 1,
               "tensor 'param/lstm.kernel' is F32 [12, 32] in the checkpoint but F32 [20, 64] in this run", 0);
    out = fopen(bad, "wb");
    fwrite(data, 1, n / 2, out);
    fclose(out);
    check_case("train configs/ok.yaml --no-run-dir --resume /tmp/graphrun-bad-corpus/bad.safetensors", 1, "lie outside", 0);
    unlink(bad);
    unlink(good);
    rmdir("/tmp/graphrun-bad-corpus");
}

/* check and summary work a run out from shapes: a model with 1.3 GB of
 * parameters (5.4 GB with gradients and Adam's moments) is reported by a
 * process that never holds more than a small part of that. */
Test(cli, check_and_summary_of_a_large_model_hold_none_of_it, .timeout = 120) {
    char dir[64], path[128];
    tg_tmpdir(dir, sizeof dir, "cli-large");
    snprintf(path, sizeof path, "%s/large.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "data:\n"
            "  train: {images: %s/data/train-images, labels: %s/data/train-labels}\n"
            "  test: {images: %s/data/test-images, labels: %s/data/test-labels}\n"
            "graph:\n"
            "  - {name: image, op: input, data: images, shape: [16]}\n"
            "  - {name: label, op: input, data: labels}\n"
            "  - {name: wide, op: dense, inputs: [image], units: 16777216}\n"
            "  - {name: logits, op: dense, inputs: [wide], units: 3}\n"
            "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
            "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: 4, steps: 10}\n"
            "eval: {logits: logits}\n",
            BAD, BAD, BAD, BAD);
    fclose(f);
    /* 16 x 2^24 + 2^24 + 2^24 x 3 + 3 parameters */
    const char *cmds[2] = {"check", "summary"}, *totals[2] = {"335544323", "335,544,323"};
    for (int k = 0; k < 2; k++) {
        char args[256];
        snprintf(args, sizeof args, "%s %s", cmds[k], path);
        struct result r;
        run(args, &r);
        cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s: status %d: %s", args, r.status, r.err);
        cr_expect(strstr(r.out, totals[k]) != NULL, "%s: no total of %s parameters in:\n%s", args, totals[k], r.out);
    }
    /* the largest of the two processes */
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
    double peak_mb = (double)ru.ru_maxrss / 1024.0;
    cr_log_info("check and summary: peak RSS %.1f MB", peak_mb);
    cr_expect_lt(peak_mb, 200.0, "check or summary held %.1f MB", peak_mb);
    tg_rmtree(dir);
}

/* Inference needs the graph, the weights and its own input: eval reads the
 * test set and predict its images, neither the training data nor the
 * optimizer's state, so a checkpoint serves whatever the config says about
 * training, as long as the graph's parameters match. */
Test(cli, eval_and_predict_need_only_the_graph_the_weights_and_their_input, .timeout = 120) {
    char dir[64], ckpt[128], img[128], args[1024];
    tg_tmpdir(dir, sizeof dir, "cli-infer");
    snprintf(ckpt, sizeof ckpt, "%s/ok.safetensors", dir);
    snprintf(img, sizeof img, "%s/digit.pgm", dir);
    FILE *f = fopen(img, "wb");
    cr_assert_not_null(f);
    fprintf(f, "P5\n4 4\n255\n");
    for (int i = 0; i < 16; i++) fputc((i * 37) % 256, f);
    fclose(f);
    struct result r, base;
    snprintf(args, sizeof args, "train configs/ok.yaml --no-run-dir --set train.checkpoint.path=%s", ckpt);
    run(args, &r);
    cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "the base run failed: %s", r.err);
    /* no training data (a missing file); another optimizer and training
     * set; both */
    const char *missing = "--set data.train.images=../data/no-such-file --set data.train.labels=../data/no-such-file",
               *optimizer = "--set train.optimizer.name=sgd --set data.train.limit=7";
    const char *cmd[2] = {"eval configs/ok.yaml --checkpoint", "predict configs/ok.yaml --checkpoint"};
    const char *tail[2] = {"", img};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "%s %s %s", cmd[k], ckpt, tail[k]);
        run(args, &base);
        cr_assert(WIFEXITED(base.status) && WEXITSTATUS(base.status) == 0, "%s: %s", args, base.err);
        for (int v = 0; v < 3; v++) {
            snprintf(args, sizeof args, "%s %s %s %s %s", cmd[k], ckpt, tail[k], v != 1 ? missing : "",
                     v != 0 ? optimizer : "");
            run(args, &r);
            cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s: %s", args, r.err);
            cr_expect_str_eq(r.out, base.out, "%s", args);
        }
    }
    const char *other = "--set data.train.images=../data/no-such-file --set data.train.labels=../data/no-such-file "
                        "--set train.optimizer.name=sgd --set data.train.limit=7";
    /* predict reads no data at all */
    snprintf(args, sizeof args, "predict configs/ok.yaml --checkpoint %s %s %s --set data.test.images=../data/no-such-file",
             ckpt, img, other);
    run(args, &r);
    cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s: %s", args, r.err);
    cr_expect_str_eq(r.out, base.out, "%s", args);
    /* but the parameters must still be this graph's */
    snprintf(args, sizeof args, "eval configs/ok-16-units.yaml --checkpoint %s", ckpt);
    check_case(args, 1, "tensor 'param/lstm.kernel' is F32 [12, 32] in the checkpoint but F32 [20, 64] in this run", 0);
    snprintf(args, sizeof args, "predict configs/ok-16-units.yaml --checkpoint %s %s", ckpt, img);
    check_case(args, 1, "tensor 'param/lstm.kernel' is F32 [12, 32] in the checkpoint but F32 [20, 64] in this run", 0);
    tg_rmtree(dir);
}

/* The run folder's own checkpoint path is tried before the first step too,
 * and before the folder is written. */
Test(cli, a_run_folder_whose_checkpoint_cannot_be_written_is_refused_before_training) {
    char dir[64], blocked[128], want[512], metrics[128];
    tg_tmpdir(dir, sizeof dir, "cli-rundir");
    snprintf(blocked, sizeof blocked, "%s/checkpoint.safetensors", dir);
    cr_assert_eq(mkdir(blocked, 0755), 0);
    char *out;
    int rc = tg_sh(&out, "cd '%s' && '%s/graphrun' train configs/ok.yaml --run-dir '%s' --set 'train.checkpoint={every: 5}' "
                         "2>&1 >/dev/null", BAD, GR_BUILD_DIR, dir);
    cr_expect_eq(rc, 1, "%s", out);
    snprintf(want, sizeof want, "%s: is a directory; name a file, e.g. %s/checkpoint.safetensors\n", blocked, blocked);
    cr_expect_str_eq(out, want);
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", dir);
    struct stat st;
    cr_expect_neq(stat(metrics, &st), 0, "the run folder was written before the checkpoint path was tried");
    free(out);
    tg_rmtree(dir);
}

/* A FIFO named as any input (the config, a data file, a checkpoint, an image,
 * a run's metrics) is refused at once: open() of a FIFO with no writer
 * blocks until one comes, so every input is opened without blocking and
 * checked before it is read. `timeout` ends a graphrun that hangs (124). */
Test(cli, a_fifo_given_as_any_input_is_refused_without_waiting_for_a_writer, .timeout = 240) {
    char dir[64], fifo[128], cfg[128], want[512], args[512];
    tg_tmpdir(dir, sizeof dir, "cli-fifo");
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    /* tests/bad/configs/ok.yaml with its training images the FIFO */
    snprintf(cfg, sizeof cfg, "%s/fifo.yaml", dir);
    cr_assert_eq(tg_sh(NULL, "sed -e 's|\\.\\./data/train-images|%s|' -e 's|\\.\\./data/|%s/data/|g' %s/configs/ok.yaml >%s",
                       fifo, BAD, BAD, cfg), 0);
    struct {
        const char *args, *want; /* %1$s the FIFO, %2$s the config */
    } cases[] = {
        {"check %1$s", "%1$s: not a regular file"},
        {"check %2$s", "%2$s:2:19: data.train: %1$s: not a regular file"},
        {"check configs/ok.yaml --set data.test.labels=%1$s",
         "--set data.test.labels=%1$s: data.test: %1$s: not a regular file"},
        {"eval configs/ok.yaml --checkpoint %1$s", "%1$s: not a regular file"},
        {"predict configs/ok.yaml --checkpoint checkpoints/ok.safetensors %1$s", "%1$s: not a regular file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, cases[i].args, fifo, cfg);
        snprintf(want, sizeof want, cases[i].want, fifo, cfg);
        char *out;
        int rc = tg_sh(&out, "cd '%s' && timeout 20 '%s/graphrun' %s 2>&1 >/dev/null", BAD, GR_BUILD_DIR, args);
        cr_expect_eq(rc, 1, "graphrun %s: exited %d (124: it hung): %s", args, rc, out);
        cr_expect(strncmp(out, want, strlen(want)) == 0 && strchr(out, '\n') == out + strlen(out) - 1,
                  "graphrun %s\n  expected: %s\n  got:      %s", args, want, out);
        free(out);
    }
    /* a run folder whose metrics.csv is a FIFO */
    snprintf(fifo, sizeof fifo, "%s/metrics.csv", dir);
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    char *out;
    int rc = tg_sh(&out, "timeout 20 '%s/graphrun' plot '%s' 2>&1 >/dev/null", GR_BUILD_DIR, dir);
    snprintf(want, sizeof want, "graphrun plot: %s: not a regular file\n", fifo);
    cr_expect_eq(rc, 1, "graphrun plot: exited %d (124: it hung): %s", rc, out);
    cr_expect_str_eq(out, want);
    free(out);
    tg_rmtree(dir);
}
