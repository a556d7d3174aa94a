<?php
/* Liveness of Apache + PHP (deliberately not of the API: the page reports that itself). */
declare(strict_types=1);
header('Content-Type: text/plain; charset=UTF-8');
header('Cache-Control: no-store');
echo "ok\n";
