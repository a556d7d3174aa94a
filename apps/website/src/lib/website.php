<?php
/*
 * Student list website (labs 000/001): helpers used by public/index.php.
 *
 * Configuration comes only from the environment:
 *   API_URL      base URL of the student API (default http://student-api:5000)
 *   USERNAME     API user        (USERNAME_FILE: file holding it, wins)
 *   PASSWORD     API password    (PASSWORD_FILE: file holding it, wins)
 *   API_TIMEOUT  seconds to wait for the API (default 5)
 */

declare(strict_types=1);

const STUDENT_API_PATH = '/supmit/api/v1.0/get_student_ages';
const DEFAULT_API_URL = 'http://student-api:5000';

/** A problem to show on the page; code 500 = configuration, else the API failed (502). */
final class WebsiteError extends RuntimeException
{
}

/** Escape for HTML text and attribute values. */
function h(string $text): string
{
    return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML5, 'UTF-8');
}

/**
 * Value of environment variable $name, or of the file named by ${name}_FILE
 * (which wins). Returns null when unset or empty.
 */
function website_setting(string $name): ?string
{
    $file = getenv($name . '_FILE');
    if (is_string($file) && $file !== '') {
        if (!is_file($file) || !is_readable($file)) {
            error_log("{$name}_FILE ({$file}) cannot be read");
            throw new WebsiteError("The website is misconfigured: {$name}_FILE cannot be read.", 500);
        }
        $value = @file_get_contents($file);
        if ($value === false) {
            error_log("{$name}_FILE ({$file}) cannot be read");
            throw new WebsiteError("The website is misconfigured: {$name}_FILE cannot be read.", 500);
        }
        $value = rtrim($value, "\r\n");
        return $value === '' ? null : $value;
    }
    $value = getenv($name);
    return (is_string($value) && $value !== '') ? $value : null;
}

/** Full URL of the student list, from API_URL (a base URL, or already the full path). */
function student_list_url(?string $apiUrl): string
{
    $base = rtrim($apiUrl ?? DEFAULT_API_URL, '/');
    if (!preg_match('#^https?://#i', $base)) {
        throw new WebsiteError('The website is misconfigured: API_URL must start with http:// or https://.', 500);
    }
    if (str_ends_with($base, STUDENT_API_PATH)) {
        return $base;
    }
    return $base . STUDENT_API_PATH;
}

/**
 * Ask the API for all students.
 *
 * @return array<string,string> name => age, sorted by name
 * @throws WebsiteError with a message fit for the page
 */
function fetch_students(string $url, string $username, string $password, float $timeout): array
{
    $context = stream_context_create([
        'http' => [
            'method' => 'GET',
            'header' => "Authorization: Basic " . base64_encode($username . ':' . $password) . "\r\n"
                . "Accept: application/json\r\n",
            'timeout' => $timeout,
            'ignore_errors' => true,   // give us the body and status of 4xx/5xx answers
            'follow_location' => 0,
            'protocol_version' => 1.1,
        ],
    ]);

    $http_response_header = [];
    $body = @file_get_contents($url, false, $context);
    if ($body === false) {
        $last = error_get_last();
        if ($last !== null) {
            error_log('student API unreachable at ' . $url . ': ' . $last['message']);
            error_clear_last();
        }
        throw new WebsiteError('The student API cannot be reached right now. Please try again later.');
    }

    $status = 0;
    foreach ($http_response_header as $line) {
        if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $m)) {
            $status = (int) $m[1];  // the last status line wins (after any 100 Continue)
        }
    }
    if ($status === 401 || $status === 403) {
        error_log("student API refused the website's credentials (HTTP {$status})");
        throw new WebsiteError("The student API refused the website's credentials. "
            . 'Check USERNAME and PASSWORD.');
    }
    if ($status !== 200) {
        error_log("student API answered HTTP {$status}: " . substr($body, 0, 200));
        throw new WebsiteError("The student API answered with an error (HTTP {$status}). "
            . 'Please try again later.');
    }

    $data = json_decode($body, true);
    if (!is_array($data) || !isset($data['student_ages']) || !is_array($data['student_ages'])) {
        error_log('student API sent an unexpected answer: ' . substr($body, 0, 200));
        throw new WebsiteError('The student API sent an unexpected answer.');
    }

    $students = [];
    foreach ($data['student_ages'] as $name => $age) {
        if (is_array($age) || is_object($age) || $age === null) {
            continue;
        }
        $students[(string) $name] = is_bool($age) ? ($age ? 'true' : 'false') : (string) $age;
    }
    uksort($students, 'strnatcasecmp');
    return $students;
}

/**
 * Handle the "List Student" request.
 *
 * @return array{students: ?array<string,string>, error: ?string, status: int}
 */
function list_students_from_environment(): array
{
    try {
        $username = website_setting('USERNAME');
        $password = website_setting('PASSWORD');
        if ($username === null || $password === null) {
            error_log('website not configured: USERNAME/PASSWORD (or *_FILE) missing');
            return [
                'students' => null,
                'error' => 'The website is not configured: USERNAME and PASSWORD '
                    . '(or USERNAME_FILE and PASSWORD_FILE) must be set.',
                'status' => 500,
            ];
        }
        $timeout = (float) (website_setting('API_TIMEOUT') ?? '5');
        if ($timeout <= 0) {
            $timeout = 5.0;
        }
        $url = student_list_url(website_setting('API_URL'));
        return ['students' => fetch_students($url, $username, $password, $timeout), 'error' => null, 'status' => 200];
    } catch (WebsiteError $e) {
        // Code 500: our configuration; otherwise the API failed us (502).
        return ['students' => null, 'error' => $e->getMessage(), 'status' => $e->getCode() === 500 ? 500 : 502];
    }
}
