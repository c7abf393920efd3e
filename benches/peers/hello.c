/* Peer for the benchmark: the trivial one-shot C CGI, the floor of CGI spawn cost. No seed.
 * It reads a request body as a CGI program must (CONTENT_LENGTH bytes), so that a POST to it is
 * the floor of a publish: the server writes the body to the program and waits for it.
 * Build: gcc -O2 -o hello.cgi hello.c */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    const char *length = getenv("CONTENT_LENGTH");
    long left = length ? strtol(length, NULL, 10) : 0;
    char buf[4096];
    while (left > 0) {
        ssize_t n = read(0, buf, left < (long)sizeof buf ? (size_t)left : sizeof buf);
        if (n <= 0)
            break;
        left -= n;
    }
    fputs("Content-Type: text/plain\r\n\r\nhello\n", stdout);
    return 0;
}
