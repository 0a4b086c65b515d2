/* Fuzz the IDX reader through its real entry point: the input becomes an
 * in-memory file (raw or gzip, as its first bytes say) read by gr_idx_load. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "runtime/data/idx.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("idx", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct gr_ctx ctx;
    if (gr_ctx_init(&ctx) == 0) {
        struct gr_idx x;
        if (gr_idx_load(&ctx, path, &x) == 0) {
            /* what loaded must be what the header promised */
            size_t want = 1;
            for (int i = 0; i < x.rank; i++) want *= (size_t)x.dim[i];
            if (want != x.bytes) __builtin_trap();
            gr_idx_free(&ctx, &x);
        }
        gr_ctx_free(&ctx);
    }
    close(fd);
    return 0;
}
