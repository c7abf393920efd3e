#!/usr/bin/php-cgi
<?php
// Peer for the benchmark: seed 003, "How to implement COMET with PHP" (kerphi.zeitoun.net),
// the hidden-iframe ("forever frame") backend.php: an HTML page that never ends and writes
// <script type="text/javascript">comet.printServerTime(TIME);</script> every second.
// Runs as parsed-header CGI under Apache (shebang php-cgi, PHPRC -> benches/peers/php.ini).
//
// The seed as printed has a "- " list marker before every line; those are removed.
// Fixes needed to make it run: none in the code. It needs output_buffering=0 (our php.ini):
// with Debian's stock output_buffering=4096, flush() does not push the small units.
header("Cache-Control: no-cache, must-revalidate");
header("Expires: Mon, 26 Jul 1997 05:00:00 GMT");
flush();
?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<title>Comet php backend</title>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
</head>
<body>
<script type="text/javascript">
// KHTML browser don't share javascripts between iframes
var is_khtml = navigator.appName.match("Konqueror") || navigator.appVersion.match("KHTML");
if (is_khtml)
{
var prototypejs = document.createElement('script');
prototypejs.setAttribute('type','text/javascript');
prototypejs.setAttribute('src','prototype.js');
var head = document.getElementsByTagName('head');
head[0].appendChild(prototypejs);
}
// load the comet object
var comet = window.parent.comet;
</script>
<?php
while(1) {
echo '<script type="text/javascript">';
echo 'comet.printServerTime('.time().');';
echo '</script>';
flush(); // used to send the echoed data to the client
sleep(1); // a little break to unload the server CPU
}
?>
</body>
</html>
