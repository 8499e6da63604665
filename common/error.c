/* Error messages and the version string. */
#include "zdag.h"

const char *zdag_strerror(int code) {
    switch (code) {
#define ZDAG_ERROR_CASE(name, value, msg)                                                          \
    case value:                                                                                    \
        return msg;
        ZDAG_ERRORS(ZDAG_ERROR_CASE)
#undef ZDAG_ERROR_CASE
    }
    return "unknown error";
}

unsigned zdag_version(void) {
    return ZDAG_VERSION_HEX;
}

const char *zdag_version_string(void) {
    return ZDAG_VERSION_STRING;
}
