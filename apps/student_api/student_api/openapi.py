"""OpenAPI 3.0 description of the API, served at /openapi.json."""

from __future__ import annotations

from typing import Any, Dict

BASE = "/supmit/api/v1.0/get_student_ages"


def _error(description: str) -> Dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _student(description: str) -> Dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Student"}}},
    }


def openapi_document(version: str) -> Dict[str, Any]:
    name_param = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "Student name (1-64 printable characters, no '/').",
        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    }
    unauthorized = _error("Missing or wrong credentials: {\"error\": \"Unauthorized access\"}")
    unavailable = _error("The data file is missing or corrupt.")
    bad_request = _error("Invalid body: {\"error\": \"Bad request\", \"message\": \"...\"}")
    too_large = _error("Body larger than MAX_BODY_BYTES.")
    throttled = _error(
        "Too many failed logins from this client (AUTH_FAILURE_LIMIT per AUTH_FAILURE_WINDOW): "
        "wait Retry-After seconds."
    )
    not_json = _error("The body is not sent as application/json.")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Student ages API",
            "version": version,
            "description": (
                "Ages of students, kept in a JSON file. All /supmit routes need "
                "HTTP basic authentication. Ages are returned as strings, as in the labs."
            ),
        },
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
                "StudentAges": {
                    "type": "object",
                    "required": ["student_ages"],
                    "properties": {
                        "student_ages": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "Student": {
                    "type": "object",
                    "description": "One entry: {\"<name>\": \"<age>\"}.",
                    "additionalProperties": {"type": "string"},
                },
                "NewStudent": {
                    "type": "object",
                    "required": ["name", "age"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 64},
                        "age": {"type": "integer", "minimum": 1, "maximum": 150},
                    },
                },
                "StudentAge": {
                    "type": "object",
                    "required": ["age"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "description": "Optional; must equal the URL's name."},
                        "age": {"type": "integer", "minimum": 1, "maximum": 150},
                    },
                },
                "Health": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "unavailable"]},
                        "students": {"type": "integer"},
                        "version": {"type": "string"},
                        "error": {"type": "string"},
                    },
                },
            },
        },
        "paths": {
            BASE: {
                "get": {
                    "summary": "All students and their ages",
                    "operationId": "listStudents",
                    "security": [{"basicAuth": []}],
                    "responses": {
                        "200": {
                            "description": "All students.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/StudentAges"}
                                }
                            },
                        },
                        "401": unauthorized,
                        "429": throttled,
                        "503": unavailable,
                    },
                },
                "post": {
                    "summary": "Add a student",
                    "operationId": "createStudent",
                    "security": [{"basicAuth": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/NewStudent"}
                            }
                        },
                    },
                    "responses": {
                        "201": _student("Created."),
                        "400": bad_request,
                        "401": unauthorized,
                        "429": throttled,
                        "409": _error("A student of that name, or of a look-alike name, exists."),
                        "413": too_large,
                        "415": not_json,
                        "503": unavailable,
                    },
                },
            },
            BASE + "/{name}": {
                "parameters": [name_param],
                "get": {
                    "summary": "One student's age (never deletes it)",
                    "operationId": "getStudent",
                    "security": [{"basicAuth": []}],
                    "responses": {
                        "200": _student("The student."),
                        "401": unauthorized,
                        "429": throttled,
                        "404": _error("No such student: {\"error\": \"Not found\"}"),
                        "503": unavailable,
                    },
                },
                "put": {
                    "summary": "Set a student's age (creates the student if needed)",
                    "operationId": "putStudent",
                    "security": [{"basicAuth": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/StudentAge"}
                            }
                        },
                    },
                    "responses": {
                        "200": _student("Updated."),
                        "201": _student("Created."),
                        "400": bad_request,
                        "401": unauthorized,
                        "429": throttled,
                        "409": _error("A look-alike of the name exists (e.g. full-width, other case)."),
                        "413": too_large,
                        "415": not_json,
                        "503": unavailable,
                    },
                },
                "delete": {
                    "summary": "Remove a student",
                    "operationId": "deleteStudent",
                    "security": [{"basicAuth": []}],
                    "responses": {
                        "200": {
                            "description": "Deleted: {\"deleted\": \"<name>\"}.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"deleted": {"type": "string"}},
                                    }
                                }
                            },
                        },
                        "401": unauthorized,
                        "429": throttled,
                        "404": _error("No such student."),
                        "503": unavailable,
                    },
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness/readiness: 200 when the data file is usable",
                    "operationId": "health",
                    "responses": {
                        "200": {
                            "description": "Healthy.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Health"}
                                }
                            },
                        },
                        "503": {
                            "description": "Data file missing or corrupt.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Health"}
                                }
                            },
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text exposition format)",
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Metrics.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
    }
