/* Fuzz the image reader of `graphrun predict` (tools/images.c) through its
 * entry point: the input becomes an in-memory file, read as PNG or PGM as
 * its first bytes say. Seeds (tests/fuzz/seeds/image): 8x8 PNGs written by
 * libpng in every colour type and bit depth, with tRNS chunks, interlaced,
 * and P5 and P2 PGMs. An accepted image must have every pixel it promises;
 * a refused one, a message of one line. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "images.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("image", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[512] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    uint8_t *px = NULL;
    int w = 0, h = 0;
    if (image_read_gray(path, &px, &w, &h, err, sizeof err) == 0) {
        if (!px || w < 1 || h < 1) __builtin_trap();
        /* read every pixel: a short buffer is a finding for the sanitizers */
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)w * (size_t)h; i++) sum += px[i];
        volatile unsigned sink = sum;
        (void)sink;
    } else if (!err[0] || strchr(err, '\n') || px) {
        __builtin_trap();
    }
    free(px);
    close(fd);
    return 0;
}
