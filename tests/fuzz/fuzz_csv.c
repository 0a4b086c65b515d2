/* Fuzz the csv reader through the reader interface, with the options a
 * config most often gives: the header detected and the last column as
 * labels; and a header required, ';' between fields, a label named
 * "label" and two features chosen by name and by index (fuzz_source.h). */
#define _GNU_SOURCE
#include "fuzz.h"
#include "fuzz_source.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct gr_column last = {NULL, -1}, label = {"label", 0}, features[] = {{"a", 0}, {NULL, 1}};
    fuzz_source(data, size, "csv", &(struct gr_read_opts){.label = &last});
    fuzz_source(data, size, "csv",
                &(struct gr_read_opts){.delimiter = ';', .header = GR_CSV_HEADER_YES, .label = &label,
                                       .features = features, .n_features = 2});
    return 0;
}
