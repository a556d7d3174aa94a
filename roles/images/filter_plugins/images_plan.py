"""Filters of the images role: which apps to build, tag and push, from what Docker and the registry answer.

Python rather than Jinja: it matches image references across three answers (the lookup's builds, Docker's
image list, the registry's digests) and is unit-tested (tests/unit/test_images_plan.py).
"""

from __future__ import annotations


def images_plan(builds, present):
    """Each build with `build` (no image carries its build id yet) and `missing_tags` (references to add).

    present: the `images` of community.docker.docker_image_info for the builds' names.
    """
    by_tag = {}
    for image in present or []:
        for tag in image.get("RepoTags") or []:
            by_tag[tag] = image
    plan = []
    for build in builds:
        image = by_tag.get(build["name"])
        labels = ((image or {}).get("Config") or {}).get("Labels") or {}
        rebuild = labels.get("io.devops-labs.build-id") != build["build_id"]
        tags = set((image or {}).get("RepoTags") or [])
        plan.append(dict(build, build=rebuild,
                         missing_tags=list(build["tags"]) if rebuild else [t for t in build["tags"] if t not in tags]))
    return plan


def images_to_push(builds, local, remote):
    """The references of `pushes` whose image the registry does not hold (digest unknown there or different).

    local: docker_image_info `images` for the builds' names (RepoDigests: what this engine pushed or pulled);
    remote: registry_image_info `images` for every reference of `pushes`.
    """
    digests = {}
    for image in local or []:
        for tag in image.get("RepoTags") or []:
            digests[tag] = set(image.get("RepoDigests") or [])
    in_registry = {i["reference"]: i for i in remote or []}
    todo = []
    for build in builds:
        known = digests.get(build["name"], set())
        for ref in build["pushes"]:
            registry_host, path = ref.split("/", 1)
            remote_image = in_registry.get(path) or {}
            repo = ref.rsplit(":", 1)[0]
            if not remote_image.get("exists") or "%s@%s" % (repo, remote_image.get("digest")) not in known:
                todo.append(ref)
    return todo


class FilterModule:
    def filters(self):
        return {"images_plan": images_plan, "images_to_push": images_to_push}
