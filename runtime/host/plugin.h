/* Loading plugins: shared libraries that register ops through the same host
 * table and entry-point type the built-in ops use (include/graphrun/plugin.h).
 *
 * What runs when: dlopen runs the library's constructors
 * (__attribute__((constructor)), and those of the libraries it needs) before
 * graphrun can read anything of it; then the loader reads its
 * graphrun_plugin_abi record (GR_PLUGIN_DECLARE) and refuses another ABI
 * version or other struct sizes before calling its entry point. A plugin
 * whose init fails, or registers an op that is incomplete or whose name is
 * taken, is unloaded (dlclose runs its destructors) and leaves no op behind.
 * Plugins stay loaded until the context is freed. While a plugin's own code
 * runs at load or unload, ctx->plugin_activity (if set) names it. */
#ifndef GR_RUNTIME_PLUGIN_H
#define GR_RUNTIME_PLUGIN_H

#include <stddef.h>

struct gr_ctx;

/* Load one plugin file (a second load of the same file does nothing).
 * Errors name the file. */
int gr_plugin_load(struct gr_ctx *ctx, const char *path);

/* Every *.so file directly in each folder of a ':'-separated list (the value
 * of GRAPHRUN_PLUGIN_PATH, which main passes in); the list is also kept to
 * resolve plugin names given without a '/'. NULL or "" loads nothing. */
int gr_plugin_load_path(struct gr_ctx *ctx, const char *dirs);

/* A config's `plugins:` entry as the loader takes it: a path, relative to
 * the config's folder `dir`, when it holds a '/' or names a file in that
 * folder (`plugins: [conv.so]` beside the config); otherwise the bare name,
 * which gr_plugin_find looks up on the search path. Allocated. */
char *gr_plugin_entry(struct gr_ctx *ctx, const char *dir, const char *name);

/* Resolve an entry: a path (with '/') as is, else NAME, NAME.so or
 * libNAME.so in the search path (GRAPHRUN_PLUGIN_PATH's folders, in order).
 * Writes into out; -1 if not found. */
int gr_plugin_find(struct gr_ctx *ctx, const char *name, char *out, size_t len);

void gr_plugins_unload(struct gr_ctx *ctx);

#endif
