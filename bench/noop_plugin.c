/* A plugin with one no-op function, for the `zdag run` benchmarks of function nodes
 * (bench/bench.py: 10k vs 1M nodes, and the report/trace/progress on vs off run).
 * Built by bench/run.sh: cc -shared -fPIC bench/noop_plugin.c -Iinclude $(pkg-config --cflags
 * msgpack). */
#include <zdag.h>

int noop(zdag_call *call, msgpack_packer *out) {
    (void)call;
    return msgpack_pack_nil(out);
}
