/* Peer for the benchmark: the trivial one-shot C CGI, the floor of CGI spawn cost. No seed.
 * Build: gcc -O2 -o hello.cgi hello.c */
#include <stdio.h>

int main(void)
{
    fputs("Content-Type: text/plain\r\n\r\nhello\n", stdout);
    return 0;
}
