#!/usr/bin/php-cgi
<?php
// Peer for the benchmark: seed 004, second variant (the "backend.php" long-poll on data.txt).
// ?msg=TEXT writes TEXT into the data file and exits (the publish). Otherwise the request
// waits, polling with usleep(10000) + clearstatcache(), until the file's filemtime is greater
// than ?timestamp=, then answers {"msg": <file contents>, "timestamp": <filemtime>}.
// Runs as parsed-header CGI under Apache (shebang php-cgi, PHPRC -> benches/peers/php.ini).
//
// The seed as printed is flattened onto one line with comments run into the code; the line
// breaks and comments are restored. Fixes needed to make it run, and nothing else:
//  1. The data file is getenv('PEER_DATA_FILE') (seed: dirname(__FILE__).'/data.txt', kept as
//     the fallback): the CGI directory need not be writable by the server's user.
// Known properties kept on purpose (they are what is measured): filemtime() has 1 s
// resolution, so a publish in the same second as the previous one is never delivered, and
// file_put_contents() truncates before writing, so a reader can see an empty message.

// The set request run time is not limited
ini_set("max_execution_time", "0");
$filename = getenv('PEER_DATA_FILE') ?: dirname(__FILE__) . '/data.txt';
$msg = isset($_GET['msg']) ? $_GET['msg'] : '';
// Determines whether the modified content submitted by the page is empty, writes the content
// to the file, and interrupts the process
if ($msg != '') {
    file_put_contents($filename, $msg);
    exit;
}
/* Gets the file last modified timestamp and the most recent file modification timestamp.
 * File last modified timestamp initial default value is 0.
 * Last file modification timestamp obtained by function filemtime(). */
$lastmodif = isset($_GET['timestamp']) ? $_GET['timestamp'] : 0;
clearstatcache(); // clears the file state cache
$currentmodif = filemtime($filename);
/* If the currently returned file modification Unix timestamp is less than or equal to the
 * last modified time, the file has no update and no message is pushed; if it is greater, the
 * file has been updated and the modified content is output as a push message. */
while ($currentmodif <= $lastmodif) {
    usleep(10000); // hibernate 10ms frees CPU
    clearstatcache(); // clears file status cache
    $currentmodif = filemtime($filename);
}
// Push information (the push message contains the modification time and the content)
$response = array();
$response['msg'] = file_get_contents($filename);
$response['timestamp'] = $currentmodif;
echo json_encode($response);
flush();
?>
