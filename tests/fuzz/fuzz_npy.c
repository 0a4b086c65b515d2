/* Fuzz the npy and npz readers through the reader interface: the input is
 * opened as an npz archive if it starts like a zip and as a .npy file
 * otherwise, and every array it declares is read (fuzz_source.h). */
#define _GNU_SOURCE
#include "fuzz.h"
#include "fuzz_source.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_source(data, size, size >= 2 && data[0] == 'P' && data[1] == 'K' ? "npz" : "npy", NULL);
    return 0;
}
