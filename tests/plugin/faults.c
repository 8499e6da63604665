/* A test plugin for tests/integration/test_remote_timeout.py: functions that misbehave.
 *
 * hang: never returns (sleeps in a loop), so only a timeout can end its node.
 * quick: returns 1 at once, a well-behaved neighbour of a hung node. */
#include <unistd.h>
#include <zdag.h>

int hang(zdag_call *call, msgpack_packer *out) {
    (void)call;
    (void)out;
    for (;;)
        sleep(1);
    return 1;
}

int quick(zdag_call *call, msgpack_packer *out) {
    (void)call;
    return msgpack_pack_uint64(out, 1);
}
