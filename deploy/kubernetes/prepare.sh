#!/bin/sh
# Makes what coordinator.yaml and worker.yaml mount: a CurveZMQ key set made with `zdag keygen`
# (one pair for the coordinator, one shared by the workers), the two Secrets that hold them
# (each side gets its own secret key and the other side's public key only), and the ConfigMap
# with the pipeline file.
#
#   deploy/kubernetes/prepare.sh PIPELINE.yaml [KEY_DIR]
#
# KEY_DIR (default: zdag-keys, made mode 0700) keeps the keys; pairs already there are used
# again. The environment may set ZDAG (the zdag to run, default: zdag) and KUBECTL (default:
# kubectl; e.g. KUBECTL="kubectl --namespace zdag"). The Secrets and the ConfigMap must not exist
# yet: `kubectl delete secret zdag-coordinator-keys zdag-worker-keys` and `kubectl delete
# configmap zdag-pipeline` first to replace them.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -f "$1" ]; then
    echo "usage: $0 PIPELINE.yaml [KEY_DIR]" >&2
    exit 2
fi
pipeline=$1
keys=${2:-zdag-keys}
zdag=${ZDAG:-zdag}
kubectl=${KUBECTL:-kubectl}

mkdir -p "$keys"
chmod 0700 "$keys"
for name in coord worker; do
    [ -e "$keys/$name.key" ] || "$zdag" keygen "$keys/$name"
done

# $kubectl unquoted on purpose: it may carry options.
$kubectl create secret generic zdag-coordinator-keys \
    --from-file=coord.key="$keys/coord.key" --from-file=worker.pub="$keys/worker.pub"
$kubectl create secret generic zdag-worker-keys \
    --from-file=worker.key="$keys/worker.key" --from-file=coord.pub="$keys/coord.pub"
$kubectl create configmap zdag-pipeline --from-file=pipeline.yaml="$pipeline"
