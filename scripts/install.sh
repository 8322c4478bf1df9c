#!/usr/bin/env bash
# Installs flowctl under a prefix: the release binaries (flowctl, flowctl-sandbox) in PREFIX/bin,
# the man page in PREFIX/share/man/man1, and bash, zsh and fish completions where those shells
# look under PREFIX.
#   bash scripts/install.sh [PREFIX]              build (release) and install; PREFIX defaults to
#                                                 ~/.local, or /usr/local when run as root
#   bash scripts/install.sh --from DIR [PREFIX]   install binaries already built in DIR (no build)
# The man page comes from swift-argument-parser's generate-manual plugin when this script builds;
# with --from (or if the plugin fails) from the binary's own description (scripts/manpage.py).
set -euo pipefail
cd "$(dirname "$0")/.."
from=""
if [ "${1:-}" = "--from" ]; then
    from="${2:?--from needs a folder of built binaries}"
    shift 2
fi
if [ "$(id -u)" -eq 0 ]; then default_prefix=/usr/local; else default_prefix="$HOME/.local"; fi
prefix="${1:-$default_prefix}"

if [ -z "$from" ]; then
    bash scripts/setup.sh
    echo "install: building release binaries (a few minutes the first time)" >&2
    swift build -c release >&2
    from="$(swift build -c release --show-bin-path)"
fi
for product in flowctl flowctl-sandbox; do
    [ -x "$from/$product" ] || { echo "install: $from/$product is not built" >&2; exit 1; }
done

man_dir="$prefix/share/man/man1"
bash_dir="$prefix/share/bash-completion/completions"
zsh_dir="$prefix/share/zsh/site-functions"
fish_dir="$prefix/share/fish/vendor_completions.d"
mkdir -p "$prefix/bin" "$man_dir" "$bash_dir" "$zsh_dir" "$fish_dir"
for product in flowctl flowctl-sandbox; do
    install -m 0755 "$from/$product" "$prefix/bin/$product"
done

plugin_pages=""
if [ "${FLOWCTL_INSTALL_PLUGIN:-1}" = 1 ] && [ "$from" = "$(swift build -c release --show-bin-path 2>/dev/null || true)" ]; then
    # The plugin builds the package (already built: no work) and writes one page per tool.
    if swift package plugin generate-manual --configuration release >&2; then
        plugin_pages=.build/plugins/GenerateManual/outputs
    else
        echo "install: the generate-manual plugin failed; making the pages with scripts/manpage.py" >&2
    fi
fi
for product in flowctl flowctl-sandbox; do
    if [ -n "$plugin_pages" ] && [ -f "$plugin_pages/$product/$product.1" ]; then
        install -m 0644 "$plugin_pages/$product/$product.1" "$man_dir/$product.1"
    else
        tmp="$(mktemp)"
        python3 scripts/manpage.py "$from/$product" >"$tmp"
        install -m 0644 "$tmp" "$man_dir/$product.1"
        rm -f "$tmp"
    fi
done

"$from/flowctl" --generate-completion-script bash >"$bash_dir/flowctl"
"$from/flowctl" --generate-completion-script zsh >"$zsh_dir/_flowctl"
"$from/flowctl" --generate-completion-script fish >"$fish_dir/flowctl.fish"

echo "install: flowctl and flowctl-sandbox in $prefix/bin, their man pages in $man_dir," >&2
echo "install: completions in $bash_dir, $zsh_dir and $fish_dir" >&2
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "install: add $prefix/bin to your PATH" >&2 ;; esac
