/* The `local` image builder of phoenix-build (`phoenix-build image`): packs the built source
 * into an image store directory in kubesim's format (docs/kubesim.md, "The image store
 * format"), honouring the source's Dockerfile (ENTRYPOINT, CMD, WORKDIR, ENV; EXPOSE read and
 * ignored), and names it by the sha256 of its content, so downstream everything is
 * `name@sha256:digest` as with buildah or kaniko. */
#ifndef PB_IMAGE_H
#define PB_IMAGE_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The manifest ({"entrypoint":[...],"cmd":[...],"env":[...],"workdir":"..."}) from the
 * Dockerfile text (NULL or without ENTRYPOINT/CMD: NULL). Shell forms become
 * ["/bin/sh","-c",TEXT]; an absolute WORKDIR is dropped (the image's directory is the root the
 * source was copied to), a relative one kept. Lines continued with '\' are joined. Pure. */
cJSON *pb_image_manifest(const char *dockerfile);

/* The name part of an image reference: without "@digest" and without a ":tag" after the last
 * '/'. Into out[cap]; returns out. Pure. */
char *pb_image_name(const char *ref, char *out, size_t cap);

/* The store directory name of ref: every '/' and ':' replaced by '_'. Pure. */
char *pb_image_store_name(const char *ref, char *out, size_t cap);

#endif
