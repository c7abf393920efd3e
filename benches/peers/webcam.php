#!/usr/bin/php-cgi
<?php
// Peer for the benchmark: seed 000, the PHP webcam pusher ("Img.php", PHP-Push article).
// Pushes the JPEG as multipart/x-mixed-replace, one part each time its filemtime changes,
// polling with sleep(1); a browser whose User-Agent contains "MSIE" gets one image/jpeg.
// Runs as parsed-header CGI under Apache (shebang php-cgi, PHPRC -> benches/peers/php.ini).
//
// The seed as printed is garbled by translation: "<? Php", capitalised keywords, "$ file",
// spaces inside strings ("boundary = $sep", "-- $sep", "gIrL...HiRt "). Those are restored.
// Fixes needed to make it run, and nothing else:
//  1. The watched file is getenv('PEER_WEBCAM_FILE') (seed: "./1.jpg", kept as the fallback).
//  2. ereg() was removed in PHP 7: ereg(".*MSIE.*", ...) -> preg_match('/.*MSIE.*/', ...).
//  3. $HTTP_SERVER_VARS was removed in PHP 5.4: -> $_SERVER (with ?? '' when no User-Agent).
//  4. The inner loop "while ($mt = filemtime($file))" assigns instead of comparing, so it
//     never ends while the file exists and no second frame is ever sent: -> ==.
//  5. The part header lacked the blank line that ends it: "Content-Type: image/jpeg\n"
//     -> "Content-Type: image/jpeg\n\n", otherwise the JPEG bytes read as header lines.
set_time_limit(0);
$file = getenv('PEER_WEBCAM_FILE') ?: "./1.jpg";
$sep = "gIrLsKiCkAsSiTsAySsOoNaTsHiRt";
if (preg_match('/.*MSIE.*/', $_SERVER["HTTP_USER_AGENT"] ?? '')) {
    // If it is an IE browser, it will exit after direct output, and IE does not support it.
    header("Cache-Control: no-cache");
    header("Pragma: no-cache");
    header("Content-type: image/jpeg");
    header("Content-size: " . filesize($file));
    readfile($file);
} else {
    header("Content-Type: multipart/x-mixed-replace; boundary=$sep");
    // Here is the key. let's take a look at the MIME type description.
    print "--$sep\n";
    do {
        print "Content-Type: image/jpeg\n\n";
        readfile($file);
        print "\n--$sep\n";
        flush();
        $mt = filemtime($file);
        do {
            sleep(1);
            // We won't output the same image twice.
            clearstatcache();
        } while ($mt == filemtime($file));
    } while (1);
}
?>
