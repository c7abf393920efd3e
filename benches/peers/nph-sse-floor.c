/* Peer for the benchmark: the floor of a process-per-subscriber push, the least any CGI program
 * can do per subscriber and per message. An NPH program that writes an SSE head, then waits on
 * inotify for the file `message` in the directory named by its query string to be renamed into
 * place, and writes the file as one SSE event each time. No seed; no store, no ids, no
 * validation, no heartbeat. It ends when a write fails (the client left) or on SIGTERM.
 * Build: gcc -O2 -o nph-sse-floor nph-sse-floor.c */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static int write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(void)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nConnection: close\r\n\r\nretry: 2000\n\n";
    const char *dir = getenv("QUERY_STRING");
    char path[PATH_MAX];
    char events[4096];
    char event[8192];
    if (dir == NULL || snprintf(path, sizeof path, "%s/message", dir) >= (int)sizeof path)
        return 1;
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, dir, IN_MOVED_TO) < 0)
        return 1;
    if (write_all(head, sizeof head - 1) < 0)
        return 0;
    for (;;) {
        ssize_t n = read(fd, events, sizeof events);
        if (n <= 0)
            return 1;
        int hit = 0;
        for (char *p = events; p < events + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len > 0 && strcmp(e->name, "message") == 0)
                hit = 1;
            p += sizeof *e + e->len;
        }
        if (!hit)
            continue;
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(event + 6, 1, sizeof event - 8, f);
        fclose(f);
        memcpy(event, "data: ", 6);
        event[6 + len] = '\n';
        event[7 + len] = '\n';
        if (write_all(event, len + 8) < 0)
            return 0;
    }
}
