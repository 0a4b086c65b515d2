#include "images.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/fs.h"

#define MAX_SIDE 16384

/* libpng reports through these instead of printing: the error's text is
 * kept for our one-line message, warnings are dropped. */
struct png_msg {
    char text[160];
};

static void png_on_error(png_structp png, png_const_charp msg) {
    struct png_msg *m = png_get_error_ptr(png);
    snprintf(m->text, sizeof m->text, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* `msg` lives in the caller: locals of a function that calls setjmp are
 * indeterminate after the jump if changed in between. */
static int read_png(FILE *f, const char *path, struct png_msg *msg, uint8_t **out, int *w, int *h, char *err,
                    size_t len) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        return snprintf(err, len, "%s: out of memory", path), -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return snprintf(err, len, "%s: not a readable PNG file (%s)", path, msg->text), -1;
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE) {
        png_destroy_read_struct(&png, &info, NULL);
        return snprintf(err, len, "%s: %ux%u pixels is not an image graphrun reads", path, (unsigned)width,
                        (unsigned)height), -1;
    }
    /* whatever the file holds, 8-bit gray, with alpha if it has any: a
     * palette becomes RGB, gray below 8 bits 8 bits, a tRNS chunk an alpha
     * channel; 16-bit samples are rounded to 8 (v * 257 gives v back); colour
     * becomes gray by libpng's default weights (R = G = B gives that value);
     * interlaced rows are put together */
    int color = png_get_color_type(png, info);
    png_set_expand(png);
    png_set_scale_16(png);
    if (color & PNG_COLOR_MASK_COLOR) png_set_rgb_to_gray_fixed(png, 1, -1, -1);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t channels = png_get_channels(png, info);
    if (png_get_bit_depth(png, info) != 8 || channels < 1 || channels > 2 ||
        png_get_rowbytes(png, info) != width * channels) {
        png_destroy_read_struct(&png, &info, NULL);
        return snprintf(err, len, "%s: cannot read this PNG as 8-bit gray", path), -1;
    }
    pixels = malloc((size_t)width * height * channels);
    rows = malloc(height * sizeof *rows);
    if (!pixels || !rows) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return snprintf(err, len, "%s: out of memory", path), -1;
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * width * channels;
    png_read_image(png, rows);
    /* the rest of the file too (its chunks' checksums, IEND): a file cut
     * after its image data is as broken as one cut inside it */
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    /* alpha composites over black, the background of MNIST's digits: a
     * transparent pixel is background, a light one at alpha a is a times as
     * light; gray g at alpha a becomes round(g * a / 255), in place */
    if (channels == 2)
        for (size_t i = 0; i < (size_t)width * height; i++)
            pixels[i] = (uint8_t)((pixels[2 * i] * pixels[2 * i + 1] + 127) / 255);
    *out = pixels;
    *w = (int)width;
    *h = (int)height;
    return 0;
}

/* a PGM header number, skipping whitespace and # comments */
static int pgm_number(FILE *f, long *v) {
    int c;
    do {
        c = fgetc(f);
        if (c == '#')
            while (c != '\n' && c != EOF) c = fgetc(f);
    } while (c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if (c < '0' || c > '9') return -1;
    long x = 0;
    while (c >= '0' && c <= '9') {
        if (x > 1000000) return -1;
        x = x * 10 + (c - '0');
        c = fgetc(f);
    }
    *v = x;
    return 0;
}

static int read_pgm(FILE *f, const char *path, int binary, uint8_t **out, int *w, int *h, char *err, size_t len) {
    long width, height, maxval;
    if (pgm_number(f, &width) || pgm_number(f, &height) || pgm_number(f, &maxval))
        return snprintf(err, len, "%s: malformed PGM header", path), -1;
    if (width < 1 || height < 1)
        return snprintf(err, len, "%s: PGM of %ldx%ld pixels holds no pixels", path, width, height), -1;
    if (width > MAX_SIDE || height > MAX_SIDE)
        return snprintf(err, len, "%s: PGM of %ldx%ld pixels is too large (at most %d on a side)", path, width,
                        height, MAX_SIDE), -1;
    if (maxval < 1 || maxval > 255)
        return snprintf(err, len, "%s: PGM of %ldx%ld with maxval %ld is not an 8-bit image graphrun reads", path,
                        width, height, maxval), -1;
    size_t n = (size_t)width * (size_t)height;
    uint8_t *pixels = malloc(n);
    if (!pixels) return snprintf(err, len, "%s: out of memory", path), -1;
    for (size_t i = 0; i < n; i++) {
        long v;
        if (binary) {
            int c = fgetc(f);
            if (c == EOF) {
                free(pixels);
                return snprintf(err, len, "%s: truncated: %zu of %zu pixels", path, i, n), -1;
            }
            v = c;
        } else if (pgm_number(f, &v)) {
            free(pixels);
            return snprintf(err, len, "%s: truncated or malformed at pixel %zu", path, i), -1;
        }
        if (v > maxval) {
            free(pixels);
            return snprintf(err, len, "%s: pixel %zu is %ld, above maxval %ld", path, i, v, maxval), -1;
        }
        pixels[i] = (uint8_t)(v * 255 / maxval);
    }
    *out = pixels;
    *w = (int)width;
    *h = (int)height;
    return 0;
}

int image_read_gray(const char *path, uint8_t **pixels, int *width, int *height, char *err, size_t len) {
    *pixels = NULL;
    struct stat st;
    char why[160];
    FILE *f = gr_fopen_regular(path, &st, why, sizeof why);
    if (!f) return snprintf(err, len, "%s: %s", path, why), -1;
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, 8, f);
    int rc;
    if (got == 8 && png_sig_cmp(magic, 0, 8) == 0) {
        rewind(f);
        struct png_msg msg = {"unknown error"};
        rc = read_png(f, path, &msg, pixels, width, height, err, len);
    } else if (got >= 2 && magic[0] == 'P' && (magic[1] == '5' || magic[1] == '2')) {
        fseek(f, 2, SEEK_SET);
        rc = read_pgm(f, path, magic[1] == '5', pixels, width, height, err, len);
    } else {
        rc = (snprintf(err, len, "%s: not a PNG or PGM image", path), -1);
    }
    fclose(f);
    return rc;
}
