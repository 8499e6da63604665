/* zdag: a distributed DAG executor.
 *
 * This is the only public header of libzdag. Every action returns 0 or a negative ZDAG_E...
 * code; zdag_strerror() names it. */
#ifndef ZDAG_H
#define ZDAG_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ZDAG_EXPORT __attribute__((visibility("default")))
#define ZDAG_MUST_USE __attribute__((warn_unused_result))
#else
#define ZDAG_EXPORT
#define ZDAG_MUST_USE
#endif

#define ZDAG_VERSION_MAJOR 0
#define ZDAG_VERSION_MINOR 1
#define ZDAG_VERSION_PATCH 0
#define ZDAG_VERSION_STRING "0.1.0"

/* The error table: one row per code, X(name, value, message). */
#define ZDAG_ERRORS(X)                                                                             \
    X(ZDAG_OK, 0, "success")                                                                       \
    X(ZDAG_EINVAL, -1, "invalid argument")                                                         \
    X(ZDAG_ENOMEM, -2, "out of memory")                                                            \
    X(ZDAG_EIO, -3, "input/output error")                                                          \
    X(ZDAG_EPROTO, -4, "malformed message")                                                        \
    X(ZDAG_ECYCLE, -5, "dependency cycle")                                                         \
    X(ZDAG_ENOENT, -6, "not found")                                                                \
    X(ZDAG_EEXIST, -7, "already exists")                                                           \
    X(ZDAG_EZMQ, -8, "messaging error")                                                            \
    X(ZDAG_ESYS, -9, "system call failed")                                                         \
    X(ZDAG_ETOOBIG, -10, "too large")                                                              \
    X(ZDAG_EPIPELINE, -11, "invalid pipeline")                                                     \
    X(ZDAG_ESTATE, -12, "state directory unusable")                                                \
    X(ZDAG_EUNSUPPORTED, -13, "not supported")                                                     \
    X(ZDAG_EINTR, -14, "interrupted")

enum zdag_error {
#define ZDAG_ERROR_ENUM(name, value, msg) name = value,
    ZDAG_ERRORS(ZDAG_ERROR_ENUM)
#undef ZDAG_ERROR_ENUM
};

/* Returns a static, human-readable message for an error code (never NULL). */
ZDAG_EXPORT const char *zdag_strerror(int code);

/* Returns the library's version string, e.g. "0.1.0". */
ZDAG_EXPORT const char *zdag_version(void);

#ifdef __cplusplus
}
#endif
#endif
