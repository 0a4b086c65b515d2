/* Registers every built-in op through the host table, exactly as a plugin's
 * entry point does (the same type as graphrun_plugin_init). */
#ifndef GR_OPS_BUILTIN_H
#define GR_OPS_BUILTIN_H

#include "graphrun/plugin.h"

int gr_builtin_init(const struct gr_host *host, void *host_ctx, char *err, size_t err_len);

#endif
