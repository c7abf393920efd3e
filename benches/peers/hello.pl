#!/usr/bin/perl
# Peer for the benchmark: the trivial one-shot Perl CGI (spawn cost of perl + CGI.pm). No seed.
use CGI qw/:standard/;
print header(-type => 'text/plain'), "hello\n";
