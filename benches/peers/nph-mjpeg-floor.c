/* Peer for the benchmark: the floor of a process-per-viewer camera stream, the least any CGI
 * program can do per viewer and per frame. An NPH program that writes a multipart head, then
 * sends the camera file named by its query string as one part (with its length and its
 * modification time as X-Timestamp, as nph-webcam does) at start and each time a new file is
 * renamed into place or closed after writing. No seed; no validation, no frame-rate cap, no
 * keepalive, no resizing. It ends when a write fails (the client left) or on SIGTERM.
 * Build: gcc -O2 -o nph-mjpeg-floor nph-mjpeg-floor.c */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FRAME (16 << 20)

static int write_all(struct iovec *iov, int count)
{
    while (count > 0) {
        ssize_t w = writev(1, iov, count);
        if (w <= 0)
            return -1;
        while (count > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Sends the file as one part; 0 when sent or unreadable, -1 when the client left. */
static int send_frame(const char *path, char *frame)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FRAME) {
        close(fd);
        return 0;
    }
    size_t len = 0;
    ssize_t n;
    while (len < (size_t)st.st_size && (n = read(fd, frame + len, (size_t)st.st_size - len)) > 0)
        len += (size_t)n;
    close(fd);
    char head[160];
    int head_len = snprintf(head, sizeof head,
                            "Content-Type: image/jpeg\r\nContent-Length: %zu\r\n"
                            "X-Timestamp: %lld.%06ld\r\n\r\n",
                            len, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec / 1000);
    static char tail[] = "\r\n--floor\r\n";
    struct iovec iov[3] = {
        {head, (size_t)head_len}, {frame, len}, {tail, sizeof tail - 1}};
    return write_all(iov, 3);
}

int main(void)
{
    static char head[] = "HTTP/1.1 200 OK\r\n"
                         "Content-Type: multipart/x-mixed-replace; boundary=floor\r\n"
                         "Cache-Control: no-cache\r\nConnection: close\r\n\r\n--floor\r\n";
    const char *path = getenv("QUERY_STRING");
    char dir[PATH_MAX], base[PATH_MAX];
    char events[4096];
    if (path == NULL || strlen(path) >= PATH_MAX)
        return 1;
    strcpy(dir, path);
    strcpy(base, path);
    const char *name = basename(base);
    char *frame = malloc(MAX_FRAME);
    int fd = inotify_init1(IN_CLOEXEC);
    if (frame == NULL || fd < 0 || inotify_add_watch(fd, dirname(dir), IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
        return 1;
    struct iovec iov = {head, sizeof head - 1};
    if (write_all(&iov, 1) < 0 || send_frame(path, frame) < 0)
        return 0;
    for (;;) {
        ssize_t n = read(fd, events, sizeof events);
        if (n <= 0)
            return 1;
        int hit = 0;
        for (char *p = events; p < events + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len > 0 && strcmp(e->name, name) == 0)
                hit = 1;
            p += sizeof *e + e->len;
        }
        if (hit && send_frame(path, frame) < 0)
            return 0;
    }
}
