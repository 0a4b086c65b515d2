/* graphrun expand: a config with its shorthand written out (models/expand.h):
 * every node named, with its inputs and its activation as a node of its own,
 * and no blocks. graphrun reads the result as it is, and builds the same
 * graph from it. */
#include <stdio.h>
#include <stdlib.h>

#include "models/builder.h"
#include "models/expand.h"
#include "tools/cli/cli.h"

/* The config's tree with the expanded graph, as YAML into *text (free()). */
static int expanded_text(struct job *j, char **text, size_t *len) {
    struct gr_expansion x;
    const struct gr_ynode *root = j->cfg.doc.root;
    if (gr_expand_graph(&j->ctx, j->cfg.path, j->cfg.graph, gr_ymap_get(root, "blocks"), &x)) return -1;
    const struct gr_ynode *out = gr_expanded_config(&x, root);
    int rc = out ? gr_yaml_emit(&j->ctx, out, text, len) : -1;
    gr_expansion_free(&j->ctx, &x);
    return rc;
}

static int cmd_expand(struct cli *o) {
    struct job j;
    if (cli_open_job(&j, o, 0)) return 1;
    /* the whole graph is checked first: what is printed builds */
    struct gr_graph g;
    int rc = cli_job_graph(&j, &g, j.cfg.batch_size);
    gr_graph_free(&g);
    char *text = NULL;
    size_t len = 0;
    if (rc == 0) rc = expanded_text(&j, &text, &len);
    if (rc == 0) {
        printf("# expanded by graphrun expand: every node written out; paths as in the original, relative to its "
               "folder\n");
        fwrite(text, 1, len, stdout);
    } else {
        fprintf(stderr, "%s\n", j.ctx.err);
    }
    free(text);
    cli_close_job(&j);
    return rc ? 1 : 0;
}

const struct command gr_cmd_expand = {"expand", cmd_expand,
    "usage: graphrun expand CONFIG [--set PATH=VALUE | --unset PATH]...\n"
     "\n"
     "Print CONFIG with its shorthand written out: every node named and with\n"
     "its inputs, each `activation:` a node of its own, each use of a block\n"
     "replaced by the block's nodes. graphrun reads the output as it is (saved\n"
     "beside CONFIG, whose relative paths it keeps) and trains the same graph\n"
     "from it. The graph is checked first; the data files are not read.\n",
    "--set --unset", 1, 1};
