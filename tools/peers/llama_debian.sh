#!/bin/sh
# Debian's own llama.cpp build (package llama.cpp-tools from unstable) unpacked into tools/peers/.llama-debian,
# for machines that reach Debian's archive but not PyPI, so llama-cpp-python cannot be built there.
# Prints the path of a llama-server wrapper for `bench_llamacpp.py --driver server --server PATH`.
#
# Nothing is installed: apt runs with its own lists and cache under .llama-debian, and the binaries run under
# unstable's own C library and loader (unpacked beside them), since Debian stable's is older than they need.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root="$here/.llama-debian"
wrapper="$root/llama-server"
if [ -x "$wrapper" ]; then echo "$wrapper"; exit 0; fi
mkdir -p "$root/apt/lists/partial" "$root/apt/cache/archives/partial" "$root/debs" "$root/fs"
echo 'deb http://deb.debian.org/debian sid main' > "$root/apt/sources.list"
apt_opts="-o Dir::Etc::SourceList=$root/apt/sources.list -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists=$root/apt/lists -o Dir::Cache=$root/apt/cache -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get $apt_opts -qq update >&2
# the tools, their libraries, and the runtime they were built against (unstable's libc, libstdc++, OpenSSL)
# shellcheck disable=SC2086
(cd "$root/debs" && apt-get $apt_opts -qq download llama.cpp-tools libllama0 libggml0 libc6 libstdc++6 libgcc-s1 \
  libgomp1 libssl3t64 zlib1g libzstd1 >&2)
for deb in "$root"/debs/*.deb; do dpkg-deb -x "$deb" "$root/fs"; done
lib="$root/fs/usr/lib/x86_64-linux-gnu"
# ggml looks for its CPU variants in /usr/lib only: name the best one this CPU runs (the test ggml itself makes)
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { case " $flags " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if has amx_tile && has avx512_bf16; then variant=sapphirerapids
elif has avx512_bf16; then variant=cooperlake
elif has avx512_vnni; then variant=cascadelake
elif has avx512f; then variant=skylakex
elif has avx2 && has fma; then variant=haswell
else variant=x64; fi
version=$(dpkg-deb -f "$root"/debs/llama.cpp-tools_*.deb Version)
cat > "$wrapper" <<EOF
#!/bin/sh
# llama-server from Debian's llama.cpp-tools $version, CPU variant $variant (written by llama_debian.sh)
export GGML_BACKEND_PATH="$lib/ggml/backends0/libggml-cpu-$variant.so"
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:$lib/llama" "$root/fs/usr/bin/llama-server" "\$@"
EOF
chmod +x "$wrapper"
echo "$wrapper"
