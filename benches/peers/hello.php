#!/usr/bin/php-cgi
<?php
// Peer for the benchmark: the trivial one-shot PHP CGI (spawn cost of php-cgi). No seed.
echo "hello\n";
