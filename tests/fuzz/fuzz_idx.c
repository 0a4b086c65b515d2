/* Fuzz the idx reader through the reader interface: the input becomes an
 * in-memory file (raw or gzip, as its first bytes say) opened as IDX, and
 * its one array is read twice (fuzz_source.h). */
#define _GNU_SOURCE
#include "fuzz.h"
#include "fuzz_source.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_source(data, size, "idx", NULL);
    return 0;
}
