/* The config's `data` section: each dataset as the files that give its
 * named arrays, with the options to read them; a validation set; the
 * augmentation of training images; the pixel range.
 *
 *   data:
 *     train:                       # a dataset: one or more of
 *       images: x-idx3-ubyte       #   a file whose one array is called `images`
 *       labels: {file: y.bin, format: idx}   # (the same with its format given)
 *       arrays: {weights: w.npy}   #   more such files, by the array's name
 *       file: table.csv            #   a file whose arrays keep their names
 *       format: csv                #   `file`'s format when neither its first
 *                                  #   bytes nor its name tell
 *       csv: {label: y, features: [a, b], header: true, delimiter: ";"}
 *       limit: 1000                # only the first N samples
 *       augment: {shift: 2, rotate: 10, erase: {p: 0.5, area: [0.02, 0.2]}}
 *     test: ...                    # the same keys, without augment
 *     validation: 5000             # or 0.1 of data.train, or a dataset
 *     pixel_range: [0, 1]
 *
 * Only the shapes of these keys are checked here; the files are opened by
 * the session (runtime/session/), which checks them against the graph. */
#ifndef GR_CONFIG_DATASETS_H
#define GR_CONFIG_DATASETS_H

#include <stdint.h>

#include "runtime/yaml/yaml.h"

struct gr_ctx;

#define GR_SPLIT_MAX_FILES 16
#define GR_CSV_MAX_FEATURES 4096

/* One file of a dataset. */
struct gr_file_cfg {
    char *path;                /* resolved against the config's folder */
    const char *format;        /* NULL: detected */
    const char *array;         /* images, labels or an `arrays` key: its one array's name; NULL for `file` */
    const struct gr_ynode *at; /* its path, where a message about it points */
    const char *keys[3];       /* where its path is, from the dataset's mapping: {"images"},
                                  {"images", "file"}, {"arrays", "w"}, {"file"} */
};

/* A CSV column: by name, or by 0-based index (negative from the end). */
struct gr_column_cfg {
    const char *name;
    int64_t index;
};

struct gr_csv_cfg {
    int given;                 /* a csv mapping was written */
    const struct gr_ynode *at;
    int has_label;
    struct gr_column_cfg label;
    int n_features;            /* 0: every column but the label */
    struct gr_column_cfg *features;
    int header;                /* -1: detected, 0: none, 1: the first row */
    char delimiter;            /* 0: ',' */
};

struct gr_augment_cfg {
    int on;
    const struct gr_ynode *at;
    const char *array;         /* the images' array; default "images" */
    int64_t shift;
    double rotate;
    double erase_p, erase_lo, erase_hi;
};

struct gr_split_cfg {
    int present;
    const char *name;          /* "data.train", "data.test", "data.validation" */
    const struct gr_ynode *at; /* its mapping */
    int n_files;
    struct gr_file_cfg files[GR_SPLIT_MAX_FILES];
    struct gr_csv_cfg csv;
    int64_t limit;             /* 0: all */
    struct gr_augment_cfg augment;
};

struct gr_data_cfg {
    struct gr_split_cfg train, test, validation; /* validation.present: a dataset of its own */
    int64_t holdout;           /* validation samples held out of data.train: a count, */
    double holdout_fraction;   /* or a fraction of it (0: neither) */
    const struct gr_ynode *validation_at;
    double pixel_lo, pixel_hi;
};

/* Read the data section `data` of `file` (paths resolved against dir). */
int gr_data_cfg_read(struct gr_ctx *ctx, struct gr_data_cfg *out, const char *file, const char *dir,
                     const struct gr_ynode *data);
/* Whether there is a validation set (held out or its own). */
static inline int gr_data_cfg_has_validation(const struct gr_data_cfg *d) {
    return d->validation.present || d->holdout > 0 || d->holdout_fraction > 0;
}
/* The samples held out of n training samples: the count, or the fraction
 * rounded (at least one); 0 without a held-out validation set. */
int64_t gr_data_cfg_holdout(const struct gr_data_cfg *d, int64_t n);
/* Each file's path in `data` (a copy of the section's tree in some document)
 * replaced through `replace`, which returns 0 or -1. */
int gr_data_cfg_each_path(const struct gr_data_cfg *d, struct gr_ynode *data,
                          int (*replace)(void *ud, struct gr_ynode *map, const char *key, const char *resolved),
                          void *ud);
void gr_data_cfg_free(struct gr_ctx *ctx, struct gr_data_cfg *d);

#endif
