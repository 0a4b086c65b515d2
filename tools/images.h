/* Reading single images for `graphrun predict`: PNG (any form libpng
 * decodes, converted to 8-bit grayscale, alpha composited over black) and
 * PGM (P5 binary or P2 text). */
#ifndef GR_TOOLS_IMAGES_H
#define GR_TOOLS_IMAGES_H

#include <stddef.h>
#include <stdint.h>

/* Read `path` into a malloc'ed buffer of width * height bytes (row-major).
 * Returns 0, or -1 with a message in err. */
int image_read_gray(const char *path, uint8_t **pixels, int *width, int *height, char *err, size_t len);

#endif
