"""Code shared by the apps' images, one copy each (issue #16).

Each app under apps/ is its own Docker build context, so an app names the shared files it needs in its
``SHARED`` file (``<source, relative to apps/> <path in the build context>``); the images role
(roles/images) stages them into the context it builds and counts them in that app's build id, so a change
here rebuilds exactly the apps that use it. ``scripts/app_context.py <app>`` writes the same context as a
tar for a ``docker build -`` by hand. The apps' tests import this package from apps/labs_common.

- ``secret_files``: ``X`` or the content of the file named by ``X_FILE`` (Compose secrets);
- ``throttle``: failed-login throttling per client (student API, registry UI);
- ``waitress_app``: settings, start and SIGTERM handling of a Flask app served by waitress as PID 1
  (lab 003's API pair, secure app).

Standard library only: the apps pin their own dependencies.
"""
