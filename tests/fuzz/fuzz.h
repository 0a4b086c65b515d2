/* The fuzz targets' one entry point, shared by libFuzzer builds and by the
 * replay program that runs saved inputs in the normal test suite. */
#ifndef GR_FUZZ_H
#define GR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
