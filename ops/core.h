/* The two ops the runtime itself must understand: `input` (fed from data)
 * and `param` (a trainable tensor in the parameter block). Their attribute
 * indices are shared with the runtime through this header. */
#ifndef GR_OPS_CORE_H
#define GR_OPS_CORE_H

#include "graphrun/plugin.h"

enum { GR_INPUT_DATA, GR_INPUT_SHAPE, GR_INPUT_DTYPE, GR_INPUT_N_ATTRS };

enum { GR_PARAM_SHAPE, GR_PARAM_INIT, GR_PARAM_TRAINABLE, GR_PARAM_N_ATTRS };

/* Initializer names, indexed by enum gr_init. */
extern const char *const gr_init_names[GR_INIT_COUNT + 1];

#endif
