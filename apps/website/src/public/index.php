<?php
/* Student list page: a "List Student" button; on submit, the API's students in a table. */

declare(strict_types=1);

require __DIR__ . '/../lib/website.php';

$result = null;
if (($_SERVER['REQUEST_METHOD'] ?? 'GET') === 'POST' && isset($_POST['submit'])) {
    $result = list_students_from_environment();
    http_response_code($result['status']);
}

header('Content-Type: text/html; charset=UTF-8');
header("Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
header('X-Content-Type-Options: nosniff');
header('Referrer-Policy: no-referrer');
header('Cache-Control: no-store');
?>
<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Student Checking App</title>
    <link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
    <h1>Student Checking App</h1>
    <form action="" method="POST">
        <button type="submit" name="submit" value="1" id="list-students">List Student</button>
    </form>
<?php if ($result !== null && $result['error'] !== null): ?>
    <p class="error" id="error" role="alert"><?= h($result['error']) ?></p>
<?php elseif ($result !== null): ?>
    <?php $students = $result['students']; ?>
    <p class="intro">This is the list of the students with their age</p>
    <table id="students">
        <caption><?= count($students) ?> student<?= count($students) === 1 ? '' : 's' ?></caption>
        <thead>
            <tr><th scope="col">Name</th><th scope="col">Age</th></tr>
        </thead>
        <tbody>
<?php foreach ($students as $name => $age): ?>
            <tr><td><?= h((string) $name) ?></td><td><?= h($age) ?></td></tr>
<?php endforeach; ?>
        </tbody>
    </table>
<?php endif; ?>
</main>
</body>
</html>
