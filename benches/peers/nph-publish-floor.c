/* Peer for the benchmark: the floor of an HTTP publish into a process-per-subscriber push, the
 * least a CGI program can do to publish. An NPH program that reads the request's body (at most
 * 64 KiB), writes it to a new file in the directory named by its query string and renames it to
 * `message` there, which `nph-sse-floor` watching that directory sends to its subscriber; then it
 * answers 200. No store, ids, validation or locking.
 * Build: gcc -O2 -o nph-publish-floor nph-publish-floor.c */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                             "Connection: close\r\n\r\n1\n";
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";
    const char *dir = getenv("QUERY_STRING");
    const char *length = getenv("CONTENT_LENGTH");
    char body[65536];
    char tmp[PATH_MAX], path[PATH_MAX];
    long want = length != NULL ? strtol(length, NULL, 10) : 0;
    if (dir == NULL || want < 0 || want > (long)sizeof body
        || snprintf(path, sizeof path, "%s/message", dir) >= (int)sizeof path
        || snprintf(tmp, sizeof tmp, "%s/.new-%d", dir, (int)getpid()) >= (int)sizeof tmp) {
        return write(1, bad, sizeof bad - 1) < 0;
    }
    long got = 0;
    while (got < want) {
        ssize_t n = read(0, body + got, (size_t)(want - got));
        if (n <= 0)
            break;
        got += n;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, body, (size_t)got) != got || close(fd) != 0 || rename(tmp, path) != 0)
        return write(1, bad, sizeof bad - 1) < 0;
    return write(1, ok, sizeof ok - 1) < 0;
}
