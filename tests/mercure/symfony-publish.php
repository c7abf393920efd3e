<?php
// Publishes through the Symfony Mercure component, as a Symfony application does: a public
// update, a private one with an alternate topic, and one with its own id, a type and a retry.
// Prints the id the hub returned for each, one per line.
// Usage: php symfony-publish.php HUB_URL JWT
require_once 'Symfony/Component/Mercure/autoload.php';

use Symfony\Component\Mercure\Hub;
use Symfony\Component\Mercure\Jwt\StaticTokenProvider;
use Symfony\Component\Mercure\Update;

[, $url, $jwt] = $argv;
$hub = new Hub($url, new StaticTokenProvider($jwt));
$updates = [
    new Update('https://example.com/books/1', json_encode(['title' => 'a public book'])),
    new Update(['https://example.com/books/2', 'https://example.com/alt/2'], 'a private book', true),
    new Update('https://example.com/books/3', "two\nlines", false, 'book-3-v1', 'change', 1500),
];
foreach ($updates as $update) {
    echo $hub->publish($update), "\n";
}
