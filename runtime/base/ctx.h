/* The context: the one pointer every runtime call takes. It holds what would
 * otherwise be globals - the last error, the allocator, the random generator,
 * and (opened by runtime/host/host.c) the registry, the host table handed to
 * kernels and the thread pool. This file is the ground every other layer
 * stands on: errors and memory; it includes nothing of graphrun's but the
 * op contract's types and the generator. */
#ifndef GR_CTX_H
#define GR_CTX_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "graphrun/plugin.h"
#include "runtime/base/rng.h"

/* A broken invariant inside the runtime (never a user's mistake). */
#define GR_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) gr_assert_fail(__FILE__, __LINE__, #cond);                \
    } while (0)
_Noreturn void gr_assert_fail(const char *file, int line, const char *what);

#define GR_ERRBUF 1024

/* Which plugin's own code the loader is running: set around dlopen (which
 * runs the library's constructors), its entry point and dlclose (which runs
 * its destructors), so that main can name the plugin if that code calls
 * exit(). */
struct gr_plugin_activity {
    const char *volatile path;  /* the plugin file; NULL: none */
    const char *volatile doing; /* "loading" or "unloading" */
};

/* Allocation hooks; the default uses malloc. Tests wrap them to count calls. */
struct gr_allocator {
    void *(*alloc)(void *ud, size_t bytes, size_t align);
    void (*free)(void *ud, void *p);
    void *ud;
};

struct gr_ctx {
    char err[GR_ERRBUF];
    struct gr_allocator mem;
    uint64_t n_allocs; /* calls to gr_alloc since init */
    struct gr_rng rng;
    uint64_t seed;     /* the run's seed (train.seed), which keys the nodes' random streams */
    struct gr_registry *reg;
    struct gr_host host;
    struct gr_pool *pool; /* NULL: single-threaded */
    /* Set (by main's signal handler) to ask a running loop to stop at the
     * end of its step; NULL: never. */
    volatile sig_atomic_t *interrupt;
    struct gr_plugin *plugins; /* loaded plugins (runtime/plugin.c) */
    /* Where the plugin loader records what it runs (set by main); NULL: nowhere. */
    struct gr_plugin_activity *plugin_activity;
    char *plugin_path;         /* where plugin names are looked up */
    /* Bytes a run may plan to hold; 0: 90% of the machine's memory. */
    uint64_t mem_limit;
    /* Test hook: called as checkpoint bytes are written, so a test can kill
     * the process at a chosen byte. NULL in normal use. */
    void (*write_hook)(void *ud, uint64_t written);
    void *write_hook_ud;
    /* Test hook: called with a data file's path after its header was checked
     * and before its data is read, so a test can replace the file in between.
     * NULL in normal use. */
    void (*data_hook)(void *ud, const char *path);
    void *data_hook_ud;
};

/* The ground only: zeroed, the default allocator, the generator seeded with
 * 0. gr_ctx_init (runtime/host/host.h) adds the host: registry, host table,
 * thread pool. */
void gr_ctx_base_init(struct gr_ctx *ctx);

/* Record an error message and return -1. */
int gr_fail(struct gr_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gr_vfail(struct gr_ctx *ctx, const char *fmt, va_list ap);
/* Record "FILE:LINE:COL: message" (line and col 1-based; 0 leaves them out). */
int gr_fail_at(struct gr_ctx *ctx, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* 64-byte aligned, never returns NULL without recording an error. */
void *gr_alloc(struct gr_ctx *ctx, size_t bytes);
void *gr_calloc(struct gr_ctx *ctx, size_t n, size_t size);
void gr_free(struct gr_ctx *ctx, void *p);
char *gr_strdup(struct gr_ctx *ctx, const char *s);

/* a * b with overflow detection: returns -1 on overflow. */
int gr_mul_size(size_t a, size_t b, size_t *out);

#endif
