/* Files and folders, the few ways graphrun touches them, each once:
 * opening a file to read, creating folders, reading a whole text file under
 * a size limit, writing every byte or failing with the reason, and
 * replacing a file atomically (or writing into a device or pipe named in
 * its place). */
#ifndef GR_BASE_FS_H
#define GR_BASE_FS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct gr_ctx;
struct stat;

/* Every file graphrun reads (config, data, checkpoint, image, metrics) is
 * opened here, so a FIFO, a terminal or a device is refused instead of
 * blocking: open() without O_NONBLOCK waits forever for a FIFO's writer, and
 * a stat() before open() can be raced. So: open O_RDONLY | O_NONBLOCK |
 * O_NOCTTY | O_CLOEXEC, fstat the descriptor, refuse anything but a regular
 * file, then clear O_NONBLOCK so reads behave as usual. Returns the
 * descriptor, or -1 with "cannot open: <reason>" or "not a regular file" in
 * `why` (no path: the caller puts it and its location in front). st holds
 * the file's status when it was opened (a caller words a directory its own
 * way), st_mode 0 when it was not. */
int gr_open_regular(const char *path, struct stat *st, char *why, size_t len);
/* gr_open_regular as a stream to read, NULL with `why` set. */
FILE *gr_fopen_regular(const char *path, struct stat *st, char *why, size_t len);
/* gr_fopen_regular with its refusal recorded in ctx as "PATH: why". */
FILE *gr_fopen_input(struct gr_ctx *ctx, const char *path, struct stat *st);

/* mkdir -p: `path` and every missing folder above it. */
int gr_mkdirs(struct gr_ctx *ctx, const char *path);
/* mkdir -p of the folder that will hold the file `path` (none: nothing). */
int gr_make_parent(struct gr_ctx *ctx, const char *path);

/* The whole regular file `path`, NUL-terminated, if at most `limit` bytes. */
int gr_read_text_file(struct gr_ctx *ctx, const char *path, size_t limit, char **out, size_t *len);

/* Every byte of buf into fd (retrying short writes and EINTR), or an error
 * naming `path` and errno's text. With `written`, the bytes written so far
 * are added there and ctx->write_hook is told after each write. */
int gr_write_all(struct gr_ctx *ctx, int fd, const void *buf, size_t len, const char *path, uint64_t *written);

/* A file being written to replace `path`: open it, write to fd, then commit
 * (or discard on any failure). Where `path` is a regular file, a link to
 * one, or nothing yet, the bytes go to a new temporary file of their own
 * beside the file, "<file>.tmp.<6 hex digits>" made with O_EXCL and held
 * by an flock until it is renamed or removed (gr_remove_abandoned) (links
 * followed: a link stays, the file it leads to is replaced), which commit
 * fsyncs, renames over the file and fsyncs the folder, so a crash or a full
 * disk at any moment leaves the old file or the new one, whole. Where
 * `path` is something else (/dev/full, a FIFO, /dev/stdout on a pipe), they
 * go straight into it, so that its errors are the write's. */
struct gr_output {
    int fd;
    const char *path;  /* as given: messages name it */
    char target[4096]; /* `path` with its links followed */
    char tmp[4120];    /* the temporary file; "" once renamed, or when writing straight into target */
};

int gr_open_output(struct gr_ctx *ctx, struct gr_output *o, const char *path);
/* fsync (a regular file), close, rename over the target, fsync the folder;
 * on failure the temporary file is removed. */
int gr_commit_output(struct gr_ctx *ctx, struct gr_output *o);
/* Close and remove the temporary file: the target is left as it was. */
void gr_discard_output(struct gr_output *o);

/* The temporary file `name` in the folder dirfd removed if no writer
 * holds it: a temporary is flock'ed from its creation until it is renamed
 * or removed, so one that is not was left by a write cut short (kill -9,
 * a crash). Links, other files and one being written are left; 1 if it
 * was removed. */
int gr_remove_abandoned(int dirfd, const char *name);

/* `head` then `body` into `path` through gr_open_output and gr_commit_output. */
int gr_replace_file(struct gr_ctx *ctx, const char *path, const char *head, const char *body, size_t body_len);

/* Whether a file could be written at `path` before a run depends on it (a
 * checkpoint): not a directory, and a file can be created in the nearest
 * existing folder on its way (one is made and removed). */
int gr_probe_writable(struct gr_ctx *ctx, const char *path);

#endif
