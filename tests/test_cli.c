/* The broken-input corpus (tests/bad/CASES) through the real command: every
 * case must end with its exit status and one line on stderr that says what
 * is wrong, and never with a signal. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define BAD GR_SOURCE_DIR "/tests/bad"

struct result {
    int status; /* wait status */
    char err[4096];
};

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
    char errfile[] = "/tmp/graphrun-cli-XXXXXX";
    int efd = mkstemp(errfile);
    cr_assert_geq(efd, 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (chdir(BAD) != 0) _exit(126);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(efd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    waitpid(pid, &r->status, 0);
    lseek(efd, 0, SEEK_SET);
    ssize_t got = read(efd, r->err, sizeof r->err - 1);
    r->err[got > 0 ? got : 0] = 0;
    close(efd);
    unlink(errfile);
}

/* status, exactly one line, and the expected text */
static int check_case(const char *args, int want_status, const char *want_text, int line) {
    struct result r;
    run(args, &r);
    int ok = 1;
    if (WIFSIGNALED(r.status)) {
        cr_expect(0, "CASES:%d: graphrun %s died of signal %d", line, args, WTERMSIG(r.status));
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
    if (!strstr(r.err, want_text)) ok = 0;
    cr_expect(strstr(r.err, want_text) != NULL, "CASES:%d: graphrun %s\n  expected: %s\n  got:      %s", line, args,
              want_text, r.err);
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
    /* the base; with a UTF-8 byte-order mark; sharing a node through a merge key */
    const char *ok[] = {"check configs/ok.yaml", "check configs/ok-bom.yaml", "check configs/ok-merge.yaml"};
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
