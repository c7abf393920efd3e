/* Peer for the benchmark: the floor of serverpush's own SSE protocol, per subscriber and per
 * message. Where nph-sse-floor.c writes a renamed file as it is, this program does the least
 * a stream of one spool channel must do for a client to resume and read what the JS client
 * reads: it waits on inotify for a message file to be renamed into the channel's directory
 * (named by its query string), reads it, takes the `time` and `type` of its header line, and
 * writes one event with the id `channel:N:epoch` and the JSON envelope
 * {"channel":..,"data":..,"id":N,"time":..,"type":..}, the data escaped as JSON; a heartbeat
 * after 15 s without a message, as the benchmark's site is set up. The epoch is read once,
 * at the start. No validation, no cursor parse, no rights, no caps, no lifetime; the header
 * is trusted to be the spool's own. It ends when a write fails (the client left) or on
 * SIGTERM.
 * Build: gcc -O2 -o nph-sse-protocol-floor nph-sse-protocol-floor.c */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE 65536

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

/* The text of "key":"..." in the header line, without its quotes; the spool writes no escapes
 * in a time or a content type. */
static int field(const char *line, size_t len, const char *key, const char **at, size_t *n)
{
    char pattern[32];
    int k = snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *end = line + len;
    for (const char *p = line; p + k <= end; p++) {
        if (memcmp(p, pattern, (size_t)k) == 0) {
            const char *start = p + k;
            const char *close = memchr(start, '"', (size_t)(end - start));
            if (close == NULL)
                return -1;
            *at = start;
            *n = (size_t)(close - start);
            return 0;
        }
    }
    return -1;
}

/* Appends `text` to `out` escaped as a JSON string's content (as serde_json escapes). */
static char *escape(char *out, const char *text, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c == '\n') {
            *out++ = '\\';
            *out++ = 'n';
        } else if (c == '\r') {
            *out++ = '\\';
            *out++ = 'r';
        } else if (c == '\t') {
            *out++ = '\\';
            *out++ = 't';
        } else if (c < 0x20) {
            memcpy(out, "\\u00", 4);
            out[4] = hex[c >> 4];
            out[5] = hex[c & 15];
            out += 6;
        } else {
            *out++ = (char)c;
        }
    }
    return out;
}

int main(void)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                               "Cache-Control: no-cache\r\nConnection: close\r\n\r\nretry: 2000\n\n";
    static const char heartbeat[] = ": heartbeat\n\n";
    const char *dir = getenv("QUERY_STRING");
    char path[PATH_MAX];
    char epoch[64] = "";
    char events[4096];
    static char file[MAX_FILE];
    /* Every byte of the data may take six when escaped, plus the envelope. */
    static char event[MAX_FILE * 6 + 1024];
    if (dir == NULL || snprintf(path, sizeof path, "%s/epoch", dir) >= (int)sizeof path)
        return 1;
    const char *channel = strrchr(dir, '/');
    channel = channel == NULL ? dir : channel + 1;
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = inotify_init1(IN_CLOEXEC);
    if (dir_fd < 0 || fd < 0 || inotify_add_watch(fd, dir, IN_MOVED_TO) < 0)
        return 1;
    int epoch_fd = openat(dir_fd, "epoch", O_RDONLY | O_CLOEXEC);
    if (epoch_fd >= 0) {
        ssize_t n = read(epoch_fd, epoch, sizeof epoch - 1);
        close(epoch_fd);
        epoch[n > 0 ? n : 0] = '\0';
        epoch[strcspn(epoch, "\n")] = '\0';
    }
    if (write_all(head, sizeof head - 1) < 0)
        return 0;
    struct pollfd watch = {.fd = fd, .events = POLLIN};
    for (;;) {
        int ready = poll(&watch, 1, 15000);
        if (ready == 0) {
            if (write_all(heartbeat, sizeof heartbeat - 1) < 0)
                return 0;
            continue;
        }
        ssize_t n = read(fd, events, sizeof events);
        if (n <= 0)
            return 1;
        for (char *p = events; p < events + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            p += sizeof *e + e->len;
            char *suffix;
            unsigned long long id;
            if (e->len == 0 || (id = strtoull(e->name, &suffix, 10)) == 0 || strcmp(suffix, ".msg") != 0)
                continue;
            int m = openat(dir_fd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (m < 0)
                continue;
            struct stat st;
            ssize_t len = fstat(m, &st) == 0 && st.st_size < MAX_FILE ? read(m, file, (size_t)st.st_size) : -1;
            close(m);
            const char *newline = len > 0 ? memchr(file, '\n', (size_t)len) : NULL;
            const char *time, *type;
            size_t time_n, type_n;
            if (newline == NULL || field(file, (size_t)(newline - file), "time", &time, &time_n) < 0
                || field(file, (size_t)(newline - file), "type", &type, &type_n) < 0)
                continue;
            char *out = event;
            out += sprintf(out, "id: %s:%llu:%s\ndata: {\"channel\":\"%s\",\"data\":\"", channel, id, epoch, channel);
            out = escape(out, newline + 1, (size_t)(file + len - newline - 1));
            out += sprintf(out, "\",\"id\":%llu,\"time\":\"%.*s\",\"type\":\"%.*s\"}\n\n", id, (int)time_n, time,
                           (int)type_n, type);
            if (write_all(event, (size_t)(out - event)) < 0)
                return 0;
        }
    }
}
