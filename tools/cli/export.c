/* graphrun export: a checkpoint's model as an ONNX file that any ONNX
 * runtime serves (runtime/export/export.h). The checkpoint is loaded as
 * `eval` and `predict` load it: a predict-mode session, parameters only,
 * matched by name and shape. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/export/export.h"
#include "runtime/export/model.h"
#include "tools/cli/cli.h"

static int cmd_export(struct cli *o) {
    if (!o->output) {
        fprintf(stderr, "graphrun export: -o FILE is required: where to write the ONNX model (see graphrun export --help)\n");
        return 2;
    }
    struct job j;
    if (cli_open_job(&j, o, 1)) return 1;
    struct gr_export_opts eo = {.softmax = o->softmax, .version = GR_VERSION, .step = j.ckpt_step};
    /* -o /dev/stdout (a pipe): the model alone on the standard output, the
     * line that reports it on stderr */
    struct stat out, std;
    int to_stdout = stat(o->output, &out) == 0 && fstat(STDOUT_FILENO, &std) == 0 && out.st_dev == std.st_dev &&
                    out.st_ino == std.st_ino;
    int rc = gr_export_onnx(&j.s, o->output, &eo);
    if (rc) fprintf(stderr, "%s\n", j.ctx.err);
    else fprintf(to_stdout ? stderr : stdout, "%s: the graph up to '%s' as ONNX (opset %d), from the checkpoint of step %lld\n", o->output,
                j.cfg.logits, GR_ONNX_OPSET, (long long)j.ckpt_step);
    cli_close_job(&j);
    return rc ? 1 : 0;
}

const struct command gr_cmd_export = {"export", cmd_export,
    "usage: graphrun export CONFIG --checkpoint CKPT -o FILE [--softmax]\n"
    "                       [--set PATH=VALUE | --unset PATH]...\n"
    "\n"
    "Write CONFIG's evaluation graph (its inputs through eval.logits) with\n"
    "CKPT's weights as an ONNX model (opset 17) to FILE: the batch axis is\n"
    "dynamic, the weights are initializers, and the model's metadata holds\n"
    "graphrun's version and the config. The outputs are the logits and, with\n"
    "--softmax, their softmax, named probabilities. Every op on the way must\n"
    "have an ONNX lowering (graphrun ops NAME says whether it has).\n",
    "--set --unset --checkpoint -o --softmax", 1, 1};
