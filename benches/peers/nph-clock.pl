#!/usr/bin/perl
# Peer for the benchmark: seed 002, the Perl CGI.pm Server Push clock (Netease article).
# An NPH CGI (the nph- name makes Apache pass its output through untouched) that pushes a
# text/plain part "The current time is <localtime>" every second, multipart/x-mixed-replace.
#
# The seed as printed is garbled: "#! / Usr / bin / perl", "USE CGI QW /: Push -nph /",
# "-Boundary => '- boundary'", "scarar", "n" for "\n", "SLEEP 1". Those are restored
# (the boundary as '----boundary', following CGI.pm's own multipart_init example).
# Fixes needed to make it run: none beyond restoring the garbled text.
use CGI qw/:push -nph/;
$| = 1;
print multipart_init(-boundary => '----boundary');
while (1) {
    print multipart_start(-type => 'text/plain'), "The current time is ", scalar(localtime), "\n", multipart_end;
    sleep 1;
}
