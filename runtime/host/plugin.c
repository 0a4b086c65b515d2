/* realpath is an XSI extension of POSIX */
#define _XOPEN_SOURCE 700
#include "runtime/host/plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/base/ctx.h"
#include "runtime/host/registry.h"

struct gr_plugin {
    struct gr_plugin *next;
    void *handle;
    char *path; /* as loaded: the origin shown for its ops */
    char *real; /* canonical, to spot a second load */
};

static int size_mismatch(const struct gr_plugin_abi *abi, char *what, size_t len) {
    const struct gr_plugin_abi here = GR_PLUGIN_ABI_INIT;
    const uint32_t *a = &abi->sizeof_op_desc, *h = &here.sizeof_op_desc;
    static const char *const names[] = {"struct gr_op_desc", "struct gr_attr_spec", "struct gr_attr_value",
                                        "struct gr_param_spec", "struct gr_infer", "struct gr_args",
                                        "struct gr_tensor", "struct gr_shape", "int64_t", "float", "a pointer"};
    /* grown at their end since ABI 1 (plugin.h lists what): graphrun
     * allocates gr_infer and gr_args, and a plugin built before uses the
     * prefix it knows; a gr_op_desc is copied into one of today's size */
    uint32_t oldest[sizeof names / sizeof names[0]] = {0};
    oldest[0] = (uint32_t)offsetof(struct gr_op_desc, lower);
    oldest[4] = (uint32_t)offsetof(struct gr_infer, index_limit);
    oldest[5] = (uint32_t)offsetof(struct gr_args, rng_key);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (oldest[i] && a[i] >= oldest[i] && a[i] <= h[i]) continue;
        if (a[i] != h[i]) {
            snprintf(what, len, "%s is %u bytes there, %u here", names[i], a[i], h[i]);
            return 1;
        }
    }
    return 0;
}

/* Record which plugin's code is about to run (path NULL: none any more). */
static void running(struct gr_ctx *ctx, const char *path, const char *doing) {
    if (!ctx->plugin_activity) return;
    ctx->plugin_activity->path = NULL;
    ctx->plugin_activity->doing = doing;
    ctx->plugin_activity->path = path;
}

/* dlopen runs the library's constructors (and those of the libraries it
 * needs) before anything of it can be looked at, so the ABI record is read
 * after its code has already run; then the entry point is called. */
int gr_plugin_load(struct gr_ctx *ctx, const char *path) {
    char real[PATH_MAX];
    struct stat st;
    if (stat(path, &st) != 0) return gr_fail(ctx, "%s: cannot open plugin: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return gr_fail(ctx, "%s: a plugin must be a shared library file", path);
    if (!realpath(path, real)) return gr_fail(ctx, "%s: cannot resolve: %s", path, strerror(errno));
    for (struct gr_plugin *p = ctx->plugins; p; p = p->next)
        if (strcmp(p->real, real) == 0) return 0;

    running(ctx, path, "loading");
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        running(ctx, NULL, NULL);
        return gr_fail(ctx, "%s: cannot load plugin: %s", path, dlerror());
    }
    const struct gr_plugin_abi *abi = dlsym(h, GR_PLUGIN_ABI_SYMBOL);
    char what[200];
    if (!abi) {
        gr_fail(ctx, "%s: not a graphrun plugin: no %s record (GR_PLUGIN_DECLARE() is missing)", path,
                GR_PLUGIN_ABI_SYMBOL);
        goto fail;
    }
    if (abi->abi_version != GR_ABI_VERSION) {
        gr_fail(ctx, "%s: built for graphrun plugin ABI %u, but this graphrun loads ABI %u; rebuild it against this "
                     "graphrun's plugin.h",
                path, abi->abi_version, (unsigned)GR_ABI_VERSION);
        goto fail;
    }
    if (size_mismatch(abi, what, sizeof what)) {
        gr_fail(ctx, "%s: built against a different graphrun/plugin.h (%s); rebuild it", path, what);
        goto fail;
    }
    gr_plugin_init_fn init;
    void *sym = dlsym(h, GR_PLUGIN_ENTRY);
    memcpy(&init, &sym, sizeof init); /* object pointer to function pointer, as POSIX allows */
    if (!sym) {
        gr_fail(ctx, "%s: not a graphrun plugin: no %s function", path, GR_PLUGIN_ENTRY);
        goto fail;
    }
    struct gr_plugin *p = gr_calloc(ctx, 1, sizeof *p);
    if (!p) goto fail;
    p->path = gr_strdup(ctx, path);
    p->real = gr_strdup(ctx, real);
    if (!p->path || !p->real) {
        gr_free(ctx, p->path);
        gr_free(ctx, p->real);
        gr_free(ctx, p);
        goto fail;
    }
    struct gr_registry *reg = ctx->reg;
    int before = reg->n;
    const char *origin = reg->origin;
    reg->origin = p->path;
    reg->desc_size = abi->sizeof_op_desc;
    char err[GR_ERR_LEN] = "";
    int init_rc = init(&ctx->host, ctx, err, sizeof err);
    reg->origin = origin;
    reg->desc_size = sizeof(struct gr_op_desc);
    if (init_rc != 0 || reg->n == before) {
        gr_registry_truncate(reg, before); /* none of its ops stay */
        if (init_rc != 0) gr_fail(ctx, "%s: plugin init failed: %s", path, err[0] ? err : "(no message)");
        else gr_fail(ctx, "%s: plugin registered no ops", path);
        gr_free(ctx, p->path);
        gr_free(ctx, p->real);
        gr_free(ctx, p);
        goto fail;
    }
    p->handle = h;
    p->next = ctx->plugins;
    ctx->plugins = p;
    running(ctx, NULL, NULL);
    return 0;
fail:
    running(ctx, path, "unloading");
    dlclose(h);
    running(ctx, NULL, NULL);
    return -1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int gr_plugin_load_path(struct gr_ctx *ctx, const char *dirs) {
    if (!dirs || !*dirs) return 0;
    gr_free(ctx, ctx->plugin_path);
    if (!(ctx->plugin_path = gr_strdup(ctx, dirs))) return -1;
    char *copy = gr_strdup(ctx, dirs);
    if (!copy) return -1;
    int rc = 0;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && rc == 0; dir = strtok_r(NULL, ":", &save)) {
        DIR *d = opendir(dir);
        if (!d) {
            rc = gr_fail(ctx, "GRAPHRUN_PLUGIN_PATH: %s: %s", dir, strerror(errno));
            break;
        }
        closedir(d);
        /* in name order, so ops appear and collide the same way every time */
        struct dirent **list = NULL;
        int n = scandir(dir, &list, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            if (rc == 0 && ends_with(list[i]->d_name, ".so")) rc = gr_plugin_load(ctx, path);
            free(list[i]);
        }
        free(list);
    }
    gr_free(ctx, copy);
    return rc;
}

char *gr_plugin_entry(struct gr_ctx *ctx, const char *dir, const char *name) {
    if (name[0] == '/') return gr_strdup(ctx, name);
    /* joined onto the config's folder, "./" when it has none, so the result
     * holds a '/' and is never looked up by name again */
    size_t n = (dir && dir[0] ? strlen(dir) : 1) + strlen(name) + 2;
    char *joined = gr_alloc(ctx, n);
    if (!joined) return NULL;
    snprintf(joined, n, "%s/%s", dir && dir[0] ? dir : ".", name);
    struct stat st;
    if (strchr(name, '/') || (stat(joined, &st) == 0 && S_ISREG(st.st_mode))) return joined;
    gr_free(ctx, joined);
    return gr_strdup(ctx, name);
}

int gr_plugin_find(struct gr_ctx *ctx, const char *name, char *out, size_t len) {
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return 0;
    }
    if (!ctx->plugin_path) return -1;
    char *copy = gr_strdup(ctx, ctx->plugin_path);
    if (!copy) return -1;
    int found = -1;
    char *save = NULL;
    const char *forms[] = {"%s/%s", "%s/%s.so", "%s/lib%s.so"};
    for (char *dir = strtok_r(copy, ":", &save); dir && found < 0; dir = strtok_r(NULL, ":", &save))
        for (int f = 0; f < 3 && found < 0; f++) {
            snprintf(out, len, forms[f], dir, name);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) found = 0;
        }
    gr_free(ctx, copy);
    return found;
}

void gr_plugins_unload(struct gr_ctx *ctx) {
    struct gr_plugin *p = ctx->plugins;
    while (p) {
        struct gr_plugin *next = p->next;
        running(ctx, p->path, "unloading");
        dlclose(p->handle);
        running(ctx, NULL, NULL);
        gr_free(ctx, p->path);
        gr_free(ctx, p->real);
        gr_free(ctx, p);
        p = next;
    }
    ctx->plugins = NULL;
    gr_free(ctx, ctx->plugin_path);
    ctx->plugin_path = NULL;
}
