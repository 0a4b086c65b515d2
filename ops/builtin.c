/* The built-in ops, registered through the same host table and entry-point
 * type that plugins use. Adding an op: write ops/<name>.c exporting a
 * descriptor, list it here, and add the file to CMakeLists.txt. */
#include <stdio.h>

#include "builtin.h"

extern const struct gr_op_desc gr_op_input, gr_op_param, gr_op_reshape, gr_op_slice, gr_op_matmul, gr_op_add,
    gr_op_mul, gr_op_sigmoid, gr_op_tanh, gr_op_relu, gr_op_concat, gr_op_dense, gr_op_lstm, gr_op_softmax,
    gr_op_softmax_cross_entropy, gr_op_mean, gr_op_conv2d, gr_op_max_pool2d, gr_op_avg_pool2d, gr_op_global_avg_pool,
    gr_op_flatten, gr_op_leaky_relu, gr_op_gelu, gr_op_log_softmax, gr_op_embedding, gr_op_mse, gr_op_rnn, gr_op_gru,
    gr_op_layer_norm, gr_op_dropout, gr_op_batch_norm;

static const struct gr_op_desc *const builtin_ops[] = {
    &gr_op_input, &gr_op_param,   &gr_op_reshape, &gr_op_slice, &gr_op_matmul,  &gr_op_add,
    &gr_op_mul,   &gr_op_sigmoid, &gr_op_tanh,    &gr_op_relu,  &gr_op_concat,  &gr_op_dense,
    &gr_op_lstm,  &gr_op_softmax, &gr_op_softmax_cross_entropy, &gr_op_mean,
    &gr_op_conv2d, &gr_op_max_pool2d, &gr_op_avg_pool2d, &gr_op_global_avg_pool, &gr_op_flatten,
    &gr_op_leaky_relu, &gr_op_gelu, &gr_op_log_softmax, &gr_op_embedding, &gr_op_mse,
    &gr_op_rnn, &gr_op_gru, &gr_op_layer_norm, &gr_op_dropout, &gr_op_batch_norm,
};

int gr_builtin_init(const struct gr_host *host, void *host_ctx, char *err, size_t err_len) {
    for (size_t i = 0; i < sizeof builtin_ops / sizeof builtin_ops[0]; i++)
        if (host->register_op(host_ctx, builtin_ops[i], err, err_len)) return -1;
    return 0;
}
