/* CurveZMQ keys: key files, the set of authorized worker keys, and socket set-up.
 *
 * Keys are written as Z85 text (ZeroMQ RFC 32): 40 characters for a 32-byte key. The two files
 * of `zdag keygen NAME` are
 *
 *   NAME.pub  mode 0644   one line: the public key, e.g.
 *                         "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n"
 *   NAME.key  mode 0600   two lines, the public key (so that a worker holding only its .key
 *                         can still present itself) and the secret key:
 *                         "public: <40 Z85 chars>\nsecret: <40 Z85 chars>\n"
 *
 * Readers ignore blank lines and lines starting with '#', and accept CRLF line ends. A .key
 * file whose public line does not belong to its secret key is refused. */
#ifndef ZD_CURVE_H
#define ZD_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "zdag.h"

#define ZD_CURVE_Z85_LEN 40        /* Z85 characters of a key, without the terminating NUL */
#define ZD_CURVE_KEY_BYTES 32      /* bytes of a binary key */
#define ZD_CURVE_ZAP_DOMAIN "zdag" /* the ZAP domain of every zdag server socket */

/* True when this libzmq was built with CURVE (zmq_has("curve")). */
bool zd_curve_available(void);

/* Generates a key pair with zmq_curve_keypair() and writes NAME.key (mode 0600) and NAME.pub
 * (mode 0644), in the formats above. Never overwrites: both files are created with O_EXCL;
 * when NAME.pub cannot be created, the NAME.key just written is removed again. Returns 0;
 * ZDAG_EEXIST when either file exists; ZDAG_EUNSUPPORTED without CURVE; ZDAG_EINVAL for an
 * empty name; ZDAG_ESYS when a file cannot be written. Each error adds a message to d. */
int zd_curve_keygen(const char *name, zd_diags *d) ZDAG_MUST_USE;

/* Reads a NAME.key file into pub and sec (Z85, NUL-terminated). Like ssh, refuses a file that
 * group or others may read or write ("chmod 600 FILE" is the fix) and anything but a regular
 * file. Checks both keys are valid Z85 and that pub is the public key of sec. Returns 0;
 * ZDAG_ENOENT (no such file), ZDAG_ESYS (unreadable or too permissive), ZDAG_EINVAL (bad
 * format); each error adds "FILE: error: ..." to d. */
int zd_curve_load_secret(const char *path, char pub[ZD_CURVE_Z85_LEN + 1],
                         char sec[ZD_CURVE_Z85_LEN + 1], zd_diags *d) ZDAG_MUST_USE;

/* Reads a NAME.pub file into pub (Z85, NUL-terminated). Returns 0, ZDAG_ENOENT, ZDAG_ESYS or
 * ZDAG_EINVAL (not exactly one valid Z85 key; a .key file given by mistake is named as such),
 * each adding a message to d. */
int zd_curve_load_public(const char *path, char pub[ZD_CURVE_Z85_LEN + 1],
                         zd_diags *d) ZDAG_MUST_USE;

/* True when z85 is exactly 40 valid Z85 characters that decode to a key; when so and key is
 * not NULL, stores the decoded key there. */
bool zd_curve_z85_valid(const char *z85, uint8_t key[ZD_CURVE_KEY_BYTES]);

/* ------------------------------------------------------------------------------------------
 * The authorized keys: the public keys of the workers a coordinator admits.
 * ------------------------------------------------------------------------------------------ */

typedef struct zd_keyset zd_keyset;

/* Creates an empty set; NULL when out of memory. Free with zd_keyset_free(). */
zd_keyset *zd_keyset_new(void);

/* Adds the Z85 public key pub under `name` (copied; used in logs, e.g. "worker3.pub").
 * Returns 0, ZDAG_EINVAL for a bad key, or ZDAG_ENOMEM. A key already present keeps its
 * first name. */
int zd_keyset_add(zd_keyset *s, const char *pub, const char *name) ZDAG_MUST_USE;

/* Loads the files of DIR whose names end in ".pub", in name order, each named by its file name
 * (e.g. "worker3.pub"). Other files and names starting with '.' are ignored. Strict on
 * purpose, like sshd's StrictModes: a bad .pub file (unreadable, not a regular file, not one
 * valid key) is a configuration error rather than something to skip, and so is DIR or a .pub
 * file that group or others may write (anyone could add a key). Every such problem is
 * reported to d and the load fails; so does a DIR holding no .pub file at all, since a
 * coordinator that can admit nobody is misconfigured. Returns the set (caller frees with
 * zd_keyset_free()), or NULL with messages in d. */
zd_keyset *zd_keyset_load(const char *dir, zd_diags *d);

/* True when the 32-byte key is in the set; then, when name is not NULL, *name is its name
 * (borrowed, valid as long as the set). */
bool zd_keyset_has(const zd_keyset *s, const uint8_t key[ZD_CURVE_KEY_BYTES], const char **name);

/* Keys in the set. */
size_t zd_keyset_size(const zd_keyset *s);

/* Frees the set; sets *s to NULL. Accepts NULL. */
void zd_keyset_free(zd_keyset **s);

/* ------------------------------------------------------------------------------------------
 * Sockets. Options must be set before zmq_bind()/zmq_connect().
 * ------------------------------------------------------------------------------------------ */

/* Makes sock a CURVE server with secret key sec (Z85) and ZAP domain ZD_CURVE_ZAP_DOMAIN.
 * Client keys are checked by a ZAP handler in the socket's context: start one with
 * zd_zap_start() (coordinator/zap.h) before binding. Without a handler, libzmq admits ANY
 * client key, unless it knows the DRAFT option ZMQ_ZAP_ENFORCE_DOMAIN (Debian's 4.3.4 does):
 * this sets it when it can, so that such a server then refuses every client instead.
 * Returns 0, ZDAG_EINVAL for a bad key or ZDAG_EZMQ. */
int zd_curve_server(void *sock, const char *sec) ZDAG_MUST_USE;

/* Makes sock a CURVE client with its own key pair (pub, sec) that accepts only a server whose
 * public key is server_pub (all Z85). Returns 0, ZDAG_EINVAL for a bad key or ZDAG_EZMQ. */
int zd_curve_client(void *sock, const char *pub, const char *sec,
                    const char *server_pub) ZDAG_MUST_USE;

#endif
